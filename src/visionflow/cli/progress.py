"""A rich progress display that polls a running pipeline (or follows a sharded run)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from visionflow.pipeline import Pipeline, RunSummary, ShardedRun
from visionflow.pipeline.shards import ShardProgress

_POLL_S = 0.2


def run_with_progress(pipeline: Pipeline, console: Console, *, quiet: bool) -> RunSummary:
    """Start ``pipeline``, show per-stream progress until it ends, return the summary."""
    pipeline.start()
    try:
        if quiet:
            pipeline.wait()
        else:
            _poll(pipeline, console)
    finally:
        pipeline.close()
    return pipeline.summary()


def _poll(pipeline: Pipeline, console: Console) -> None:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:>6.1f} fps"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {
            sid: bar.add_task(sid, total=s.expected_frames or None, fps=0.0, counts="")
            for sid, s in pipeline.streams.items()
        }
        while not pipeline.wait(_POLL_S):
            _refresh(bar, tasks, pipeline)
        _refresh(bar, tasks, pipeline)


def _refresh(bar: Progress, tasks: dict[str, TaskID], pipeline: Pipeline) -> None:
    summary = pipeline.summary()
    for status in summary.streams:
        fps = status.frames_processed / summary.wall_s if summary.wall_s else 0.0
        counts = _counts_text(summary, status.stream_id)
        if status.live and status.state != "streaming":
            counts = f"[yellow]{status.state}[/yellow] {counts}"
        total = status.expected_frames or None
        if status.stream_id not in tasks:  # added while running
            tasks[status.stream_id] = bar.add_task(
                status.stream_id, total=total, fps=0.0, counts=""
            )
        bar.update(
            tasks[status.stream_id],
            completed=status.frames_processed,
            total=total,
            fps=fps,
            counts=counts,
        )


def _counts_text(summary: RunSummary, stream_id: str) -> str:
    parts = []
    for name, directions in summary.line_counts.get(stream_id, {}).items():
        totals = "/".join(f"{d} {sum(c.values())}" for d, c in directions.items())
        parts.append(f"{name}: {totals}")
    for name, zone in summary.zone_counts.get(stream_id, {}).items():
        parts.append(f"{name}: {sum(zone.get('occupancy', {}).values())} inside")
    return "  ".join(parts)


def run_sharded_with_progress(sharded: ShardedRun, console: Console, *, quiet: bool) -> RunSummary:
    """Run ``sharded`` showing one bar for all its processes: frames, fps, processes reporting."""
    if quiet:
        return sharded.run()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:>7.1f} fps"),
        TimeElapsedColumn(),
    )
    count = len(sharded.shards)
    streams = sum(len(shard.sources) for shard in sharded.shards)
    began = time.monotonic()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{streams} streams, {count} processes", total=None, fps=0.0)

        def show(progress: list[ShardProgress]) -> None:
            frames = sum(p.frames for p in progress)
            expected = [p.expected_frames for p in progress]
            known = len(progress) == count and all(e is not None for e in expected)
            total = sum(e for e in expected if e is not None) if known else None
            elapsed = time.monotonic() - began
            bar.update(task, completed=frames, total=total, fps=frames / max(elapsed, 1e-9))

        sharded.on_progress = show
        summary = sharded.run()
        bar.update(task, completed=summary.frames, fps=summary.fps)  # the last frames too
    return summary
