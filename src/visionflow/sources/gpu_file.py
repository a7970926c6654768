"""Video file source decoded on the GPU (NVDEC): frames keep their pixels in device memory.

:class:`GpuFileSource` yields :class:`~visionflow.types.Frame` objects whose
picture is :attr:`~visionflow.types.Frame.image_nv12_device` (an NV12 CUDA
tensor from :class:`~visionflow.decode.nvdec.NvdecDecoder`) and whose
``image_rgb`` is an empty placeholder: nothing is copied to the host.

When NVDEC cannot take the file (codec the GPU lacks, 10-bit, no driver or
PyNvVideoCodec, no GPU) the source falls back, for this stream only, to the
CPU :class:`~visionflow.sources.file.FileSource` and logs why;
:attr:`GpuFileSource.decoder` and :attr:`GpuFileSource.fallback_reason` say
which one runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.errors import MissingDependencyError, SourceNotFoundError, SourceOpenError
from visionflow.sources._pacing import Pacer
from visionflow.sources.base import SourceHealth, StateCallback, StateMachine, StreamState
from visionflow.sources.file import FileSource
from visionflow.types import Frame

logger = logging.getLogger(__name__)

_NO_HOST_IMAGE = np.zeros((0, 0, 3), np.uint8)
_NO_HOST_IMAGE.flags.writeable = False

_RESTART_WAIT_S = 0.002
"""How often an iterating thread checks on a threaded decoder that is (re)starting."""
_RESTART_TIMEOUT_S = 10.0
"""Longest wait, when closing, for a (re)start in flight on a helper thread."""
_RESTARTERS = 64
"""Helper threads that may wait at once for decoders (re)starting: looped streams
started together reach their ends together, and each restart waits by itself."""

_restarters: list[ThreadPoolExecutor] = []  # made at the first restart, shared by all sources
_restarters_lock = threading.Lock()


def _restart_pool() -> ThreadPoolExecutor:
    """Threads that wait for threaded decoders' first pictures (after opening or rewinding)."""
    with _restarters_lock:
        if not _restarters:
            _restarters.append(ThreadPoolExecutor(_RESTARTERS, "nvdec-restart"))
        return _restarters[0]


class GpuFileSource:
    """Frames of a video file decoded by NVDEC, or by the CPU when NVDEC cannot.

    Args:
        path: the video file.
        stream_id: id put in every frame; defaults to the file name.
        loop: restart at the end of the file (frame numbers and pts keep increasing).
        gpu_id: CUDA device index.
        realtime: pace frames at the file's fps (the file stands in for a camera).
        fallback: decode on the CPU when NVDEC cannot (else raise ``SourceOpenError``).
        threaded: let PyNvVideoCodec demux and decode on a native thread
            (:class:`~visionflow.decode.nvdec.NvdecDecoder`'s threaded mode).
        on_state: observer of stream state transitions.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        stream_id: str | None = None,
        loop: bool = False,
        gpu_id: int = 0,
        realtime: bool = False,
        fallback: bool = True,
        threaded: bool = False,
        on_state: StateCallback | None = None,
    ) -> None:
        self.path = Path(path)
        self.stream_id = stream_id if stream_id is not None else self.path.name
        self.loop, self.gpu_id, self.realtime, self.fallback = loop, gpu_id, realtime, fallback
        self.threaded = threaded
        self.decoder: str = "none"
        self.fallback_reason: str | None = None
        self._sm = StateMachine(self.stream_id, on_state)
        self._cpu: FileSource | None = None
        self._fps = 0.0
        self._opened: Any = None  # the NvdecDecoder made by open(), for the first pass
        self._decoder: Any = None  # the NvdecDecoder in use
        self._pictures: list[Any] = []  # decoded, not yet handed out (reversed)
        self._restarting: Future[list[Any]] | None = None  # first pictures, on a helper thread
        self._offset_s = self._last_pts_s = 0.0  # timeline across looped passes
        self._ended = False
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._pacer = Pacer(0.0, self._stop)  # set at open, from the file's fps
        self._frames_read = 0
        self._on_state = on_state

    def open(self) -> GpuFileSource:
        """Choose the decoder: NVDEC when it can decode the file, else the CPU.

        Raises:
            SourceNotFoundError: the path does not exist.
            SourceOpenError: NVDEC cannot decode it and ``fallback`` is False.
        """
        from visionflow.decode.nvdec import nvdec_support

        if self.decoder != "none":
            return self
        if not self.path.is_file():
            raise SourceNotFoundError(f"path={str(self.path)!r} does not exist or is not a file")
        reason = nvdec_support(self.path, self.gpu_id)
        if reason is None:
            try:  # creating a session can still fail (all NVDEC sessions taken, out of memory)
                self._opened = self._nvdec()
                self._fps = self._opened.fps
                self._pacer = Pacer(self._fps if self.realtime else 0.0, self._stop)
            except (SourceOpenError, MissingDependencyError) as exc:
                reason = str(exc)
            else:
                self.decoder = "nvdec"
                return self
        if not self.fallback:
            raise SourceOpenError(f"{self.path}: NVDEC cannot decode it: {reason}")
        logger.warning(
            "stream %s: NVDEC cannot decode %s (%s); decoding on the CPU",
            self.stream_id,
            self.path,
            reason,
        )
        self.fallback_reason = reason
        self._cpu = FileSource(
            self.path,
            stream_id=self.stream_id,
            loop=self.loop,
            realtime=self.realtime,
            on_state=self._on_state,
        ).open()
        self.decoder = "cpu"
        return self

    def __iter__(self) -> Iterator[Frame]:
        self.open()
        if self._cpu is not None:
            yield from self._cpu
            return
        while not self._stop.wait(max(0.0, self.due_s() - time.monotonic())):
            frame = self.poll()
            if frame is not None:
                yield frame
            elif self.ended:
                return
            else:  # a threaded decoder is (re)starting on a helper thread
                self._stop.wait(_RESTART_WAIT_S)

    # -- polling: a loop that serves many streams drives NVDEC sources this way ---------

    @property
    def pollable(self) -> bool:
        """Whether a shared ingest thread may drive this source through :meth:`poll`.

        True for NVDEC's threaded mode: decoding runs on a native thread, so one
        Python thread can take the frames of many streams (fewer threads wanting
        the GIL); a packet-mode or CPU stream keeps a thread of its own.
        """
        return self.decoder == "nvdec" and self.threaded

    @property
    def ended(self) -> bool:
        """No more frames will come (end of file, stop, or close)."""
        return self._ended or self._stop.is_set()

    def due_s(self) -> float:
        """Monotonic time the next frame is due: ``realtime`` pacing, else 0 (now)."""
        return self._pacer.due_s()

    def poll(self) -> Frame | None:
        """The next frame if it is due, else ``None`` (and :attr:`ended` once over).

        Only one thread may poll a source. Decodes (or takes from NVDEC's native
        thread) when no decoded picture is left, rewinding a looped file.
        """
        with self._poll_lock:
            try:
                return self._poll()
            finally:
                if self.ended:
                    self._release_decoder()

    def _poll(self) -> Frame | None:
        if self.ended or self.due_s() > time.monotonic():
            return None
        if not self._pictures:
            pictures = self._next_pictures()
            if not pictures:
                return None
            self._pictures = pictures
        picture = self._pictures.pop()
        self._pacer.advance()
        self._last_pts_s = picture.pts_seconds or self._last_pts_s
        return self._frame(picture.nv12, self._offset_s + self._last_pts_s)

    def _next_pictures(self) -> list[Any] | None:
        """The next pictures, reversed (popped from the end); ``[]`` at the end.

        ``None`` while a threaded decoder (re)starts: its first pictures after
        opening or rewinding take a while to decode, and the wait runs on a
        helper thread so that a thread polling many streams is never held up
        (the pictures of one rewind used to stall the 31 other streams of its
        pump; looped streams that started together all rewind together).
        """
        if self._restarting is not None:
            if not self._restarting.done():
                return None
            restarting, self._restarting = self._restarting, None
            pictures = restarting.result()  # an error of the rewind ends the stream here
            self._pacer.restart()  # the stand-in camera paused while its decoder restarted
        else:
            if self._decoder is None:
                self._decoder, self._opened = self._opened or self._nvdec(), None
                if self._decoder.threaded:
                    self._restart(self._decoder.next_pictures)
                    return None
            pictures = self._decoder.next_pictures()
            if not pictures and self.loop:
                self._offset_s += self._last_pts_s + (1.0 / self._fps if self._fps > 0 else 0.0)
                self._last_pts_s = 0.0
                if self._decoder.threaded:
                    self._restart(self._rewound_pictures)
                    return None
                pictures = self._rewound_pictures()
        if not pictures:
            self._ended = True
            if not self._stop.is_set():
                self._sm.move(StreamState.ENDED, "end of file")
        pictures.reverse()
        return pictures

    def _rewound_pictures(self) -> list[Any]:
        self._decoder.rewind()  # the same NVDEC session for every pass
        pictures: list[Any] = self._decoder.next_pictures()
        return pictures

    def _restart(self, first_pictures: Callable[[], list[Any]]) -> None:
        self._restarting = _restart_pool().submit(first_pictures)

    def _release_decoder(self) -> None:
        restarting, self._restarting = self._restarting, None
        if restarting is not None:  # the decoder may be ended only once nobody waits on it
            done, _ = wait([restarting], timeout=_RESTART_TIMEOUT_S)
            if not done:
                logger.warning("stream %s: NVDEC did not restart; leaving it", self.stream_id)
                self._decoder = self._opened = None
                return
        decoder, self._decoder = self._decoder, None
        opened, self._opened = self._opened, None
        self._pictures = []
        for d in (decoder, opened):
            if d is not None:
                d.close()

    def _nvdec(self) -> Any:
        from visionflow.decode.nvdec import NvdecDecoder

        return NvdecDecoder(self.path, self.gpu_id, threaded=self.threaded)

    def _frame(self, nv12: Any, pts_seconds: float) -> Frame:
        if self._frames_read == 0:
            self._sm.move(StreamState.STREAMING, "first frame")
        frame = Frame(
            self.stream_id,
            self._frames_read,
            pts_seconds,
            time.monotonic_ns(),
            _NO_HOST_IMAGE,
            nv12,
        )
        self._frames_read += 1
        return frame

    @property
    def fps(self) -> float:
        """Nominal frames per second (0.0 when unknown)."""
        return self._cpu.fps if self._cpu is not None else self._fps

    @property
    def frame_count(self) -> int:
        """Frames per pass; 0 when unknown (NVDEC's demuxer gives no count)."""
        return self._cpu.frame_count if self._cpu is not None else 0

    @property
    def corrupt_packets(self) -> int:
        """Packets skipped as undecodable (counted by the CPU decoder only)."""
        return self._cpu.corrupt_packets if self._cpu is not None else 0

    @property
    def is_live(self) -> bool:
        """True only with ``realtime``."""
        return self.realtime

    def stop(self) -> None:
        """End iteration before the next frame (any thread)."""
        self.close()

    def close(self) -> None:
        """Release the decoder; idempotent (any thread).

        A decoder in use by a :meth:`poll` on another thread is released by that
        call when it returns.
        """
        self._stop.set()
        if self._poll_lock.acquire(blocking=False):
            try:
                self._release_decoder()
            finally:
                self._poll_lock.release()
        if self._cpu is not None:
            self._cpu.close()
        self._sm.move(StreamState.STOPPED, "closed")

    def health(self) -> SourceHealth:
        """State, history and counters."""
        if self._cpu is not None:
            return self._cpu.health()
        return SourceHealth(
            stream_id=self.stream_id,
            state=self._sm.state,
            history=self._sm.history,
            reconnects=0,
            attempts=0,
            last_error=self.fallback_reason,
            frames_read=self._frames_read,
            frames_dropped=0,
            fps_in=self._fps if self.realtime else 0.0,
            uri_masked=str(self.path),
        )
