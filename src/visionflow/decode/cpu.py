"""CPU video decoding with PyAV (FFmpeg): any container and codec FFmpeg reads.

:class:`CpuDecoder` owns one PyAV input container. It demuxes the first video
stream, decodes it on FFmpeg's own threads (the GIL is released while FFmpeg
works) and converts each picture to an RGB ``[H, W, 3]`` uint8 array.

Damaged input is expected, not exceptional: a packet the decoder rejects is
skipped, counted (:attr:`CpuDecoder.corrupt_packets`) and logged; only a long
run of consecutive failures, or a stream from which no frame at all could be
decoded, raises :class:`~visionflow.errors.CorruptStreamError`. A file that
ends early (truncated) simply ends, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from visionflow.decode._open import (
    ThreadType,
    VideoStreamInfo,
    check_path,
    configure_threads,
    first_video_stream,
    open_container,
    stream_info,
)
from visionflow.errors import CorruptStreamError, PipelineStateError
from visionflow.types import ImageRGB

if TYPE_CHECKING:
    import os

    from av.container import InputContainer
    from av.packet import Packet
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONSECUTIVE_ERRORS = 25
"""Consecutive undecodable packets after which a stream is declared corrupt."""


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """One decoded picture.

    Attributes:
        pts_seconds: presentation time in seconds from the stream time base,
            ``None`` when the container gives no timestamp.
        image_rgb: ``[H, W, 3]`` uint8 RGB, C-contiguous.
    """

    pts_seconds: float | None
    image_rgb: ImageRGB


class CpuDecoder:
    """Decode the first video stream of a media file to RGB arrays on the CPU.

    Not thread-safe: one thread calls :meth:`decode`, :meth:`rewind` and
    :meth:`close` (the owning source arranges that).

    Args:
        path: media file in any container/codec FFmpeg reads.
        thread_type: FFmpeg decoder threading; ``AUTO`` uses frame and slice
            threads (fastest; adds a few frames of decoder latency).
        thread_count: decoder threads; 0 lets FFmpeg pick (≈ CPU count).
        max_consecutive_errors: undecodable packets in a row after which
            :class:`CorruptStreamError` is raised.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        thread_type: ThreadType = "AUTO",
        thread_count: int = 0,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ) -> None:
        if max_consecutive_errors < 1:
            raise ValueError(f"max_consecutive_errors must be >= 1, got {max_consecutive_errors}")
        self.path = Path(path)
        self._thread_type: ThreadType = thread_type
        self._thread_count = thread_count
        self._max_errors = max_consecutive_errors
        self._container: InputContainer | None = None
        self._stream: VideoStream | None = None
        self._info: VideoStreamInfo | None = None
        self._corrupt = 0
        self._consecutive = 0
        self._decoded_total = 0

    @property
    def info(self) -> VideoStreamInfo:
        """Stream header facts; available after :meth:`open`."""
        if self._info is None:
            raise PipelineStateError(f"decoder for {str(self.path)!r} is not open; call open()")
        return self._info

    @property
    def corrupt_packets(self) -> int:
        """Packets skipped because the demuxer or decoder rejected them."""
        return self._corrupt

    def open(self) -> VideoStreamInfo:
        """Open the file and read its header (idempotent while open).

        Raises:
            SourceNotFoundError: the path does not exist.
            SourceOpenError: not a readable video file; the message says why.
        """
        if self._info is not None:
            self._require_open()  # a closed decoder is not reopened
            return self._info
        check_path(self.path)
        container = open_container(self.path)
        try:
            stream = first_video_stream(container, self.path)
            configure_threads(stream, self._thread_type, self._thread_count)
        except BaseException:
            container.close()
            raise
        self._container, self._stream = container, stream
        self._info = stream_info(stream)
        return self._info

    def decode(self) -> Iterator[DecodedImage]:
        """Yield pictures from the current position to the end of the stream.

        One pass; call :meth:`rewind` to start again from the beginning.

        Raises:
            CorruptStreamError: too many consecutive undecodable packets, or
                the stream ended without a single decodable frame.
        """
        container, stream = self._require_open()
        decoded = 0
        for packet in self._packets(container, stream):
            for frame in self._decode_packet(stream, packet):
                decoded += 1
                yield _to_image(frame)
        for frame in self._drain(stream):
            decoded += 1
            yield _to_image(frame)
        self._decoded_total += decoded
        self._check_pass(decoded)

    def rewind(self) -> None:
        """Seek to the start of the stream and reset the decoder."""
        import av

        container, stream = self._require_open()
        try:
            container.seek(0, stream=stream)
        except av.error.FFmpegError as exc:
            msg = f"cannot seek to the start of {str(self.path)!r}: {exc}"
            raise CorruptStreamError(msg) from exc
        stream.codec_context.flush_buffers()

    def close(self) -> None:
        """Release the container (safe to call more than once)."""
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            container.close()

    def _require_open(self) -> tuple[InputContainer, VideoStream]:
        if self._container is None or self._stream is None:
            state = "closed" if self._info is not None else "not open"
            raise PipelineStateError(f"decoder for {str(self.path)!r} is {state}")
        return self._container, self._stream

    def _packets(
        self, container: InputContainer, stream: VideoStream
    ) -> Iterator[Packet[VideoStream]]:
        """Demux packets; a demuxer error ends the pass (the rest is unreadable)."""
        import av

        try:
            yield from container.demux(stream)
        except av.error.FFmpegError as exc:
            self._corrupt += 1
            logger.warning("%s: demuxing stopped early: %s", self.path, exc)

    def _decode_packet(self, stream: VideoStream, packet: Packet[VideoStream]) -> list[VideoFrame]:
        import av

        try:
            frames = stream.codec_context.decode(packet)
        except av.error.FFmpegError as exc:
            self._on_corrupt_packet(packet, exc)
            return []
        self._consecutive = 0
        return frames

    def _drain(self, stream: VideoStream) -> list[VideoFrame]:
        """Frames still inside a threaded decoder when demuxing stopped without a flush packet."""
        import av

        try:
            return stream.codec_context.decode(None)
        except av.error.FFmpegError:  # already flushed (the normal end) or nothing left
            return []

    def _on_corrupt_packet(self, packet: Packet[VideoStream], exc: Exception) -> None:
        self._corrupt += 1
        self._consecutive += 1
        logger.warning(
            "%s: skipped undecodable packet (pts %s, %d in a row, %d total): %s",
            self.path,
            packet.pts,
            self._consecutive,
            self._corrupt,
            exc,
        )
        if self._consecutive >= self._max_errors:
            msg = (
                f"video source {str(self.path)!r} is corrupt: {self._consecutive} consecutive "
                f"packets could not be decoded (limit max_consecutive_errors={self._max_errors})"
            )
            raise CorruptStreamError(msg) from exc

    def _check_pass(self, decoded: int) -> None:
        if self._decoded_total == 0:
            msg = (
                f"video source {str(self.path)!r} yielded no decodable frame "
                f"({self._corrupt} corrupt packets)"
            )
            raise CorruptStreamError(msg)
        expected = self.info.frame_count
        if decoded < expected:
            logger.warning(
                "%s: stream ended early after %d of %d expected frames (truncated or damaged)",
                self.path,
                decoded,
                expected,
            )


def _to_image(frame: VideoFrame) -> DecodedImage:
    image: ImageRGB = np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    pts = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
    return DecodedImage(pts, image)
