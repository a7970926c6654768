"""EventRouter: filters, one serialisation per format, spooled and direct routes."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
from _event_samples import sample_events
from _fakes import FakePublisher

from visionflow.events import (
    DeliveryWorker,
    DirectRoute,
    Event,
    EventRouter,
    JsonlPublisher,
    RouteFilter,
    Spool,
    SpooledRoute,
    parse_event,
)
from visionflow.events import router as router_module

FAST = {"backoff_initial_s": 0.001, "backoff_max_s": 0.01}


N_TYPES = len(sample_events())  # one sample event per event type


def events_for(streams: list[str]) -> list[Event]:
    out: list[Event] = []
    for stream in streams:
        for event in sample_events().values():
            out.append(event.model_copy(update={"stream_id": stream}))
    return out


def spooled(tmp_path: Path, name: str, publisher: FakePublisher, **kw: object) -> SpooledRoute:
    spool = Spool(tmp_path / f"{name}.sqlite3")
    worker = DeliveryWorker(spool, publisher, **FAST)  # type: ignore[arg-type]
    return SpooledRoute(name, spool, worker, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event_types", "streams", "expected"),
    [
        (None, None, 2 * N_TYPES),  # every sample event of both streams
        (frozenset({"counts"}), None, 2),
        (None, frozenset({"b"}), N_TYPES),
        (frozenset({"line_crossed", "stream_state"}), frozenset({"a"}), 2),
        (frozenset({"zone_entered"}), frozenset({"nope"}), 0),
    ],
)
def test_filters_select_event_types_and_streams(
    tmp_path: Path,
    event_types: frozenset[str] | None,
    streams: frozenset[str] | None,
    expected: int,
) -> None:
    publisher = FakePublisher()
    route_filter = RouteFilter(event_types, streams)
    router = EventRouter()
    router.add(spooled(tmp_path, "broker", publisher, filter=route_filter))
    jsonl = JsonlPublisher(tmp_path / "events.jsonl")
    router.add(DirectRoute("file", jsonl, route_filter))
    router.start()
    events = events_for(["a", "b"])
    router.publish(events)
    router.close(5.0)
    wanted = [e for e in events if route_filter.accepts(e)]
    assert len(wanted) == expected
    assert [r.event_id for r in publisher.sent] == [e.event_id for e in wanted]
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [parse_event(line) for line in lines] == wanted
    stats = router.stats()
    assert (stats["broker"].delivered, stats["file"].delivered) == (expected, expected)


def test_each_event_is_serialised_once_per_format(tmp_path: Path) -> None:
    router = EventRouter()
    for i, fmt in enumerate(["visionflow", "visionflow", "nvmsgconv_full", "nvmsgconv_full"]):
        router.add(spooled(tmp_path, f"r{i}", FakePublisher(f"r{i}"), format=fmt))
    router.add(DirectRoute("file", JsonlPublisher(tmp_path / "e.jsonl")))
    events = events_for(["a"])
    real = router_module.serialize
    with mock.patch.object(router_module, "serialize", side_effect=real) as spy:
        router.publish(events)
    router.close(0.0)
    assert spy.call_count == 2 * len(events)


def test_formats_reach_their_routes(tmp_path: Path) -> None:
    full, minimal = FakePublisher("full"), FakePublisher("minimal")
    router = EventRouter()
    router.add(spooled(tmp_path, "full", full, format="nvmsgconv_full"))
    router.add(spooled(tmp_path, "minimal", minimal, format="nvmsgconv_minimal"))
    router.add(DirectRoute("file", JsonlPublisher(tmp_path / "e.jsonl"), format="nvmsgconv_full"))
    router.start()
    router.publish(events_for(["a"]))
    router.close(5.0)
    assert [r.event_type for r in full.sent] == ["line_crossed", "zone_entered", "zone_exited"]
    assert all(set(json.loads(r.payload)) >= {"messageid", "object"} for r in full.sent)
    assert all("objects" in json.loads(r.payload) for r in minimal.sent)
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all("mdsversion" in json.loads(x) for x in lines)


def test_publish_never_waits_on_a_dead_broker(tmp_path: Path) -> None:
    publisher = FakePublisher(fail_sends=10**9)
    router = EventRouter()
    route = spooled(tmp_path, "dead", publisher)
    router.add(route)
    router.start()
    for _ in range(50):
        router.publish(events_for(["a"]))
    assert len(route.spool) == 50 * N_TYPES
    router.close(0.1)
    assert router.stats()["dead"].pending == 50 * N_TYPES
    assert route.spool.closed and publisher.closed == 1


def test_duplicate_route_names_are_rejected(tmp_path: Path) -> None:
    router = EventRouter()
    router.add(DirectRoute("x", JsonlPublisher(tmp_path / "a.jsonl")))
    with pytest.raises(ValueError, match="named 'x' exists"):
        router.add(spooled(tmp_path, "x", FakePublisher()))
    router.close()
    router.close()
