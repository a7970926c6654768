"""JsonlPublisher: one valid JSON object per line, flushed per publish, safe lifecycle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _event_samples import sample_events

from visionflow.errors import OutputError, PipelineStateError
from visionflow.events import JsonlPublisher, PublisherState, parse_event


def read_lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines()


@pytest.mark.parametrize("batches", [[4], [1, 1, 1], [2, 0, 3]])
def test_writes_one_valid_json_line_per_event(tmp_path: Path, batches: list[int]) -> None:
    path = tmp_path / "nested" / "dir" / "events.jsonl"
    sent = []
    with JsonlPublisher(path) as publisher:
        for n in batches:
            events = list(sample_events().values())[:n]
            publisher.publish(events)
            sent += events
        assert publisher.events_written == sum(batches)
    lines = read_lines(path)
    assert [parse_event(line) for line in lines] == sent
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_each_publish_is_flushed_before_close(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    publisher = JsonlPublisher(path, fsync_on_close=False)
    publisher.publish([sample_events()["counts"]])
    assert len(read_lines(path)) == 1
    publisher.publish(list(sample_events().values()))
    assert len(read_lines(path)) == 1 + len(sample_events())
    publisher.close()


def test_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for _ in range(2):
        with JsonlPublisher(path) as publisher:
            publisher.publish([sample_events()["zone_exited"]])
    assert len(read_lines(path)) == 2


def test_close_twice_is_safe_and_publish_after_close_raises(tmp_path: Path) -> None:
    publisher = JsonlPublisher(tmp_path / "events.jsonl")
    assert publisher.state is PublisherState.OPEN
    publisher.close()
    publisher.close()
    assert publisher.state is PublisherState.CLOSED
    with pytest.raises(PipelineStateError, match="closed"):
        publisher.publish([sample_events()["counts"]])


def test_unwritable_directory_raises_output_error_with_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = blocker / "events.jsonl"
    with pytest.raises(OutputError, match=re.escape(str(path))) as info:
        JsonlPublisher(path)
    assert info.value.filename == str(path)
    assert isinstance(info.value, OSError)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_write_failure_raises_output_error() -> None:
    publisher = JsonlPublisher("/dev/full", fsync_on_close=False)
    with pytest.raises(OutputError, match="/dev/full"):
        publisher.publish(list(sample_events().values()))
    assert publisher.events_written == 0
    with pytest.raises(OutputError):
        publisher.close()
    assert publisher.state is PublisherState.CLOSED
