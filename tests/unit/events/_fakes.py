"""An in-memory Publisher that fails on demand, for delivery and router tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from visionflow.errors import PublishError
from visionflow.events import Record

SpoolItem = tuple[str, str, str, bytes]


def items(n: int, streams: int = 3, start: int = 0) -> list[SpoolItem]:
    """``n`` spool items round-robin over ``streams`` streams; event_id = f"e{i}"."""
    return [
        (f"cam{i % streams}", f"e{i}", "line_crossed", f'{{"i":{i}}}'.encode())
        for i in range(start, start + n)
    ]


class FakePublisher:
    """Records what it was sent; ``fail_sends`` sends (and connects) raise first.

    Args:
        fail_sends: how many send calls fail before they succeed.
        fail_connects: how many connect calls fail.
        block: when set, send waits on this event (a hung broker).
        secret_error: text put into the PublishError message (credential leak tests).
    """

    def __init__(
        self,
        name: str = "fake",
        *,
        fail_sends: int = 0,
        fail_connects: int = 0,
        block: threading.Event | None = None,
        secret_error: str = "",
    ) -> None:
        self.name = name
        self.fail_sends = fail_sends
        self.fail_connects = fail_connects
        self.block = block
        self.secret_error = secret_error
        self.sent: list[Record] = []
        self.calls = 0
        self.connects = 0
        self.closed = 0
        self.lock = threading.Lock()

    def connect(self) -> None:
        self.connects += 1
        if self.fail_connects > 0:
            self.fail_connects -= 1
            raise PublishError(f"broker down {self.secret_error}")

    def send(self, records: Sequence[Record]) -> None:
        with self.lock:
            self.calls += 1
        if self.block is not None:
            self.block.wait()
        if self.fail_sends > 0:
            self.fail_sends -= 1
            raise PublishError(f"timeout talking to {self.secret_error}")
        with self.lock:
            self.sent.extend(records)

    def close(self) -> None:
        self.closed += 1

    @property
    def event_ids(self) -> list[str]:
        with self.lock:
            return [r.event_id for r in self.sent]
