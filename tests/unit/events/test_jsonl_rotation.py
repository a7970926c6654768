"""JsonlPublisher rotation by size and by age: events.<n>.jsonl, nothing lost or split."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from _event_samples import sample_events

from visionflow.events import JsonlPublisher, parse_event
from visionflow.events import jsonl as jsonl_module

EVENT = sample_events()["line_crossed"]
LINE_BYTES = len(EVENT.model_dump_json()) + 1


def all_events(directory: Path) -> list[str]:
    files = sorted(directory.glob("events.*.jsonl"), key=lambda p: int(p.name.split(".")[1]))
    ids = []
    for path in [*files, directory / "events.jsonl"]:
        ids += [parse_event(line).event_id for line in path.read_text().splitlines()]
    return ids


@pytest.mark.parametrize(
    ("per_file", "batches", "files"),
    [(3, [1] * 7, 3), (2, [2, 2, 2], 3), (10, [4], 1), (1, [3, 1], 2)],
)
def test_rotates_by_size_without_splitting_a_publish(
    tmp_path: Path, per_file: int, batches: list[int], files: int
) -> None:
    path = tmp_path / "events.jsonl"
    sent = []
    with JsonlPublisher(path, rotate_bytes=per_file * LINE_BYTES) as publisher:
        for n in batches:
            events = [
                EVENT.model_copy(update={"event_id": f"{len(sent) + i:032x}"}) for i in range(n)
            ]
            publisher.publish(events)
            sent += [e.event_id for e in events]
    assert len(list(tmp_path.glob("events*.jsonl"))) == files
    assert all_events(tmp_path) == sent
    for rotated in tmp_path.glob("events.*.jsonl"):
        assert rotated.stat().st_size <= max(per_file, *batches) * LINE_BYTES


def test_rotates_by_age(tmp_path: Path) -> None:
    now = [1000.0]
    with mock.patch.object(jsonl_module.time, "monotonic", lambda: now[0]):
        publisher = JsonlPublisher(tmp_path / "events.jsonl", rotate_seconds=60)
        publisher.publish([EVENT])
        now[0] += 59
        publisher.publish([EVENT])
        now[0] += 1
        publisher.publish([EVENT])
        publisher.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.1.jsonl", "events.jsonl"]
    assert len((tmp_path / "events.1.jsonl").read_text().splitlines()) == 2


def test_numbering_continues_after_existing_rotations(tmp_path: Path) -> None:
    (tmp_path / "events.4.jsonl").write_text("")
    (tmp_path / "events.20250101-120000.jsonl").write_text("")  # a kept earlier run
    with JsonlPublisher(tmp_path / "events.jsonl", rotate_bytes=LINE_BYTES) as publisher:
        publisher.publish([EVENT])
        publisher.publish([EVENT])
    assert (tmp_path / "events.5.jsonl").is_file()


def test_publish_payloads_writes_lines(tmp_path: Path) -> None:
    with JsonlPublisher(tmp_path / "e.jsonl") as publisher:
        publisher.publish_payloads([b'{"a":1}', b'{"b":2}'])
        assert publisher.events_written == 2
    assert (tmp_path / "e.jsonl").read_text() == '{"a":1}\n{"b":2}\n'
