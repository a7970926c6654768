"""One connection to a live stream: open it with PyAV, then demux + decode until it ends.

A session is single-use and owned by one thread (the source's reader).
Failures are translated here, once, into :mod:`visionflow.errors` with the
URL masked: :class:`StreamTimeoutError` (no data within the read timeout, i.e. a
stall), :class:`PermanentSourceError` (retrying cannot help) and plain
:class:`~visionflow.errors.SourceOpenError` / ``CorruptStreamError``
(retryable).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from visionflow.errors import CorruptStreamError, SourceError, SourceOpenError
from visionflow.types import ImageRGB
from visionflow.urls import mask_text, mask_url

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

logger = logging.getLogger(__name__)

DecodedPicture = tuple[float | None, ImageRGB]
"""``(pts_seconds or None, image_rgb)``."""


class StreamTimeoutError(SourceError):
    """No data arrived within the read timeout (the stream stalled)."""


class PermanentSourceError(SourceOpenError):
    """A failure that retrying cannot fix (unsupported device, no video stream)."""


class Session(Protocol):
    """An open connection delivering decoded pictures."""

    fps: float
    frame_count: int
    finite: bool
    corrupt_packets: int

    def pictures(self) -> Iterator[DecodedPicture]:
        """Pictures until the stream ends (EOF); raises on errors and timeouts."""
        ...

    def close(self) -> None:
        """Release the connection (idempotent)."""
        ...


def _translate(exc: Exception, url: str, doing: str, timeout_s: float) -> SourceError:
    import av

    where = mask_url(url)
    # PyAV appends the URL to its messages; strerror is the reason alone
    reason = getattr(exc, "strerror", None) or str(exc)
    detail = mask_text(f"{type(exc).__name__}: {reason}", url)
    if isinstance(exc, av.error.ExitError):
        return StreamTimeoutError(
            f"stream {where!r}: no answer for {timeout_s:g} s while {doing} (timed out)"
        )
    if isinstance(exc, av.error.InvalidDataError):
        return SourceOpenError(
            f"stream {where!r}: the server answered data FFmpeg cannot parse while {doing} "
            f"(invalid data; is it really this protocol?): {detail}"
        )
    return SourceOpenError(f"stream {where!r}: error while {doing}: {detail}")


class AvSession:
    """A PyAV input container on a network URL or device, decoding its first video stream.

    Args:
        url: what to open (credentials allowed; never logged unmasked).
        format: FFmpeg demuxer name (``v4l2``), or None to probe.
        options: FFmpeg demuxer / protocol options.
        open_timeout_s: give up opening after this long without progress.
        read_timeout_s: a read waiting longer than this raises :class:`StreamTimeoutError`.
        decoder_threads: FFmpeg decoder threads (1 keeps many streams cheap).
        max_consecutive_errors: undecodable packets in a row before
            :class:`CorruptStreamError`.
        live_hint: None → finite when the container announces a duration
            (HTTP files, VOD HLS); True → never finite (RTSP, cameras).
    """

    def __init__(
        self,
        url: str,
        *,
        format: str | None = None,
        options: dict[str, str] | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        decoder_threads: int = 1,
        max_consecutive_errors: int = 25,
        live_hint: bool | None = True,
    ) -> None:
        self._url = url
        self._max_errors = max_consecutive_errors
        self._read_timeout_s = read_timeout_s
        self._container, self._stream = self._open(
            format, options or {}, (open_timeout_s, read_timeout_s), decoder_threads
        )
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        duration = self._container.duration
        self.finite = live_hint is None and duration is not None and duration > 0
        self.frame_count = int(self._stream.frames or 0) if self.finite else 0
        self.corrupt_packets = 0

    def _open(
        self,
        format: str | None,
        options: dict[str, str],
        timeout: tuple[float, float],
        threads: int,
    ) -> tuple[InputContainer, VideoStream]:
        import av

        try:
            container = av.open(self._url, format=format, options=options, timeout=timeout)
        except (av.error.FFmpegError, OSError) as exc:  # OSError: plain errnos (refused)
            raise _translate(exc, self._url, "opening", timeout[0]) from None
        if not container.streams.video:
            kinds = ", ".join(s.type for s in container.streams) or "no streams"
            container.close()
            msg = f"stream {mask_url(self._url)!r} has no video stream (found: {kinds})"
            raise PermanentSourceError(msg)
        stream = container.streams.video[0]
        stream.thread_type = "SLICE" if threads == 1 else "AUTO"
        stream.codec_context.thread_count = threads
        return container, stream

    def pictures(self) -> Iterator[DecodedPicture]:
        """Decoded pictures until EOF; demux/decode errors raise (translated, masked)."""
        import av

        consecutive = 0
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = self._stream.codec_context.decode(packet)
                except av.error.FFmpegError as exc:
                    consecutive += 1
                    self._on_corrupt(exc, consecutive)
                    continue
                consecutive = 0
                for frame in frames:
                    image: ImageRGB = np.ascontiguousarray(
                        frame.to_ndarray(format="rgb24"), dtype=np.uint8
                    )
                    tb = frame.time_base
                    pts = float(frame.pts * tb) if frame.pts is not None and tb else None
                    yield pts, image
        except (av.error.FFmpegError, OSError) as exc:
            raise _translate(exc, self._url, "reading", self._read_timeout_s) from None

    def _on_corrupt(self, exc: Exception, consecutive: int) -> None:
        self.corrupt_packets += 1
        logger.warning(
            "%s: skipped undecodable packet (%d in a row): %s",
            mask_url(self._url),
            consecutive,
            mask_text(str(exc), self._url),
        )
        if consecutive >= self._max_errors:
            raise CorruptStreamError(
                f"stream {mask_url(self._url)!r}: {consecutive} consecutive packets could not "
                f"be decoded (limit {self._max_errors})"
            )

    def close(self) -> None:
        """Close the container (idempotent)."""
        container, self._container = self._container, None  # type: ignore[assignment]
        if container is not None:
            container.close()


def stop_aware_sleep(stop: threading.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when ``stop`` was set meanwhile."""
    return stop.wait(max(0.0, seconds))
