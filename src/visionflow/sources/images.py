"""Image sequences: a folder or a glob of JPEG/PNG files played as a video at a given fps.

Files are ordered naturally (``frame2.jpg`` before ``frame10.jpg``). Every
image is decoded by FFmpeg (through PyAV) in strict mode, so a corrupt or
truncated file is caught, logged, counted in :attr:`corrupt_packets` and
skipped; the sequence goes on. Images may differ in size.
"""

from __future__ import annotations

import glob
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from visionflow.errors import CorruptStreamError, PipelineStateError, SourceNotFoundError
from visionflow.sources._pacing import Pacer
from visionflow.sources.base import SourceHealth, StateCallback, StateMachine, StreamState
from visionflow.types import Frame, ImageRGB

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
_DIGITS = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value: ``img2`` < ``img10``."""
    parts = _DIGITS.split(str(path))
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def list_images(pattern: str) -> list[Path]:
    """The image files of a folder, or matching a glob, in natural order.

    Raises:
        SourceNotFoundError: nothing matches (the message says what was searched).
    """
    folder = Path(pattern)
    if folder.is_dir():
        found = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        what = f"no .jpg/.jpeg/.png files in folder {pattern!r}"
    else:
        found = [Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file()]
        what = f"no files match the glob {pattern!r}"
    if not found:
        raise SourceNotFoundError(f"image source: {what}")
    return sorted(found, key=natural_key)


def decode_image(path: Path) -> ImageRGB:
    """Decode one JPEG/PNG strictly (``err_detect=explode``) to RGB.

    Raises:
        CorruptStreamError: FFmpeg cannot decode the whole image.
    """
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "explode"}
            for frame in container.decode(stream):
                return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise CorruptStreamError(f"image {str(path)!r} cannot be decoded: {exc}") from exc
    raise CorruptStreamError(f"image {str(path)!r} holds no picture")


class ImageSequenceSource:
    """Frames from image files at ``fps``; lossless, or camera-paced with ``realtime``.

    Args:
        pattern: a folder or a glob (``frames/**/*.png``).
        stream_id: id put in every frame; defaults to ``pattern``.
        fps: frame rate used for pts (``index / fps``) and pacing.
        loop: restart at the end, forever.
        realtime: pace frames at ``fps`` (then :attr:`is_live` is True).
        on_state: state transition observer.
    """

    def __init__(
        self,
        pattern: str,
        *,
        stream_id: str | None = None,
        fps: float = 30.0,
        loop: bool = False,
        realtime: bool = False,
        on_state: StateCallback | None = None,
    ) -> None:
        if not 0 < fps <= 1000:
            raise ValueError(f"fps must be in (0, 1000], got {fps}")
        self.pattern = pattern
        self.stream_id = stream_id if stream_id is not None else pattern
        self.loop = loop
        self.realtime = realtime
        self._fps = fps
        self._sm = StateMachine(self.stream_id, on_state)
        self._stop = threading.Event()
        self._paths: list[Path] | None = None
        self._corrupt = 0
        self._frames_read = 0
        self._last_error: str | None = None

    def __repr__(self) -> str:
        return f"ImageSequenceSource({self.stream_id!r}, {self.pattern!r}, {self._fps:g} fps)"

    @property
    def is_live(self) -> bool:
        """True only with ``realtime``: then the runtime may drop frames."""
        return self.realtime

    @property
    def fps(self) -> float:
        """The configured frame rate."""
        return self._fps

    @property
    def frame_count(self) -> int:
        """Images per pass (known after :meth:`open`)."""
        return len(self._paths) if self._paths is not None else 0

    @property
    def corrupt_packets(self) -> int:
        """Images skipped because they could not be decoded."""
        return self._corrupt

    def open(self) -> ImageSequenceSource:
        """List the images (idempotent).

        Raises:
            SourceNotFoundError: no image matches.
            PipelineStateError: the source was stopped.
        """
        if self._stop.is_set():
            raise PipelineStateError(f"source {self.stream_id!r} is stopped; create a new one")
        if self._paths is None:
            self._paths = list_images(self.pattern)
        return self

    def stop(self) -> None:
        """Stop from any thread; iteration ends before its next frame."""
        self._stop.set()
        self._sm.move(StreamState.STOPPED, "stop requested")

    def close(self) -> None:
        """Same as :meth:`stop` (nothing else is held open)."""
        self.stop()

    def health(self) -> SourceHealth:
        """State, history and counters."""
        return SourceHealth(
            stream_id=self.stream_id,
            state=self._sm.state,
            history=self._sm.history,
            reconnects=0,
            attempts=0,
            last_error=self._last_error,
            frames_read=self._frames_read,
            frames_dropped=0,
            fps_in=self._fps if self._sm.state is StreamState.STREAMING else 0.0,
            uri_masked=self.pattern,
        )

    def __iter__(self) -> Iterator[Frame]:
        self.open()
        return self._run()

    def _run(self) -> Iterator[Frame]:
        assert self._paths is not None
        pacer = Pacer(self._fps if self.realtime else 0.0, self._stop)
        while not self._stop.is_set():
            before = self._frames_read
            for path in self._paths:
                image = self._decode(path)
                if image is None:
                    continue
                if pacer.wait():
                    return
                yield self._frame(image)
            if self._frames_read == before:
                self._last_error = f"no image of {self.pattern!r} could be decoded"
                self._sm.move(StreamState.FAILED, self._last_error)
                raise CorruptStreamError(self._last_error)
            if not self.loop:
                self._sm.move(StreamState.ENDED, "last image")
                return

    def _decode(self, path: Path) -> ImageRGB | None:
        try:
            return decode_image(path)
        except CorruptStreamError as exc:
            self._corrupt += 1
            self._last_error = str(exc)
            logger.warning(
                "%s: skipped corrupt image (%d so far): %s", self.stream_id, self._corrupt, exc
            )
            return None

    def _frame(self, image: ImageRGB) -> Frame:
        if self._sm.state is StreamState.STARTING:
            self._sm.move(StreamState.STREAMING, "first image")
        n = self._frames_read
        self._frames_read += 1
        return Frame(self.stream_id, n, n / self._fps, time.monotonic_ns(), image)
