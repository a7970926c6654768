"""Append events to a JSON Lines file: one JSON object per line, optionally rotated.

Rotation: with ``rotate_bytes`` and/or ``rotate_seconds``, the file is closed
and renamed ``<stem>.<n>.jsonl`` (``events.1.jsonl``, ``events.2.jsonl``, ...;
the highest ``n`` is the most recent) when the next write would make it larger
than ``rotate_bytes``, or when it has been open for ``rotate_seconds``; a new
``events.jsonl`` is started. A file is never rotated while empty, and one
publish call is never split across files.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

from visionflow.errors import OutputError, PipelineStateError
from visionflow.events.schema import Event

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PublisherState(enum.Enum):
    """Lifecycle of a publisher: it opens when created and closes once."""

    OPEN = "open"
    CLOSED = "closed"


class JsonlPublisher:
    """Appends events to a ``.jsonl`` file, one JSON object per line.

    The file (and its parent directory) is created if needed and opened for
    appending when the publisher is created. Each :meth:`publish` call writes
    its events and flushes them to the operating system, so a crash of the
    process loses nothing already published; ``fsync_on_close`` also forces
    the data to disk on :meth:`close` (survives a power loss). Not
    thread-safe: publish from one thread.

    Args:
        path: the JSONL file.
        fsync_on_close: ``fsync`` the file when closing (and when rotating).
        rotate_bytes: rotate before the file would exceed this size; None = never.
        rotate_seconds: rotate once the file is this old (wall clock); None = never.

    Raises:
        OutputError: the directory or file cannot be created or opened.

    Example::

        with JsonlPublisher("out/events.jsonl") as publisher:
            publisher.publish(events)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync_on_close: bool = True,
        rotate_bytes: int | None = None,
        rotate_seconds: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.fsync_on_close = fsync_on_close
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self._events_written = 0
        self._size = 0
        self._opened_at = time.monotonic()
        self._file: IO[str] = self._guard("open", self._open)
        self._state = PublisherState.OPEN
        logger.debug("publishing events to %s", self.path)

    @property
    def state(self) -> PublisherState:
        """Whether the publisher is open or closed."""
        return self._state

    @property
    def events_written(self) -> int:
        """Number of events written (and flushed) so far."""
        return self._events_written

    def publish(self, events: Sequence[Event]) -> None:
        """Append ``events``, one JSON line each, then flush.

        Raises:
            PipelineStateError: the publisher is closed.
            OutputError: writing or flushing failed.
        """
        self._check_open()
        if not events:
            return
        self._write_lines([event.model_dump_json() for event in events])

    def publish_payloads(self, payloads: Sequence[bytes]) -> None:
        """Append already serialised events (UTF-8 JSON, one per line), then flush.

        Raises:
            PipelineStateError: the publisher is closed.
            OutputError: writing or flushing failed.
        """
        self._check_open()
        if payloads:
            self._write_lines([p.decode() for p in payloads])

    def _check_open(self) -> None:
        if self._state is PublisherState.CLOSED:
            raise PipelineStateError(
                f"JsonlPublisher({str(self.path)!r}) is closed; create a new one to write more"
            )

    def _write_lines(self, lines: list[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        if self._should_rotate(len(text.encode())):
            self._guard("rotate", self._rotate)
        self._guard("write to", lambda: self._write(text))
        self._events_written += len(lines)

    def close(self) -> None:
        """Flush, optionally ``fsync``, and close the file. Closing twice is safe.

        Raises:
            OutputError: flushing or closing failed (the publisher is closed anyway).
        """
        if self._state is PublisherState.CLOSED:
            return
        self._state = PublisherState.CLOSED
        self._guard("close", self._flush_sync_close)
        logger.debug("closed %s after %d events", self.path, self._events_written)

    def __enter__(self) -> JsonlPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonlPublisher({str(self.path)!r}, state={self._state.value})"

    def _open(self) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("a", encoding="utf-8", newline="\n")
        self._size = file.tell()
        self._opened_at = time.monotonic()
        return file

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        self._size = self._file.tell()

    def _should_rotate(self, incoming_bytes: int) -> bool:
        if self._size == 0:
            return False
        too_big = self.rotate_bytes is not None and self._size + incoming_bytes > self.rotate_bytes
        too_old = (
            self.rotate_seconds is not None
            and time.monotonic() - self._opened_at >= self.rotate_seconds
        )
        return too_big or too_old

    def _rotate(self) -> None:
        self._flush_sync_close()
        target = self.path.with_name(f"{self.path.stem}.{self._next_index()}{self.path.suffix}")
        self.path.replace(target)
        logger.debug("rotated %s to %s", self.path, target.name)
        self._file = self._open()

    def _next_index(self) -> int:
        pattern = re.compile(rf"^{re.escape(self.path.stem)}\.(\d+){re.escape(self.path.suffix)}$")
        taken = [int(m[1]) for p in self.path.parent.iterdir() if (m := pattern.match(p.name))]
        return max(taken, default=0) + 1

    def _flush_sync_close(self) -> None:
        try:
            self._file.flush()
            if self.fsync_on_close:
                os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def _guard(self, action: str, operation: Callable[[], T]) -> T:
        """Run ``operation``, translating ``OSError`` into :class:`OutputError`."""
        try:
            return operation()
        except OSError as exc:
            error = OutputError(f"cannot {action} event file {str(self.path)!r}: {exc}")
            error.filename = str(self.path)
            raise error from exc
