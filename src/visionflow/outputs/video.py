"""Annotated-video file output: RGB frames → H.264 (or any FFmpeg encoder) in MP4/MKV.

Encoding runs in FFmpeg (libx264 uses its own threads); the Python side is
one ``from_ndarray`` + ``encode`` call per frame.
"""

from __future__ import annotations

import enum
import logging
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from visionflow.errors import OutputError, PipelineStateError
from visionflow.types import ImageRGB

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.packet import Packet
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

logger = logging.getLogger(__name__)

_X26X_CODECS = frozenset({"libx264", "libx264rgb", "libx265"})
"""Encoders that understand the ``crf`` and ``preset`` options."""


class WriterState(enum.Enum):
    """Lifecycle of a writer: ``NEW → OPEN → CLOSED`` (one way)."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


def frame_rate_fraction(fps: float) -> Fraction:
    """Exact rational frame rate for ``fps``.

    NTSC-style rates (29.97, 59.94, 23.976) become ``N*1000/1001``; other
    rates are the nearest fraction with a denominator of at most 1000.

    Raises:
        ValueError: ``fps`` is not a positive finite number.
    """
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    if abs(float(ntsc) - fps) < 5e-4 and float(ntsc) != round(fps):
        return ntsc
    return Fraction(fps).limit_denominator(1000)


def even_resolution(resolution_wh: tuple[int, int]) -> tuple[int, int]:
    """Round ``(width, height)`` down to even numbers, as 4:2:0 chroma needs."""
    width, height = resolution_wh
    if width < 2 or height < 2:
        raise ValueError(f"resolution_wh must be at least (2, 2) pixels, got {resolution_wh}")
    return width - width % 2, height - height % 2


class VideoWriter:
    """Encode RGB frames at a constant frame rate into a video file.

    Frame ``i`` gets ``pts = i`` in a time base of ``1 / fps`` (a
    :class:`~fractions.Fraction`, so 29.97 fps is exactly 30000/1001).

    Odd sizes: 4:2:0 pixel formats (``yuv420p``, the default) need even
    width and height, so frames of odd size are **cropped** by their last
    column and/or row (at most one pixel each; no copy, no padding border).
    :attr:`output_resolution_wh` gives the encoded size. The crop applies to
    every pixel format, for simplicity.

    Args:
        path: output file; the container comes from the extension (``.mp4``,
            ``.mkv``, ...). Parent directories are created.
        fps: frames per second, may be non-integer (29.97).
        resolution_wh: ``(width, height)`` of the frames passed to :meth:`write`.
        codec: FFmpeg encoder name.
        crf: constant rate factor (0 best … 51 worst); libx264/libx265 only.
        preset: x264/x265 speed preset (``ultrafast`` … ``veryslow``).
        pix_fmt: encoded pixel format.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float,
        resolution_wh: tuple[int, int],
        codec: str = "libx264",
        crf: int = 23,
        preset: str = "veryfast",
        pix_fmt: str = "yuv420p",
    ) -> None:
        self.path = Path(path)
        self.resolution_wh = (int(resolution_wh[0]), int(resolution_wh[1]))
        self.output_resolution_wh = even_resolution(self.resolution_wh)
        self.rate = frame_rate_fraction(fps)
        self.codec = codec
        self.pix_fmt = pix_fmt
        self._options = {"crf": str(crf), "preset": preset} if codec in _X26X_CODECS else {}
        self._state = WriterState.NEW
        self._container: OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._frames_written = 0

    @property
    def state(self) -> WriterState:
        """Current lifecycle state."""
        return self._state

    @property
    def frames_written(self) -> int:
        """Frames passed to the encoder so far."""
        return self._frames_written

    def open(self) -> VideoWriter:
        """Create the file and set up the encoder; a no-op when already open.

        Raises:
            PipelineStateError: the writer was closed.
            OutputError: the file or the encoder cannot be set up.
        """
        if self._state is WriterState.CLOSED:
            raise PipelineStateError(f"video writer for {str(self.path)!r} is closed")
        if self._state is WriterState.NEW:
            self._container, self._stream = self._create()
            self._state = WriterState.OPEN
        return self

    def write(self, image_rgb: ImageRGB) -> None:
        """Encode one ``[H, W, 3]`` uint8 RGB frame of size :attr:`resolution_wh`.

        Raises:
            PipelineStateError: the writer was closed.
            ValueError: the image has the wrong shape or dtype.
            OutputError: encoding or writing failed.
        """
        self.open()
        self._check_image(image_rgb)
        frame = self._to_video_frame(image_rgb)
        frame.pts = self._frames_written
        self._encode(frame)
        self._frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finalise the file (safe to call more than once).

        Raises:
            OutputError: flushing or finalising failed (the writer is closed anyway).
        """
        if self._state is WriterState.CLOSED:
            return
        self._state = WriterState.CLOSED
        container = self._container
        if container is None:
            return
        try:
            self._encode(None)
        finally:
            self._container = self._stream = None
            self._close_container(container)
        logger.debug("%s: wrote %d frames", self.path, self._frames_written)

    def __enter__(self) -> VideoWriter:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _create(self) -> tuple[OutputContainer, VideoStream]:
        import av

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            container = av.open(str(self.path), mode="w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise OutputError(f"cannot create video file {str(self.path)!r}: {exc}") from exc
        try:
            return container, self._add_stream(container)
        except BaseException:
            container.close()
            raise

    def _add_stream(self, container: OutputContainer) -> VideoStream:
        import av

        try:
            stream = container.add_stream(self.codec, rate=self.rate, options=self._options)
            if not isinstance(stream, av.video.stream.VideoStream):
                raise ValueError(f"{self.codec!r} is not a video encoder")
            stream.width, stream.height = self.output_resolution_wh
            stream.pix_fmt = self.pix_fmt
            stream.time_base = 1 / self.rate
            stream.codec_context.time_base = 1 / self.rate
        except (av.error.FFmpegError, ValueError, TypeError) as exc:
            where = f"{self.codec!r} ({self.pix_fmt}) for {str(self.path)!r}"
            msg = f"cannot set up encoder {where}: {exc}"
            raise OutputError(msg) from exc
        return stream

    def _check_image(self, image_rgb: ImageRGB) -> None:
        width, height = self.resolution_wh
        if image_rgb.shape != (height, width, 3) or image_rgb.dtype != np.uint8:
            raise ValueError(
                f"image_rgb must be [{height}, {width}, 3] uint8 "
                f"(resolution_wh={self.resolution_wh}), "
                f"got shape {image_rgb.shape} dtype {image_rgb.dtype}"
            )

    def _to_video_frame(self, image_rgb: ImageRGB) -> VideoFrame:
        from av.video.frame import VideoFrame

        width, height = self.output_resolution_wh
        return VideoFrame.from_ndarray(image_rgb[:height, :width], format="rgb24")

    def _encode(self, frame: VideoFrame | None) -> None:
        import av

        if self._stream is None or self._container is None:
            raise PipelineStateError(f"video writer for {str(self.path)!r} is not open")
        try:
            packets: list[Packet[VideoStream]] = self._stream.encode(frame)
            if packets:
                self._container.mux(packets)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise OutputError(f"encoding to {str(self.path)!r} failed: {exc}") from exc

    def _close_container(self, container: OutputContainer) -> None:
        import av

        try:
            container.close()
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot finalise video file {str(self.path)!r}: {exc}") from exc
