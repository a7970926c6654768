"""The one reconnect loop and stall watchdog shared by every live source.

A :class:`LiveSource` owns a reader thread that connects (through a
``connect`` callable returning a :class:`~visionflow.sources._session.Session`),
decodes, and hands frames to the consumer through a tiny drop-oldest buffer:
the camera paces the reader, never the consumer. When the stream ends, errors
or stalls, the reader walks the state machine of :mod:`visionflow.sources.base`
and retries with :class:`~visionflow.sources.backoff.ReconnectPolicy`.

Stall watchdog: a read that waits longer than ``stall_timeout_s`` (FFmpeg's
interrupt callback, through PyAV's ``timeout``), or frames whose pts has not
advanced for ``stall_timeout_s`` (monotonic clock), is a stall.

Stopping: :meth:`LiveSource.stop` ends the consumer's iteration within about
0.1 s whatever the reader is doing; the reader thread itself exits at its
next frame or, when blocked in a network read, within ``stall_timeout_s``,
and then closes its connection.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator

from visionflow.errors import PipelineStateError, SourceError
from visionflow.sources._session import PermanentSourceError, Session, StreamTimeoutError
from visionflow.sources.backoff import ReconnectPolicy
from visionflow.sources.base import (
    TERMINAL_STATES,
    RateMeter,
    SourceHealth,
    StateCallback,
    StateMachine,
    StreamState,
)
from visionflow.types import Frame, ImageRGB
from visionflow.urls import mask_url

logger = logging.getLogger(__name__)

_S = StreamState
_POLL_S = 0.1
_MAX_DELAYS_KEPT = 32


class _StallError(Exception):
    """The pts stopped advancing for stall_timeout_s while frames kept coming."""


class LiveSource:
    """A source paced by a camera or a clock, reconnecting by itself.

    ``Frame.frame_number`` counts frames received from the camera (over all
    connections), so a gap in the numbers seen by the consumer is a frame this
    source dropped (see ``health().frames_dropped``). ``pts_seconds`` keeps
    increasing across reconnects (each new connection continues one frame
    period after the last frame). ``on_state`` runs on the reader thread (and
    on the caller's thread for STOPPED): keep it short and thread-safe.

    Args:
        uri: the source URI (credentials allowed; only the masked form is shown).
        connect: opens one session; raises ``SourceError`` (retried) or
            ``PermanentSourceError`` (stream goes FAILED at once).
        stream_id: id put in every frame.
        reconnect: backoff policy; default retries forever.
        stall_timeout_s: no frame / no pts progress for this long → STALLED.
        on_state: ``on_state(stream_id, old, new, reason)`` for every transition.
        rng: randomness for backoff jitter (seed it in tests).
        buffer_frames: frames buffered between reader and consumer; older
            ones are dropped (and counted) when the consumer lags.
        live: False for a source that may turn out finite (HTTP): it is
            treated as live until a connection announces a duration.
        nominal_fps: frame rate known before connecting (synthetic, V4L2 request).
        open_wait_s: :meth:`open` waits up to this long for the first
            connection (HTTP does, so :attr:`is_live` is known when it returns).
    """

    def __init__(
        self,
        uri: str,
        connect: Callable[[], Session],
        *,
        stream_id: str,
        reconnect: ReconnectPolicy | None = None,
        stall_timeout_s: float = 5.0,
        on_state: StateCallback | None = None,
        rng: random.Random | None = None,
        buffer_frames: int = 2,
        nominal_fps: float = 0.0,
        open_wait_s: float = 0.0,
    ) -> None:
        if stall_timeout_s <= 0:
            raise ValueError(f"stall_timeout_s must be > 0, got {stall_timeout_s}")
        if buffer_frames < 1:
            raise ValueError(f"buffer_frames must be >= 1, got {buffer_frames}")
        self.stream_id = stream_id
        self.uri_masked = mask_url(uri)
        self._connect = connect
        self._policy = reconnect or ReconnectPolicy()
        self._stall_s = stall_timeout_s
        self._rng = rng or random.Random()
        self._sm = StateMachine(stream_id, on_state)
        self._buffer: queue.Queue[Frame] = queue.Queue(maxsize=buffer_frames)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._iterating = False
        self._fps = nominal_fps
        self._finite = False
        self._frame_count = 0
        self._corrupt_closed = 0
        self._session: Session | None = None
        self._frames_read = 0
        self._dropped = 0
        self._reconnects = 0
        self._failures = 0
        self._last_error: str | None = None
        self._delays: list[float] = []
        self._meter = RateMeter()
        self._last_pts = -1.0
        self._connected = threading.Event()
        self._open_wait_s = open_wait_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.stream_id!r}, {self.uri_masked!r}, {self.state.value})"

    # -- facts ------------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        """True unless a connection announced a finite duration (an HTTP file, VOD HLS)."""
        return not self._finite

    @property
    def fps(self) -> float:
        """Nominal frame rate from the stream header (0.0 until known)."""
        return self._fps

    @property
    def frame_count(self) -> int:
        """Frames per pass for finite HTTP media, else 0."""
        return self._frame_count

    @property
    def corrupt_packets(self) -> int:
        """Undecodable packets skipped, over all connections."""
        session = self._session
        return self._corrupt_closed + (session.corrupt_packets if session is not None else 0)

    @property
    def state(self) -> StreamState:
        """Current lifecycle state."""
        return self._sm.state

    def health(self) -> SourceHealth:
        """A snapshot of state, history, counters and the last (masked) error."""
        with self._lock:
            delays = tuple(self._delays)
        return SourceHealth(
            stream_id=self.stream_id,
            state=self._sm.state,
            history=self._sm.history,
            reconnects=self._reconnects,
            attempts=self._failures,
            last_error=self._last_error,
            frames_read=self._frames_read,
            frames_dropped=self._dropped,
            fps_in=self._meter.rate(time.monotonic()),
            uri_masked=self.uri_masked,
            retry_delays_s=delays,
        )

    # -- lifecycle --------------------------------------------------------------------

    def open(self) -> LiveSource:
        """Start the reader thread (idempotent). Network trouble never raises here.

        Raises:
            PipelineStateError: the source was stopped or closed.
        """
        with self._lock:
            if self._stop.is_set():
                raise PipelineStateError(f"source {self.stream_id!r} is stopped; create a new one")
            if self._thread is not None:
                return self
            self._thread = threading.Thread(
                target=self._reader, name=f"vf-source-{self.stream_id}", daemon=True
            )
            self._thread.start()
        if self._open_wait_s > 0:
            self._connected.wait(self._open_wait_s)
        return self

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until the first connection attempt settled (up, failed, or stopped)."""
        return self._connected.wait(timeout_s)

    def stop(self) -> None:
        """Stop from any thread and any state; iteration ends within about 0.1 s."""
        self._stop.set()
        self._sm.move(_S.STOPPED, "stop requested")
        self._connected.set()

    def close(self, join_timeout_s: float = 1.0) -> None:
        """Stop and wait up to ``join_timeout_s`` for the reader thread (idempotent)."""
        self.stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(join_timeout_s)
            if thread.is_alive():
                logger.debug(
                    "stream %s: reader still in a blocking read; it exits within %.1f s",
                    self.stream_id,
                    self._stall_s,
                )

    def __enter__(self) -> LiveSource:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- consumer side ----------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        self.open()
        with self._lock:
            if self._iterating:
                raise PipelineStateError(f"source {self.stream_id!r} is already being iterated")
            self._iterating = True
        return self._consume()

    def _consume(self) -> Iterator[Frame]:
        try:
            while not self._stop.is_set():
                try:
                    yield self._buffer.get(timeout=_POLL_S)
                except queue.Empty:
                    if self._finished():
                        return
        finally:
            with self._lock:
                self._iterating = False

    def _finished(self) -> bool:
        state = self._sm.state
        if state is _S.FAILED:
            raise SourceError(f"stream {self.stream_id!r} failed: {self._last_error}")
        return state in TERMINAL_STATES and self._buffer.empty()

    # -- reader thread ----------------------------------------------------------------

    def _reader(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._one_connection():
                    return
        except Exception as exc:  # a bug: make it visible on the stream, not silent
            logger.exception("stream %s: reader crashed", self.stream_id)
            self._fail(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._connected.set()

    def _one_connection(self) -> bool:
        """Connect, pump frames, then decide what next; False when the reader must end."""
        frames_before = self._frames_read
        reason = self._run_session()
        if self._stop.is_set() or self._sm.state in TERMINAL_STATES:
            return False
        if reason == "end of stream" and self._finite:
            self._sm.move(_S.ENDED, reason)
            return False
        self._failures = 0 if self._frames_read > frames_before else self._failures + 1
        self._enter_reconnecting(reason)
        if self._policy.gives_up_after(self._failures):
            self._fail(f"gave up after {self._failures} failed attempts; last: {self._last_error}")
            return False
        return not self._backoff()

    def _run_session(self) -> str:
        """One connection; returns why it ended (the stream then reconnects or ends)."""
        try:
            session = self._connect()
        except PermanentSourceError as exc:
            self._fail(str(exc))
            return "permanent error"
        except SourceError as exc:
            self._connected.set()  # the first attempt is settled, even if it failed
            return self._note_error(str(exc))
        self._adopt(session)
        try:
            return self._pump(session)
        except StreamTimeoutError:
            return self._note_error(f"no data for {self._stall_s:g} s (stall_timeout_s)", "stall")
        except _StallError as exc:
            return self._note_error(str(exc), "stall")
        except SourceError as exc:
            return self._note_error(str(exc))
        finally:
            self._release(session)

    def _adopt(self, session: Session) -> None:
        self._session = session
        if session.fps > 0:
            self._fps = session.fps
        self._finite = session.finite
        self._frame_count = session.frame_count
        self._connected.set()

    def _release(self, session: Session) -> None:
        self._corrupt_closed += session.corrupt_packets
        self._session = None
        session.close()

    def _note_error(self, message: str, kind: str = "error") -> str:
        self._last_error = message
        logger.warning("stream %s: %s", self.stream_id, message)
        return kind

    def _pump(self, session: Session) -> str:
        offset: float | None = None
        last_raw, progress_s = None, time.monotonic()
        for pts, image in session.pictures():
            if self._stop.is_set():
                return "stopped"
            now = time.monotonic()
            if pts is not None and (last_raw is None or pts > last_raw):
                last_raw, progress_s = pts, now
            elif now - progress_s > self._stall_s:
                raise _StallError(
                    f"pts did not advance for {self._stall_s:g} s (stuck at {last_raw})"
                )
            if offset is None and pts is not None:  # the connection's first timestamp
                offset = self._session_offset(pts)
            self._deliver(pts, offset or 0.0, image)
        return "end of stream"

    def _session_offset(self, first_pts: float) -> float:
        """Shift a connection's timestamps: the stream starts at 0 (like a file; a camera's
        raw RTP-derived pts start anywhere) and keeps increasing across reconnects."""
        return self._next_pts() - first_pts

    def _period(self) -> float:
        return 1.0 / self._fps if self._fps > 0 else 1.0 / 30.0

    def _next_pts(self) -> float:
        """One frame after the last delivered frame; 0 for the stream's first frame."""
        return self._last_pts + self._period() if self._frames_read else 0.0

    def _deliver(self, raw_pts: float | None, offset: float, image: ImageRGB) -> None:
        pts = raw_pts + offset if raw_pts is not None else self._next_pts()
        if self._frames_read and pts <= self._last_pts:  # clock went back: stay monotonic
            pts = self._next_pts()
        arrival_ns = time.monotonic_ns()
        frame = Frame(self.stream_id, self._frames_read, pts, arrival_ns, image)
        self._frames_read += 1
        self._last_pts = pts
        self._meter.tick(arrival_ns / 1e9)
        self._on_first_frame()
        self._put(frame)

    def _on_first_frame(self) -> None:
        state = self._sm.state
        if state is _S.STARTING:
            self._sm.move(_S.STREAMING, "first frame")
        elif state is _S.RECONNECTING:
            self._reconnects += 1
            self._failures = 0
            self._sm.move(_S.STREAMING, f"reconnected (reconnect #{self._reconnects})")

    def _put(self, frame: Frame) -> None:
        """Hand over a frame: drop the oldest when live, wait (lossless) when finite."""
        while self._finite and not self._stop.is_set():
            try:
                self._buffer.put(frame, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        while True:
            try:
                self._buffer.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._buffer.get_nowait()
                    self._dropped += 1
                except queue.Empty:
                    pass

    def _enter_reconnecting(self, reason: str) -> None:
        state = self._sm.state
        why = f"{reason}: {self._last_error}" if self._last_error else reason
        if state is _S.STREAMING and reason == "stall":
            self._sm.move(_S.STALLED, why)
            self._sm.move(_S.RECONNECTING, "reconnecting after stall")
        elif state in (_S.STARTING, _S.STREAMING):
            self._sm.move(_S.RECONNECTING, why)

    def _backoff(self) -> bool:
        """Wait the next delay; True when stopped meanwhile."""
        delay = self._policy.delay_s(max(0, self._failures - 1), self._rng)
        with self._lock:
            self._delays = [*self._delays[-(_MAX_DELAYS_KEPT - 1) :], delay]
        logger.info("stream %s: retrying in %.2f s", self.stream_id, delay)
        return self._stop.wait(delay)

    def _fail(self, message: str) -> None:
        self._last_error = message
        self._sm.move(_S.FAILED, message)
        self._connected.set()
