"""Append events to a JSON Lines file: one JSON object per line."""

from __future__ import annotations

import enum
import logging
import os
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
        fsync_on_close: ``fsync`` the file when closing.

    Raises:
        OutputError: the directory or file cannot be created or opened.

    Example::

        with JsonlPublisher("out/events.jsonl") as publisher:
            publisher.publish(events)
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync_on_close: bool = True) -> None:
        self.path = Path(path)
        self.fsync_on_close = fsync_on_close
        self._events_written = 0
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
        if self._state is PublisherState.CLOSED:
            raise PipelineStateError(
                f"JsonlPublisher({str(self.path)!r}) is closed; create a new one to write more"
            )
        if not events:
            return
        text = "".join(event.model_dump_json() + "\n" for event in events)
        self._guard("write to", lambda: self._write(text))
        self._events_written += len(events)

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
        return self.path.open("a", encoding="utf-8", newline="\n")

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()

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
