"""The CLI summary shows one delivery row per publisher."""

from __future__ import annotations

import io

from rich.console import Console

from visionflow.cli.render import summary_tables
from visionflow.events import DeliveryStats
from visionflow.pipeline import LatencyStats, RunSummary


def test_delivery_table_lists_every_publisher() -> None:
    summary = RunSummary(
        streams=[],
        wall_s=1.0,
        frames=0,
        stats=LatencyStats(),
        delivery={
            "jsonl": DeliveryStats(delivered=12, connected=True),
            "redis": DeliveryStats(
                delivered=3, pending=9, dropped=2, retries=4, last_error="PublishError: down"
            ),
        },
    )
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    for table in summary_tables(summary):
        console.print(table)
    text = out.getvalue()
    assert "event delivery" in text
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in text.splitlines()
        if "jsonl" in line or "redis" in line
    ]
    assert rows == [
        ["jsonl", "12", "0", "0", "0", "yes"],
        ["redis", "3", "9", "2", "4", "no (PublishError: down)"],
    ]
