"""Video file source: frames of a local media file, optionally looped.

Dependency note: this is the one place where a stage package uses another.
``FileSource`` delegates demuxing and decoding to
:class:`visionflow.decode.cpu.CpuDecoder` (a file source *is* a demuxer plus
a decoder; duplicating the PyAV boundary would be worse). ``decode`` never
imports ``sources``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from visionflow.decode import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    CpuDecoder,
    DecodedImage,
    ThreadType,
    VideoStreamInfo,
)
from visionflow.errors import PipelineStateError, SourceError
from visionflow.sources._pacing import Pacer
from visionflow.sources._state import SourceState
from visionflow.sources.base import SourceHealth, StateCallback, StateMachine, StreamState
from visionflow.types import Frame

logger = logging.getLogger(__name__)


class FileSource:
    """Frames of a video file (any container/codec FFmpeg reads), decoded on the CPU.

    Iterating yields :class:`~visionflow.types.Frame` objects with 0-based
    ``frame_number``, ``pts_seconds`` from the stream time base and
    ``arrival_ns`` taken right after decoding. With ``loop=True`` the file
    restarts at its end; frame numbers and timestamps keep increasing.

    Lifecycle: ``NEW → OPEN → CLOSED``. Iterating a ``NEW`` source opens it;
    iteration resumes where the previous one stopped. :meth:`close` (alias
    :meth:`stop`) may be called from any thread: an iteration in progress
    ends before its next frame and releases the file itself, so the decoder
    is never closed under the thread using it.

    Args:
        path: the video file.
        stream_id: id put in every frame; defaults to the file name.
        loop: restart at the end of the file, forever (until closed).
        thread_type: FFmpeg decoder threading, see :data:`ThreadType`.
        thread_count: decoder threads; 0 lets FFmpeg choose.
        max_consecutive_errors: undecodable packets in a row tolerated before
            :class:`~visionflow.errors.CorruptStreamError`.
        realtime: pace frames at the file's native fps so the file stands in
            for a camera (:attr:`is_live` is then True and the runtime may drop).
        on_state: observer of stream state transitions
            (``STARTING → STREAMING → ENDED``, ``FAILED``, ``STOPPED``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        stream_id: str | None = None,
        loop: bool = False,
        thread_type: ThreadType = "AUTO",
        thread_count: int = 0,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        realtime: bool = False,
        on_state: StateCallback | None = None,
    ) -> None:
        self.path = Path(path)
        self.stream_id = stream_id if stream_id is not None else self.path.name
        self.loop = loop
        self.realtime = realtime
        self._sm = StateMachine(self.stream_id, on_state)
        self._last_error: str | None = None
        self._decoder = CpuDecoder(
            self.path,
            thread_type=thread_type,
            thread_count=thread_count,
            max_consecutive_errors=max_consecutive_errors,
        )
        self._state = SourceState.NEW
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._iterating = False
        self._frames_read = 0
        self._last_pts = -1.0

    # -- lifecycle ---------------------------------------------------------------

    @property
    def state(self) -> SourceState:
        """Current lifecycle state."""
        return self._state

    def open(self) -> FileSource:
        """Open the file and read its header; a no-op when already open.

        Raises:
            PipelineStateError: the source was closed.
            SourceNotFoundError: the path does not exist.
            SourceOpenError: not a readable video file (the message says why).
        """
        with self._lock:
            if self._state is SourceState.CLOSED:
                raise PipelineStateError(f"source {self.stream_id!r} is closed; create a new one")
            if self._state is SourceState.NEW:
                try:
                    self._decoder.open()
                except SourceError as exc:
                    self._last_error = str(exc)
                    self._sm.move(StreamState.FAILED, str(exc))
                    raise
                self._state = SourceState.OPEN
        return self

    def close(self) -> None:
        """Close the source; safe twice and from another thread than the iterating one."""
        self._sm.move(StreamState.STOPPED, "closed")
        with self._lock:
            self._state = SourceState.CLOSED
            self._stop.set()
            if not self._iterating:
                self._decoder.close()

    def stop(self) -> None:
        """Stop iteration and close the source (same as :meth:`close`)."""
        self.close()

    def __enter__(self) -> FileSource:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- stream facts --------------------------------------------------------------

    @property
    def info(self) -> VideoStreamInfo:
        """Header facts of the video stream (after :meth:`open`)."""
        return self._decoder.info

    @property
    def fps(self) -> float:
        """Average frame rate in frames per second (0.0 when unknown)."""
        return self.info.fps

    @property
    def frame_count(self) -> int:
        """Frames per pass announced or estimated from the header; 0 when unknown."""
        return self.info.frame_count

    @property
    def resolution_wh(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.info.resolution_wh

    @property
    def codec(self) -> str:
        """FFmpeg decoder name, e.g. ``h264``."""
        return self.info.codec

    @property
    def corrupt_packets(self) -> int:
        """Packets skipped so far because they could not be demuxed or decoded."""
        return self._decoder.corrupt_packets

    @property
    def is_live(self) -> bool:
        """True only with ``realtime``: a paced file stands in for a camera."""
        return self.realtime

    def health(self) -> SourceHealth:
        """State, history and counters (files never reconnect)."""
        streaming = self._sm.state is StreamState.STREAMING
        return SourceHealth(
            stream_id=self.stream_id,
            state=self._sm.state,
            history=self._sm.history,
            reconnects=0,
            attempts=0,
            last_error=self._last_error,
            frames_read=self._frames_read,
            frames_dropped=0,
            fps_in=self.fps
            if streaming and self.realtime and self._state is SourceState.OPEN
            else 0.0,
            uri_masked=str(self.path),
        )

    @property
    def frames_read(self) -> int:
        """Frames yielded so far (over all passes)."""
        return self._frames_read

    # -- iteration -----------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        self.open()
        with self._lock:
            if self._iterating:
                raise PipelineStateError(f"source {self.stream_id!r} is already being iterated")
            self._iterating = True
        return self._run()

    def _run(self) -> Iterator[Frame]:
        try:
            yield from self._passes()
            if not self._stop.is_set() and self._sm.state is StreamState.STREAMING:
                self._sm.move(StreamState.ENDED, "end of file")
        except SourceError as exc:
            self._last_error = str(exc)
            self._sm.move(StreamState.FAILED, str(exc))
            raise
        finally:
            with self._lock:
                self._iterating = False
                if self._state is SourceState.CLOSED:
                    self._decoder.close()

    def _passes(self) -> Iterator[Frame]:
        while not self._stop.is_set():
            before = self._frames_read
            yield from self._one_pass()
            if not self.loop or self._stop.is_set():
                return
            if self._frames_read == before:
                logger.warning("%s: a pass yielded no frames; not looping again", self.path)
                return
            self._decoder.rewind()

    def _one_pass(self) -> Iterator[Frame]:
        pts_offset: float | None = None
        pacer = Pacer(self.fps if self.realtime else 0.0, self._stop)
        for decoded in self._decoder.decode():
            if pacer.wait() or self._stop.is_set():
                return
            if self._sm.state is StreamState.STARTING:
                self._sm.move(StreamState.STREAMING, "first frame")
            arrival_ns = time.monotonic_ns()
            if pts_offset is None:
                pts_offset = self._pass_offset(decoded)
            yield self._make_frame(decoded, pts_offset, arrival_ns)

    def _pass_offset(self, first: DecodedImage) -> float:
        """Shift a new pass's timestamps to start one frame after the last one."""
        if self._frames_read == 0:
            return 0.0
        return self._last_pts + self._frame_period() - (first.pts_seconds or 0.0)

    def _make_frame(self, decoded: DecodedImage, pts_offset: float, arrival_ns: int) -> Frame:
        if decoded.pts_seconds is None:
            pts = self._last_pts + self._frame_period()
        else:
            pts = decoded.pts_seconds + pts_offset
        frame = Frame(self.stream_id, self._frames_read, pts, arrival_ns, decoded.image_rgb)
        self._frames_read += 1
        self._last_pts = pts
        return frame

    def _frame_period(self) -> float:
        fps = self.info.fps
        return 1.0 / fps if fps > 0 else 0.0
