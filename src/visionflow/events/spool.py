"""A durable, bounded FIFO of serialised events on disk (SQLite in WAL mode).

The spool sits between the pipeline and a broker publisher: the pipeline's
events thread appends, the publisher's delivery thread peeks a batch, sends
it and acknowledges it. Events survive a crash of the process: each
:meth:`Spool.append` is one committed transaction, and with WAL and
``synchronous=NORMAL`` a committed transaction survives ``SIGKILL`` (only a
power loss or OS crash may lose the last few commits, in exchange for no
``fsync`` per append).

Cap policy: a spool holds at most ``max_events`` pending events. When an
append would exceed it, ``overflow`` decides which events are discarded:

- ``drop_oldest`` (default): the oldest pending events make room, so the
  broker gets the most recent data when it comes back.
- ``reject_new``: the new events are discarded, so history is kept intact.

Discarded events are counted in :attr:`Spool.dropped` (cumulative across
restarts: it is stored in the spool file) and a warning is logged the first
time the cap is hit in a process.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from visionflow.errors import OutputError, PipelineStateError
from visionflow.events.publishers.base import Record

log = logging.getLogger(__name__)

T = TypeVar("T")

Overflow = Literal["drop_oldest", "reject_new"]
SpoolItem = tuple[str, str, str, bytes]
"""``(stream_id, event_id, event_type, payload)``, what :meth:`Spool.append` takes."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, stream_id TEXT NOT NULL, "
    "event_id TEXT NOT NULL, event_type TEXT NOT NULL, payload BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class Spool:
    """A bounded FIFO of events in one SQLite file; thread-safe.

    Args:
        path: the SQLite file (created with its parent folder if needed).
        max_events: most pending events kept (see the module's cap policy).
        overflow: ``drop_oldest`` or ``reject_new``: which events the cap discards.

    Raises:
        OutputError: the file cannot be created or is not a spool.

    Example::

        spool = Spool(Path("out/spool/redis.sqlite3"), max_events=100_000)
        spool.append([("cam0", event.event_id, event.type, payload)])
        batch = spool.peek(500)
        ...  # send the batch
        spool.ack(batch[-1].seq)
    """

    def __init__(
        self,
        path: Path,
        *,
        max_events: int = 1_000_000,
        overflow: Overflow = "drop_oldest",
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        if overflow not in ("drop_oldest", "reject_new"):
            raise ValueError(f"overflow must be 'drop_oldest' or 'reject_new', got {overflow!r}")
        self.path = Path(path)
        self.max_events = max_events
        self.overflow: Overflow = overflow
        self._lock = threading.Lock()
        self._warned = False
        self._conn: sqlite3.Connection | None = self._guard("open", self._open)
        self._pending, self._dropped = self._guard("read", self._load_counts)
        if self._pending:
            log.info("spool %s: %d events pending from an earlier run", self.path, self._pending)

    @property
    def dropped(self) -> int:
        """Events discarded by the cap policy, cumulative (kept across restarts)."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._conn is None

    def __len__(self) -> int:
        """Number of pending (appended, not yet acknowledged) events."""
        return self._pending

    def append(self, items: Sequence[SpoolItem]) -> int:
        """Store ``items`` in order, in one transaction; return how many were stored.

        Fewer than ``len(items)`` are stored only under ``reject_new`` when the
        spool is full. Under ``drop_oldest`` every item is stored (the newest
        ``max_events`` of them if the batch alone exceeds the cap) and the
        oldest pending events are discarded to make room.

        Raises:
            PipelineStateError: the spool is closed.
            OutputError: the disk write failed.
        """
        if not items:
            return 0
        with self._lock:
            conn = self._connection()
            keep, drop_pending = self._plan(len(items))
            rows = items[len(items) - keep :] if self.overflow == "drop_oldest" else items[:keep]
            lost = len(items) - keep + drop_pending
            self._guard("write", lambda: self._write(conn, rows, drop_pending, lost))
            self._pending += keep - drop_pending
            if lost:
                self._dropped += lost
                self._warn_cap(lost)
            return keep

    def peek(self, limit: int) -> list[Record]:
        """Up to ``limit`` pending events, oldest first (they stay until :meth:`ack`)."""
        with self._lock:
            conn = self._connection()
            rows = self._guard(
                "read",
                lambda: conn.execute(
                    "SELECT seq, stream_id, event_id, event_type, payload FROM events "
                    "ORDER BY seq LIMIT ?",
                    (limit,),
                ).fetchall(),
            )
        return [
            Record(seq, sid, eid, etype, bytes(payload)) for seq, sid, eid, etype, payload in rows
        ]

    def ack(self, up_to_seq: int) -> None:
        """Delete every pending event with ``seq <= up_to_seq`` (they were delivered)."""
        with self._lock:
            conn = self._connection()

            def delete() -> int:
                with conn:
                    return conn.execute("DELETE FROM events WHERE seq <= ?", (up_to_seq,)).rowcount

            self._pending -= self._guard("write", delete)

    def close(self) -> None:
        """Checkpoint and close the file (idempotent); pending events stay for next time."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # the data is safe in the WAL anyway
                log.debug("spool %s: checkpoint failed: %s", self.path, exc)
            conn.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._pending} pending"
        return f"Spool({str(self.path)!r}, {state}, dropped={self._dropped})"

    # -- internals -------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the appending and the delivering thread,
        # serialised by self._lock; autocommit mode, explicit transactions.
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _load_counts(self) -> tuple[int, int]:
        conn = self._connection()
        (pending,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
        row = conn.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return int(pending), int(row[0]) if row else 0

    def _plan(self, n: int) -> tuple[int, int]:
        """``(new items to keep, oldest pending events to delete)`` under the cap."""
        if self.overflow == "reject_new":
            return min(n, max(0, self.max_events - self._pending)), 0
        keep = min(n, self.max_events)
        return keep, max(0, self._pending + keep - self.max_events)

    def _write(
        self, conn: sqlite3.Connection, rows: Sequence[SpoolItem], drop: int, lost: int
    ) -> None:
        with conn:  # one transaction: BEGIN ... COMMIT (ROLLBACK on error)
            conn.execute("BEGIN")
            if drop:
                conn.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
                    (drop,),
                )
            conn.executemany(
                "INSERT INTO events (stream_id, event_id, event_type, payload) VALUES (?, ?, ?, ?)",
                rows,
            )
            if lost:
                conn.execute(
                    "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (lost,),
                )

    def _warn_cap(self, lost: int) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "spool %s is full (max_events=%d, overflow=%s): discarded %d event(s); "
                "further discards are only counted (dropped)",
                self.path,
                self.max_events,
                self.overflow,
                lost,
            )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise PipelineStateError(f"Spool({str(self.path)!r}) is closed")
        return self._conn

    def _guard(self, action: str, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except sqlite3.Error as exc:
            raise OutputError(f"cannot {action} spool {str(self.path)!r}: {exc}") from exc
