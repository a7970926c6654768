"""One config run as several processes that share its streams (``runtime.processes``).

A process's Python threads (ingest pumps, inference, tracking and analytics)
share one GIL, and at 100+ live 1080p streams on one GPU they, not the GPU,
are the limit. Each shard is a whole :class:`~visionflow.pipeline.Pipeline`
in a process of its own (spawned: CUDA cannot be forked) on a round-robin
share of the sources, with its own model copy and, on the GPU, CUDA context.

Each shard writes into ``<output.dir>/shard-<i>/`` (``events.jsonl``, broker
spools, videos); a JSON Lines publisher with an explicit path writes to
``<stem>-shard<i><suffix>``. Analytics entries and publishers that name
streams keep, in each shard, only that shard's streams (and are left out of a
shard that has none of them). The summaries of the shards are added up into
one :class:`RunSummary`; a shard that fails or dies is reported in its
``error``, the others still finish.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from visionflow.config import PipelineConfig
from visionflow.pipeline.gpu_memory import GpuMemory
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.summary import RunSummary

log = logging.getLogger(__name__)

_ANALYTICS_KINDS = ("roi", "lines", "zones", "directions")
_POLL_S = 0.5

_Item = TypeVar("_Item")


def shard_configs(config: PipelineConfig) -> list[PipelineConfig]:
    """The config of each process: sources ``i, i + k, i + 2k, ...`` go to shard ``i``.

    ``k`` is ``runtime.processes``, at most one process per source.
    """
    count = min(config.runtime.processes, len(config.sources))
    return [_shard(config, i, count) for i in range(count)]


def _shard(config: PipelineConfig, index: int, count: int) -> PipelineConfig:
    sources = config.sources[index::count]
    ids = {s.id for s in sources}
    analytics = config.analytics.model_copy(
        update={kind: _only(getattr(config.analytics, kind), ids) for kind in _ANALYTICS_KINDS}
    )
    publishers = [_own_path(p, index) for p in _only(config.events.publishers, ids)]
    spool = config.events.spool_dir
    events = config.events.model_copy(
        update={
            "publishers": publishers,
            "spool_dir": None if spool is None else spool / f"shard-{index}",
        }
    )
    return config.model_copy(
        update={
            "sources": sources,
            "analytics": analytics,
            "events": events,
            "output": config.output.model_copy(
                update={"dir": config.output.dir / f"shard-{index}"}
            ),
            "runtime": config.runtime.model_copy(update={"processes": 1}),
        }
    )


def _only(items: Sequence[_Item], ids: set[str]) -> list[_Item]:
    """Items for every stream as they are; items naming streams cut to ``ids`` (or left out)."""
    kept = []
    for item in items:
        streams = getattr(item, "streams", None)
        if streams is None:
            kept.append(item)
        elif mine := [s for s in streams if s in ids]:
            kept.append(item.model_copy(update={"streams": mine}))  # type: ignore[attr-defined]
    return kept


def _own_path(publisher: _Item, index: int) -> _Item:
    path = getattr(publisher, "path", None)
    if not isinstance(path, Path):
        return publisher
    own = path.with_name(f"{path.stem}-shard{index}{path.suffix}")
    return publisher.model_copy(update={"path": own})  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class _Report:
    index: int
    summary: RunSummary | None
    error: str | None


@dataclass(frozen=True)
class ShardProgress:
    """Where one process of a sharded run stands (sent every :data:`PROGRESS_S`)."""

    index: int
    frames: int
    """Frames processed so far, all its streams."""
    expected_frames: int | None
    """Frames its files hold in all (``None`` when a stream has no known end)."""


PROGRESS_S = 1.0
ProgressCallback = Callable[[list[ShardProgress]], None]


class ShardedRun:
    """Runs the shards of ``config`` in processes; :meth:`stop` asks them all to stop.

    Args:
        config: the whole run's config (``runtime.processes`` > 1 to be useful).
        on_progress: called in this process with the latest progress of every
            process that has sent one, each time one does.
    """

    def __init__(self, config: PipelineConfig, on_progress: ProgressCallback | None = None) -> None:
        self.config = config
        self.on_progress = on_progress
        self.shards = shard_configs(config)
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[Any] = []
        self._stopping = False
        self._progress: dict[int, ShardProgress] = {}

    def run(self) -> RunSummary:
        """Start every shard, wait for all of them and add their summaries up."""
        reports: Any = self._context.Queue()
        level = logging.getLogger().getEffectiveLevel()
        with _children_ignore_ctrl_c():
            for index, shard in enumerate(self.shards):
                process = self._context.Process(
                    target=_shard_main,
                    args=(shard, index, reports, level),
                    name=f"visionflow-shard-{index}",
                )
                process.start()
                self._processes.append(process)
        if self._stopping:  # stopped while the processes were starting
            self.stop()
        collected = self._collect(reports)
        for process in self._processes:
            process.join()
        return merge_summaries([collected[i] for i in range(len(self.shards))])

    def stop(self) -> None:
        """Ask every shard to stop cleanly (SIGTERM; each finalises its outputs)."""
        self._stopping = True
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    def _collect(self, reports: Any) -> dict[int, RunSummary]:
        """Every shard's summary; a shard that ended without one is reported as failed.

        A report is in the queue before its process exits (the queue is flushed
        at exit), so once every process has ended, one last drain finds them all.
        """
        collected: dict[int, RunSummary] = {}
        while len(collected) < len(self._processes):
            try:
                self._take(reports.get(timeout=_POLL_S), collected)
            except queue.Empty:
                if not any(p.is_alive() for p in self._processes):
                    break
        with contextlib.suppress(queue.Empty):
            while len(collected) < len(self._processes):
                self._take(reports.get(timeout=_POLL_S), collected)
        self._progress.clear()
        for index, process in enumerate(self._processes):
            if index not in collected:
                log.error("shard %d exited with code %s", index, process.exitcode)
                collected[index] = _failed(f"exited with code {process.exitcode} before reporting")
        return collected

    def _take(self, message: _Report | ShardProgress, collected: dict[int, RunSummary]) -> None:
        if isinstance(message, ShardProgress):
            self._progress[message.index] = message
            if self.on_progress is not None:
                self.on_progress(sorted(self._progress.values(), key=lambda p: p.index))
            return
        summary = message.summary
        collected[message.index] = summary if summary is not None else _failed(message.error or "")


def _failed(error: str) -> RunSummary:
    return RunSummary(streams=[], wall_s=0.0, frames=0, stats=LatencyStats(), error=error)


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started inside start with SIGINT ignored (kept across exec) until their own
    handler is in place: a Ctrl-C while one imports must not end it with a traceback. The
    parent's own handler asks them to stop instead (SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _shard_main(config: PipelineConfig, index: int, reports: Any, log_level: int) -> None:
    """A shard's process: run its pipeline, stop on SIGINT/SIGTERM, report the summary."""
    asked: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):  # until the pipeline exists: remember
        signal.signal(sig, lambda signum, _frame: asked.append(signum))
    from visionflow.pipeline.runtime import Pipeline

    logging.basicConfig(level=log_level, format=f"[shard {index}] %(levelname)s %(message)s")
    try:
        pipeline = Pipeline(config)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: pipeline.stop())
        if asked:
            pipeline.stop()
        summary = _run_reporting(pipeline, index, reports)
    except Exception as exc:  # the parent reports it with the other shards' results
        log.exception("shard %d failed", index)
        reports.put(_Report(index, None, f"{type(exc).__name__}: {exc}"))
        return
    reports.put(_Report(index, summary, None))


def _run_reporting(pipeline: Any, index: int, reports: Any) -> RunSummary:
    """``pipeline.run()``, sending its progress every :data:`PROGRESS_S` meanwhile."""
    pipeline.start()
    try:
        while not pipeline.wait(PROGRESS_S):
            statuses = list(pipeline.streams.values())
            expected = [s.expected_frames for s in statuses]
            reports.put(
                ShardProgress(
                    index,
                    sum(s.frames_processed for s in statuses),
                    None if not all(expected) else sum(expected),
                )
            )
    finally:
        pipeline.close()
    summary: RunSummary = pipeline.summary()
    return summary


def merge_summaries(parts: Sequence[RunSummary]) -> RunSummary:
    """One summary of shards that ran side by side (their streams are disjoint).

    Frames, events and CPU add up; the wall time is the longest shard's;
    latencies pool every shard's samples; publishers and sink threads are
    named per shard (``jsonl (shard 1)``); GPU memory: see :func:`_gpu_memory`.
    """
    stats = LatencyStats()
    for part in parts:
        stats.absorb(part.stats)
    errors = [f"shard {i}: {p.error}" for i, p in enumerate(parts) if p.error]
    return RunSummary(
        streams=[s for p in parts for s in p.streams],
        wall_s=max((p.wall_s for p in parts), default=0.0),
        frames=sum(p.frames for p in parts),
        stats=stats,
        line_counts={k: v for p in parts for k, v in p.line_counts.items()},
        zone_counts={k: v for p in parts for k, v in p.zone_counts.items()},
        events_written=sum(p.events_written for p in parts),
        delivery=_per_shard(p.delivery for p in parts),
        interrupted=any(p.interrupted for p in parts),
        error="; ".join(errors) or None,
        batches=sum(p.batches for p in parts),
        process_cpu_s=sum(p.process_cpu_s for p in parts),
        sink_cpu_s=_per_shard(p.sink_cpu_s for p in parts),
        removed_streams=sum(p.removed_streams for p in parts),
        gpu_memory=_gpu_memory([p.gpu_memory for p in parts]),
    )


def _per_shard(maps: Any) -> dict[str, Any]:
    return {f"{name} (shard {i})": v for i, m in enumerate(maps) for name, v in m.items()}


def _gpu_memory(parts: list[GpuMemory | None]) -> GpuMemory | None:
    """The run's device memory from the processes' readings.

    Each process reads the whole device's used memory (NVDEC surfaces are not
    torch's), so processes running side by side each see the others' memory
    too: their totals must not be added up. The largest total is the whole
    device's growth since the earliest start. What the models took cannot be
    told apart from the streams (on an H200, 3 processes read 8.6 GB or more
    each for a 2.8 GB model), so ``model_mib`` is ``None`` for several.
    """
    known = [m for m in parts if m is not None]
    if len(known) <= 1:
        return known[0] if known else None
    return GpuMemory(
        total_mib=max(m.total_mib for m in known),
        model_mib=None,
        streams=sum(m.streams for m in known),
    )


__all__ = ["PROGRESS_S", "ShardProgress", "ShardedRun", "merge_summaries", "shard_configs"]
