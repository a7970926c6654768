"""Opening a media file with PyAV, with every failure translated to visionflow errors.

This is the boundary where PyAV's exceptions become :mod:`visionflow.errors`:
each message is one line that names the path and says what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from visionflow.errors import SourceNotFoundError, SourceOpenError

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

ThreadType = Literal["AUTO", "FRAME", "SLICE", "NONE"]
"""FFmpeg decoder threading: ``AUTO`` (frame + slice), ``FRAME``, ``SLICE`` or ``NONE``."""


@dataclass(frozen=True, slots=True)
class VideoStreamInfo:
    """What the container header says about its first video stream.

    Attributes:
        codec: FFmpeg decoder name, e.g. ``h264``, ``hevc``, ``msmpeg4``.
        fps: average frame rate in frames per second (0.0 when unknown).
        frame_count: frames announced by the container, or an estimate from
            duration × fps; 0 when unknown. Never exact for damaged files.
        resolution_wh: ``(width, height)`` in pixels.
        time_base: seconds per pts tick.
    """

    codec: str
    fps: float
    frame_count: int
    resolution_wh: tuple[int, int]
    time_base: Fraction


def check_path(path: Path) -> None:
    """Fail early, with a precise reason, for paths FFmpeg would reject vaguely.

    Raises:
        SourceNotFoundError: ``path`` does not exist.
        SourceOpenError: ``path`` is a directory, unreadable, or empty.
    """
    if not path.exists():
        raise SourceNotFoundError(f"video source {str(path)!r} does not exist")
    if path.is_dir():
        raise SourceOpenError(f"video source {str(path)!r} is a directory, expected a video file")
    if not os.access(path, os.R_OK):
        raise SourceOpenError(f"video source {str(path)!r} is not readable (permission denied)")
    if path.stat().st_size == 0:
        raise SourceOpenError(f"video source {str(path)!r} is an empty file (0 bytes)")


def open_container(path: Path) -> InputContainer:
    """Open ``path`` with PyAV, translating its exceptions.

    Raises:
        SourceNotFoundError: the file vanished between the check and the open.
        SourceOpenError: not a media container FFmpeg recognises, truncated
            before its header ends, or unreadable.
    """
    import av

    try:
        return av.open(str(path), mode="r")
    except FileNotFoundError as exc:
        raise SourceNotFoundError(f"video source {str(path)!r} does not exist") from exc
    except av.error.InvalidDataError as exc:
        msg = f"video source {str(path)!r} is not a media file FFmpeg can read (invalid data)"
        raise SourceOpenError(msg) from exc
    except av.error.EOFError as exc:
        msg = f"video source {str(path)!r} ends before its container header (truncated?)"
        raise SourceOpenError(msg) from exc
    except (av.error.FFmpegError, OSError) as exc:
        msg = f"video source {str(path)!r} cannot be opened: {type(exc).__name__}: {exc}"
        raise SourceOpenError(msg) from exc


def first_video_stream(container: InputContainer, path: Path) -> VideoStream:
    """Return the first video stream, or raise :class:`SourceOpenError` naming what is there."""
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "no streams at all"
        msg = f"video source {str(path)!r} has no video stream (found: {kinds})"
        if all(s.type == "data" for s in container.streams):  # an index cut short
            msg += "; the file looks truncated or damaged"
        raise SourceOpenError(msg)
    return container.streams.video[0]


def configure_threads(stream: VideoStream, thread_type: ThreadType, thread_count: int) -> None:
    """Set decoder threading before the first packet; ``thread_count=0`` lets FFmpeg choose."""
    if thread_count < 0:
        raise ValueError(f"thread_count must be >= 0 (0 = auto), got {thread_count}")
    stream.thread_type = thread_type
    stream.codec_context.thread_count = thread_count


def stream_info(stream: VideoStream) -> VideoStreamInfo:
    """Read codec, rate, size and frame count from the stream header."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    time_base = stream.time_base or Fraction(1, 1)
    frame_count = int(stream.frames or 0)
    if frame_count == 0 and stream.duration and fps:
        frame_count = round(float(stream.duration * time_base) * fps)
    ctx = stream.codec_context
    return VideoStreamInfo(
        codec=ctx.name,
        fps=fps,
        frame_count=frame_count,
        resolution_wh=(int(ctx.width), int(ctx.height)),
        time_base=time_base,
    )
