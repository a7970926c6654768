"""Deliver spooled events to one publisher on a thread, at least once and in order.

The worker loops: peek a batch from the :class:`~visionflow.events.spool.Spool`,
``publisher.send(batch)``, then ``spool.ack(last.seq)``. When ``send`` (or
``connect``) fails, it logs one warning per outage, backs off exponentially
with jitter (capped), reconnects and retries the *same* batch, so nothing is
skipped or reordered; a batch that reached the broker just before a failure
is sent again (consumers dedupe by ``event_id``). With nothing to send it
sleeps until :meth:`DeliveryWorker.notify`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from visionflow.errors import PipelineStateError, PublishError, VisionflowError
from visionflow.events.publishers.base import Publisher, Record
from visionflow.events.redact import mask_url
from visionflow.events.spool import Spool

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """A snapshot of one publisher's delivery.

    Attributes:
        delivered: events acknowledged by the broker since the worker started.
        retries: failed send or connect attempts.
        pending: events waiting in the spool.
        dropped: events discarded by the spool's cap policy (cumulative).
        connected: whether the last attempt succeeded.
        last_error: the last failure (credentials masked), or None.
    """

    delivered: int = 0
    retries: int = 0
    pending: int = 0
    dropped: int = 0
    connected: bool = False
    cpu_s: float = 0.0
    """CPU seconds used by the delivery thread (serialising, spool reads, the client)."""
    last_error: str | None = None


def backoff_s(
    attempt: int,
    initial_s: float,
    max_s: float,
    *,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt`` (0-based), in seconds.

    ``min(max_s, initial_s * 2**attempt)`` scaled by a random factor in
    [0.5, 1.0) ("equal jitter"): delays grow exponentially, never exceed
    ``max_s``, and many visionflow processes do not hammer a recovering
    broker in lockstep.
    """
    base = min(max_s, initial_s * 2.0 ** min(attempt, 62))
    return base * (0.5 + 0.5 * jitter())


class DeliveryWorker:
    """A thread that moves events from a spool to a publisher.

    Args:
        spool: where the events wait; the worker acknowledges what it delivered.
        publisher: the broker client (see :class:`~visionflow.events.publishers.base.Publisher`).
        batch_size: most records per ``send`` call.
        backoff_initial_s: first retry delay after a failure, seconds.
        backoff_max_s: cap of the retry delay, seconds.

    The worker does not own the spool (its creator closes it); it closes the
    publisher in :meth:`close`.
    """

    def __init__(
        self,
        spool: Spool,
        publisher: Publisher,
        *,
        batch_size: int = 500,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError(
                "need 0 < backoff_initial_s <= backoff_max_s, got "
                f"{backoff_initial_s} and {backoff_max_s}"
            )
        self.spool = spool
        self.publisher = publisher
        self.batch_size = batch_size
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.name = str(getattr(publisher, "name", type(publisher).__name__))
        self._cond = threading.Condition()
        self._wake = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"deliver-{self.name}", daemon=True)
        self._connected = False
        self._delivered = 0
        self._retries = 0
        self._last_error: str | None = None
        self._closed = False
        self._cpu_s = 0.0

    @property
    def stats(self) -> DeliveryStats:
        """Counters of this worker and its spool, now."""
        return DeliveryStats(
            delivered=self._delivered,
            retries=self._retries,
            pending=len(self.spool),
            dropped=self.spool.dropped,
            connected=self._connected,
            last_error=self._last_error,
            cpu_s=self._cpu_s,
        )

    def start(self) -> None:
        """Start the delivery thread.

        Raises:
            PipelineStateError: started twice, or after :meth:`close`.
        """
        if self._closed or self._thread.is_alive() or self._stop.is_set():
            raise PipelineStateError(f"DeliveryWorker({self.name!r}) can start only once")
        self._thread.start()

    def notify(self) -> None:
        """Tell the worker new events are in the spool (cheap; call after each append)."""
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until the spool is empty; ``False`` if ``timeout_s`` passed first."""
        self.notify()
        with self._cond:
            return self._cond.wait_for(lambda: len(self.spool) == 0, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is pending for up to ``timeout_s``, then stop (idempotent).

        Events not delivered by then stay in the spool and go out on the next
        run. Returns within about ``timeout_s`` even when the broker is down
        (a ``send`` already in progress is abandoned on its daemon thread).
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout_s
        if self._thread.is_alive() and not self.flush(timeout_s):
            log.warning(
                "publisher %s: %d event(s) not delivered within %.1f s; they stay in %s",
                self.name,
                len(self.spool),
                timeout_s,
                self.spool.path,
            )
        self._stop.set()
        self.notify()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.1)
        try:
            self.publisher.close()
        except Exception as exc:  # closing must not take the pipeline down
            log.warning("publisher %s: close failed: %s", self.name, mask_url(str(exc)))

    # -- the thread --------------------------------------------------------

    def _run(self) -> None:
        started = time.thread_time()
        try:
            self._loop(started)
        finally:
            self._cpu_s = time.thread_time() - started

    def _loop(self, started: float) -> None:
        while not self._stop.is_set():
            self._cpu_s = time.thread_time() - started
            try:
                batch = self.spool.peek(self.batch_size)
            except VisionflowError as exc:  # closed or unreadable: nothing more to do
                log.error("publisher %s: cannot read the spool: %s", self.name, exc)
                return
            if not batch:
                self._idle()
            elif not self._deliver(batch):
                return

    def _idle(self) -> None:
        with self._cond:
            self._cond.notify_all()  # wake flush() waiters: the spool is empty
            if not self._wake and not self._stop.is_set():
                self._cond.wait(_IDLE_WAIT_S)
            self._wake = False

    def _deliver(self, batch: Sequence[Record]) -> bool:
        """Send ``batch`` until it is accepted; ``False`` if stopped first."""
        attempt = 0
        while not self._stop.is_set():
            try:
                self._send(batch)
            except Exception as exc:  # any failure: keep the events, retry later
                self._on_failure(exc, attempt, len(batch))
                if self._stop.wait(backoff_s(attempt, self.backoff_initial_s, self.backoff_max_s)):
                    return False
                attempt += 1
                continue
            self._on_success(batch, attempt)
            return True
        return False

    def _send(self, batch: Sequence[Record]) -> None:
        if not self._connected:
            self.publisher.connect()
            self._connected = True
        self.publisher.send(batch)

    def _on_success(self, batch: Sequence[Record], failed_attempts: int) -> None:
        try:
            self.spool.ack(batch[-1].seq)
        except PipelineStateError:
            return  # closed under us after close() gave up waiting; resent next run
        self._delivered += len(batch)
        if failed_attempts:
            log.warning(
                "publisher %s: delivering again after %d failed attempt(s)",
                self.name,
                failed_attempts,
            )
        with self._cond:
            self._cond.notify_all()

    def _on_failure(self, exc: Exception, attempt: int, size: int) -> None:
        self._connected = False
        self._retries += 1
        self._last_error = mask_url(f"{type(exc).__name__}: {exc}")
        if attempt == 0:  # the first failure of a batch starts an outage: say it once
            level = logging.WARNING if isinstance(exc, PublishError) else logging.ERROR
            log.log(
                level,
                "publisher %s: cannot deliver %d event(s) (%s); keeping them in the spool "
                "and retrying with backoff up to %.1f s",
                self.name,
                size,
                self._last_error,
                self.backoff_max_s,
            )
        else:
            log.debug("publisher %s: retry %d failed: %s", self.name, attempt, self._last_error)
