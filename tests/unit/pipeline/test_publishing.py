"""Pipeline wiring of events: router from config, lazy broker imports, stream events."""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from visionflow.config import PipelineConfig, parse_config
from visionflow.errors import MissingDependencyError
from visionflow.events import (
    CountsEvent,
    LineCrossedEvent,
    Record,
    StreamStateEvent,
    StreamStatsEvent,
)
from visionflow.pipeline import StreamStatus, publishing
from visionflow.pipeline.stream_events import StreamReporter


def config(tmp_path: Path, events: dict[str, object]) -> PipelineConfig:
    data = {
        "sources": [{"id": "cam0", "uri": "x"}, {"id": "cam1", "uri": "y"}],
        "model": {"cfg": "a", "weights": "b", "names": "c"},
        "output": {"dir": str(tmp_path)},
        "events": events,
    }
    return parse_config(yaml.safe_dump(data))


class _Recorder:
    sent: ClassVar[list[Record]] = []

    def __init__(self, cfg: object) -> None:
        self.name = getattr(cfg, "publisher_name", "x")

    def connect(self) -> None:
        pass

    def send(self, records: Sequence[Record]) -> None:
        _Recorder.sent.extend(records)

    def close(self) -> None:
        pass


def test_router_from_config_routes_to_jsonl_and_brokers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("fake_redis_publisher")
    module.RedisPublisher = _Recorder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_redis_publisher", module)
    monkeypatch.setitem(publishing._BROKERS, "redis", ("fake_redis_publisher", "RedisPublisher"))
    cfg = config(tmp_path, {"publishers": [{"type": "redis", "streams": ["cam1"]}]})
    router = publishing.build_router(cfg)
    router.start()
    fields: dict[str, Any] = {
        "frame_number": 1,
        "pts_seconds": 0.0,
        "track_id": 1,
        "class_id": 0,
        "class_name": "person",
        "line": "l",
        "direction": "in",
        "confidence": 0.5,
        "bbox_xyxy": [0.0, 0.0, 1.0, 1.0],
    }
    router.publish([LineCrossedEvent(stream_id=s, **fields) for s in ("cam0", "cam1")])
    router.close(5.0)
    assert router.names == ["jsonl", "redis"]
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 2
    assert [r.stream_id for r in _Recorder.sent] == ["cam1"]
    assert (tmp_path / "spool" / "redis.sqlite3").is_file()
    assert set(router.stats()) == {"jsonl", "redis"}


def test_missing_broker_library_is_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(publishing._BROKERS, "mqtt", ("visionflow_no_such_module", "X"))
    cfg = config(tmp_path, {"publishers": [{"type": "mqtt"}]})
    with pytest.raises(MissingDependencyError, match=r"publishers\[0\].*visionflow\[brokers\]"):
        publishing.build_router(cfg)


def test_previous_events_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text("{}\n")
    publishing.build_router(config(tmp_path, {})).close()
    assert len(list(tmp_path.glob("events.*.jsonl"))) == 1


def statuses() -> dict[str, StreamStatus]:
    return {
        "ok": StreamStatus("ok", frames_decoded=10, frames_processed=10, last_frame_number=9),
        "bad": StreamStatus("bad", error="cannot open"),
    }


def test_stream_reporter_lifecycle() -> None:
    now = [0.0]
    streams = statuses()
    reporter = StreamReporter(
        lambda: streams,
        stats_interval_s=5.0,
        clock=lambda: now[0],
        on_end=lambda sid: [
            CountsEvent(stream_id=sid, frame_number=9, pts_seconds=0.3, lines={}, zones={})
        ],
    )
    started = reporter.started()
    assert [(e.stream_id, e.previous_state, e.state, e.reason) for e in started] == [  # type: ignore[union-attr]
        ("ok", "new", "running", None),
        ("bad", "new", "failed", "cannot open"),
    ]
    assert reporter.tick() == []
    now[0] = 5.0
    stats = reporter.tick()
    assert len(stats) == 1 and isinstance(stats[0], StreamStatsEvent)
    assert (stats[0].fps, stats[0].frames_processed, stats[0].frame_number) == (2.0, 10, 9)
    streams["ok"].finished = True
    ended = reporter.tick()
    assert [(e.type, e.state if isinstance(e, StreamStateEvent) else None) for e in ended] == [
        ("stream_stats", None),
        ("counts", None),
        ("stream_state", "finished"),  # always the stream's last event
    ]
    assert [e.type for e in reporter.final()] == []  # nothing running any more


@pytest.mark.parametrize(
    ("error", "stopped", "state"),
    [(None, False, "finished"), (None, True, "stopped"), ("boom", False, "failed")],
)
def test_final_state(error: str | None, stopped: bool, state: str) -> None:
    streams = {"s": StreamStatus("s", error=None)}
    reporter = StreamReporter(lambda: streams, stats_interval_s=0.0)
    reporter.started()
    streams["s"].error, streams["s"].stopped = error, stopped
    final = reporter.final()
    assert len(final) == 1 and isinstance(final[0], StreamStateEvent)
    assert (final[0].previous_state, final[0].state, final[0].reason) == ("running", state, error)


def test_added_and_removed_streams_get_their_own_lifecycle() -> None:
    streams = {"a": StreamStatus("a")}
    reporter = StreamReporter(lambda: streams, stats_interval_s=0.0, is_drained=lambda sid: True)
    reporter.started()
    streams["b"] = StreamStatus("b")
    added = reporter.add("b")
    assert [(e.stream_id, e.state) for e in added] == [("b", "running")]  # type: ignore[union-attr]
    streams["b"].stopped = True
    removed = reporter.remove("b", "removed")
    assert [(e.stream_id, e.state, e.reason) for e in removed] == [("b", "stopped", "removed")]  # type: ignore[union-attr]
    del streams["b"]
    assert reporter.remove("b", "removed") == []  # twice is harmless
    assert [e.stream_id for e in reporter.final()] == ["a"]


def test_fresh_never_overwrites_an_earlier_runs_events(tmp_path: Path) -> None:
    from visionflow.pipeline.publishing import fresh

    path = tmp_path / "events.jsonl"
    for run in range(3):  # three runs within the same second
        assert fresh(path) == path
        path.write_text(f"run {run}\n")
    kept = sorted(p.read_text() for p in tmp_path.glob("events.*.jsonl"))
    assert kept == ["run 0\n", "run 1\n"]
    assert path.read_text() == "run 2\n"
