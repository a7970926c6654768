"""Rich renderings of run summaries for the CLI."""

from __future__ import annotations

from rich.table import Table

from visionflow.pipeline import RunSummary


def summary_tables(summary: RunSummary) -> list[Table]:
    """Tables for streams, per-stage latency and counts."""
    tables = [_streams_table(summary), _latency_table(summary)]
    if summary.line_counts or summary.zone_counts:
        tables.append(_counts_table(summary))
    if summary.delivery:
        tables.append(_delivery_table(summary))
    return tables


def _delivery_table(summary: RunSummary) -> Table:
    table = Table(title="event delivery")
    for col in ("publisher", "delivered", "pending", "dropped", "retries", "connected"):
        table.add_column(col, justify="left" if col == "publisher" else "right")
    for name, s in summary.delivery.items():
        connected = "[green]yes[/green]" if s.connected else "[red]no[/red]"
        if s.last_error and not s.connected:
            connected += f" ({s.last_error})"
        pending = f"[yellow]{s.pending}[/yellow]" if s.pending else "0"
        dropped = f"[red]{s.dropped}[/red]" if s.dropped else "0"
        table.add_row(name, str(s.delivered), pending, dropped, str(s.retries), connected)
    return table


def _streams_table(summary: RunSummary) -> Table:
    title = f"{summary.frames} frames in {summary.wall_s:.1f} s = {summary.fps:.1f} fps"
    if summary.interrupted:
        title += " (interrupted)"
    memory = summary.gpu_memory
    if memory is not None and memory.model_mib is not None:
        title += (
            f"; GPU memory {memory.total_mib:.0f} MiB: model {memory.model_mib:.0f}, "
            f"{memory.per_stream_mib:.0f} per stream"
        )
    elif memory is not None:  # processes side by side: one device-wide figure
        title += f"; GPU memory {memory.total_mib:.0f} MiB (all processes)"
    table = Table(title=title)
    live = any(s.live for s in summary.streams)
    columns = ["stream", "frames", "corrupt packets"]
    if live:
        columns += ["dropped", "reconnects", "age p50 ms", "age p99 ms"]
    for col in [*columns, "status"]:
        table.add_column(col, justify="right" if col != "status" else "left")
    for s in summary.streams:
        status = f"[red]failed: {s.error}[/red]" if s.error else "[green]ok[/green]"
        cells = [s.stream_id, str(s.frames_processed), str(s.corrupt_packets)]
        if live:
            dropped = s.dropped_frames + s.source_dropped
            cells += [
                f"[yellow]{dropped}[/yellow]" if dropped else "0",
                str(s.reconnects),
                f"{s.frame_age_p50_ms:.0f}",
                f"{s.frame_age_p99_ms:.0f}",
            ]
        table.add_row(*cells, status)
    return table


def _latency_table(summary: RunSummary) -> Table:
    mean_batch = summary.frames / summary.batches if summary.batches else 0.0
    table = Table(
        title="per-stage latency per frame (ms)",
        caption=(
            "preprocess … analytics run per batch: a frame's latency is its batch's time "
            f"(mean batch {mean_batch:.1f} frames)"
        ),
    )
    for col in ("stage", "samples", "p50", "p90", "p99", "max"):
        table.add_column(col, justify="right")
    for s in summary.stats.summary():
        table.add_row(
            s.stage, str(s.samples), *(f"{v:.2f}" for v in (s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms))
        )
    return table


def _counts_table(summary: RunSummary) -> Table:
    table = Table(title="counts")
    for col in ("stream", "kind", "name", "counts"):
        table.add_column(col)
    for stream, lines in summary.line_counts.items():
        for name, directions in lines.items():
            table.add_row(stream, "line", name, _fmt_nested(directions))
    for stream, zones in summary.zone_counts.items():
        for name, occupancy in zones.items():
            text = ", ".join(f"{k}={v}" for k, v in occupancy.items()) or "empty"
            table.add_row(stream, "zone (now / entered)", name, text)
    return table


def _fmt_nested(directions: dict[str, dict[str, int]]) -> str:
    parts = []
    for direction, per_class in directions.items():
        total = sum(per_class.values())
        detail = ", ".join(f"{k} {v}" for k, v in per_class.items())
        parts.append(f"{direction} {total}" + (f" ({detail})" if detail else ""))
    return " / ".join(parts)
