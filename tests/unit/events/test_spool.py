"""Spool: FIFO order, ack, reopen, crash safety (SIGKILL), cap policies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _fakes import items

from visionflow.errors import PipelineStateError
from visionflow.events import Spool


@pytest.mark.parametrize("batches", [[5], [1, 1, 1], [3, 0, 4], [100, 250]])
def test_peek_returns_events_in_append_order(tmp_path: Path, batches: list[int]) -> None:
    with Spool(tmp_path / "s.sqlite3") as spool:
        sent = []
        for n in batches:
            batch = items(n, start=len(sent))
            assert spool.append(batch) == n
            sent += batch
        records = spool.peek(10_000)
        assert len(spool) == len(sent)
    assert [(r.stream_id, r.event_id, r.event_type, r.payload) for r in records] == sent
    assert [r.seq for r in records] == sorted({r.seq for r in records})


def test_peek_does_not_remove_and_ack_deletes_up_to_seq(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite3") as spool:
        spool.append(items(10))
        first = spool.peek(4)
        assert [r.event_id for r in spool.peek(4)] == [r.event_id for r in first]
        spool.ack(first[-1].seq)
        assert len(spool) == 6
        assert [r.event_id for r in spool.peek(100)] == [f"e{i}" for i in range(4, 10)]
        spool.ack(first[-1].seq)  # acking again is harmless
        assert len(spool) == 6


def test_reopen_after_close_keeps_pending_events_and_sequence(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Spool(path) as spool:
        spool.append(items(5))
        spool.ack(spool.peek(2)[-1].seq)
        last_seq = spool.peek(10)[-1].seq
    with Spool(path) as spool:
        assert len(spool) == 3
        spool.append(items(1, start=5))
        records = spool.peek(10)
    assert [r.event_id for r in records] == ["e2", "e3", "e4", "e5"]
    assert records[-1].seq > last_seq


def test_close_is_idempotent_and_use_after_close_raises(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.close()
    spool.close()
    assert spool.closed
    for call in (lambda: spool.append(items(1)), lambda: spool.peek(1), lambda: spool.ack(1)):
        with pytest.raises(PipelineStateError, match="closed"):
            call()


def test_uses_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    Spool(tmp_path / "s.sqlite3").close()
    conn = sqlite3.connect(tmp_path / "s.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from visionflow.events import Spool
    spool = Spool(Path(sys.argv[1]))
    n = 0
    while True:
        spool.append([("cam0", f"e{n + i}", "counts", b"{}") for i in range(10)])
        n += 10
        print(n, flush=True)
    """
)


def test_every_committed_event_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    committed = 0
    for line in child.stdout:
        committed = int(line)
        if committed >= 200:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    with Spool(path) as spool:
        ids = [r.event_id for r in spool.peek(1_000_000)]
    assert len(ids) >= committed
    assert ids == [f"e{i}" for i in range(len(ids))]  # in order, no gap


@pytest.mark.parametrize(
    ("overflow", "appends", "kept", "dropped", "stored"),
    [
        ("drop_oldest", [4, 4], ["e3", "e4", "e5", "e6", "e7"], 3, [4, 4]),
        ("reject_new", [4, 4], ["e0", "e1", "e2", "e3", "e4"], 3, [4, 1]),
        ("drop_oldest", [8], ["e3", "e4", "e5", "e6", "e7"], 3, [5]),
        ("reject_new", [8], ["e0", "e1", "e2", "e3", "e4"], 3, [5]),
        ("drop_oldest", [5], ["e0", "e1", "e2", "e3", "e4"], 0, [5]),
    ],
)
def test_cap_policies_count_what_they_discard(  # noqa: PLR0917 (one table row)
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    overflow: str,
    appends: list[int],
    kept: list[str],
    dropped: int,
    stored: list[int],
) -> None:
    path = tmp_path / "s.sqlite3"
    caplog.set_level(logging.WARNING, "visionflow.events.spool")
    with Spool(path, max_events=5, overflow=overflow) as spool:  # type: ignore[arg-type]
        start = 0
        got = []
        for n in appends:
            got.append(spool.append(items(n, start=start)))
            start += n
        assert got == stored
        assert [r.event_id for r in spool.peek(100)] == kept
        assert (len(spool), spool.dropped) == (5, dropped)
    warnings = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(warnings) == (1 if dropped else 0)
    with Spool(path, max_events=5) as spool:
        assert spool.dropped == dropped  # persisted


def test_drop_oldest_makes_room_after_acks(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite3", max_events=3) as spool:
        spool.append(items(3))
        spool.ack(spool.peek(2)[-1].seq)
        spool.append(items(2, start=3))
        assert spool.dropped == 0
        assert [r.event_id for r in spool.peek(10)] == ["e2", "e3", "e4"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_events": 0}, "max_events"), ({"overflow": "drop_newest"}, "overflow")],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Spool(tmp_path / "s.sqlite3", **kwargs)  # type: ignore[arg-type]
