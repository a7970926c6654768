"""Splitting a config across processes and adding their summaries up (no processes run here;
tests/integration/test_shards.py runs them on the real clip)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from visionflow.config import PipelineConfig, validate_mapping
from visionflow.pipeline import LatencyStats, RunSummary, merge_summaries, shard_configs
from visionflow.pipeline.gpu_memory import GpuMemory

LINE = {"start": [0, 10], "end": [100, 10]}
ZONE = {"polygon": [[0, 0], [50, 0], [50, 50]]}


def _config(processes: int, sources: int = 5, **sections: object) -> PipelineConfig:
    mapping = {
        "sources": [{"id": f"cam{i}", "uri": f"/videos/{i}.mp4"} for i in range(sources)],
        "model": {"weights": "m.weights", "cfg": "m.cfg", "names": "m.names"},
        "output": {"dir": "out"},
        "runtime": {"processes": processes},
        **sections,
    }
    return validate_mapping(mapping)


def test_sources_go_round_robin_and_each_shard_writes_into_its_own_folder() -> None:
    shards = shard_configs(_config(2))
    assert [[s.id for s in c.sources] for c in shards] == [
        ["cam0", "cam2", "cam4"],
        ["cam1", "cam3"],
    ]
    assert [c.output.dir for c in shards] == [Path("out/shard-0"), Path("out/shard-1")]
    assert all(c.runtime.processes == 1 for c in shards)


def test_never_more_processes_than_sources() -> None:
    shards = shard_configs(_config(8, sources=3))
    assert [[s.id for s in c.sources] for c in shards] == [["cam0"], ["cam1"], ["cam2"]]


def test_analytics_and_publishers_naming_streams_keep_only_the_shards_streams() -> None:
    config = _config(
        2,
        analytics={
            "lines": [
                {"name": "everywhere", **LINE},
                {"name": "door", "streams": ["cam1", "cam2"], **LINE},
                {"name": "gate", "streams": ["cam3"], **LINE},
            ],
            "zones": [{"name": "yard", "streams": ["cam0"], **ZONE}],
        },
        events={
            "spool_dir": "/var/spool/vf",
            "publishers": [
                {"type": "jsonl", "path": "logs/events.jsonl"},
                {"type": "jsonl", "name": "c3", "path": "logs/cam3.jsonl", "streams": ["cam3"]},
            ],
        },
    )
    first, second = shard_configs(config)
    assert [(x.name, x.streams) for x in first.analytics.lines] == [
        ("everywhere", None),
        ("door", ["cam2"]),
    ]
    assert [(x.name, x.streams) for x in second.analytics.lines] == [
        ("everywhere", None),
        ("door", ["cam1"]),
        ("gate", ["cam3"]),
    ]
    assert [z.name for z in first.analytics.zones] == ["yard"] and not second.analytics.zones
    assert [p.path for p in first.events.publishers] == [Path("logs/events-shard0.jsonl")]
    assert [p.path for p in second.events.publishers] == [
        Path("logs/events-shard1.jsonl"),
        Path("logs/cam3-shard1.jsonl"),
    ]
    assert second.events.spool_dir == Path("/var/spool/vf/shard-1")
    for shard in (first, second):  # still a valid config: every stream it names exists
        PipelineConfig.model_validate(shard.model_dump(exclude_unset=True))


def _summary(streams: list[str], frames: int, preprocess_s: float, **extra: object) -> RunSummary:
    stats = LatencyStats()
    stats.add_many("preprocess", preprocess_s, frames)
    counts = {s: {"door": {"total": {"in": frames}}} for s in streams}
    return RunSummary(
        streams=[], wall_s=frames / 10, frames=frames, stats=stats, line_counts=counts, **extra
    )


def test_summaries_add_up_and_pool_their_latencies() -> None:
    first = _summary(["cam0"], 30, 0.002, events_written=5, gpu_memory=GpuMemory(1000.0, 300.0, 1))
    second = _summary(
        ["cam1", "cam3"], 10, 0.010, error="boom", gpu_memory=GpuMemory(1500.0, 340.0, 2)
    )
    merged = merge_summaries([first, second])
    assert (merged.frames, merged.wall_s, merged.events_written) == (40, 3.0, 5)
    assert set(merged.line_counts) == {"cam0", "cam1", "cam3"}
    assert merged.error == "shard 1: boom"
    (pre,) = merged.stats.summary()
    assert pre.samples == 40 and pre.p50_ms == pytest.approx(2.0) and pre.max_ms == 10.0
    # each process read the whole device, the other's memory included: not added up,
    # and the models cannot be told apart from the streams
    assert merged.gpu_memory == GpuMemory(1500.0, None, 3)
    assert merged.gpu_memory.per_stream_mib is None
    assert merge_summaries([first]).gpu_memory == GpuMemory(1000.0, 300.0, 1)


def test_latency_stats_cross_processes_by_pickle() -> None:
    stats = LatencyStats(window=50)
    stats.add_many("tracking", 0.004, 70)  # more than the window: the ring wrapped
    stats.add("tracking", 0.001)
    copy = pickle.loads(pickle.dumps(stats))
    np.testing.assert_array_equal(
        np.sort(copy.samples()["tracking"]), np.sort(stats.samples()["tracking"])
    )
    copy.add("tracking", 0.002)  # and it still works (its lock came back)
    assert copy.summary()[0].samples == 50
