"""Which kind of source a URI names, and the FFmpeg arguments to open it (pure functions).

Nothing here touches the network, a device or PyAV, so all of it is unit-tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from visionflow.urls import mask_url

SourceKind = Literal["file", "rtsp", "http", "v4l2", "images", "synthetic"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("file", "rtsp", "http", "v4l2", "images", "synthetic")
LIVE_KINDS = frozenset({"rtsp", "http", "v4l2", "synthetic"})
"""Kinds paced by a camera or a clock (``http`` may turn out to be a finite file)."""

_V4L2_DEVICE = re.compile(r"^(?:v4l2://)?(/dev/video\d+)$")
_GLOB_CHARS = frozenset("*?[")
_SCHEMES: dict[str, SourceKind] = {
    "rtsp": "rtsp",
    "rtsps": "rtsp",
    "http": "http",
    "https": "http",
    "synthetic": "synthetic",
}


def classify_uri(uri: str) -> SourceKind:
    """The kind of source ``uri`` names.

    ``rtsp(s)://`` → rtsp; ``http(s)://`` (files, HLS ``.m3u8``) → http;
    ``/dev/videoN`` or ``v4l2:///dev/videoN`` → v4l2; ``synthetic://`` →
    synthetic; a path with ``*?[`` or an existing directory → images;
    ``file://`` or any other path → file.

    Raises:
        ValueError: an unsupported URL scheme (the message lists the supported ones).
    """
    if _V4L2_DEVICE.match(uri):
        return "v4l2"
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    if scheme in _SCHEMES:
        return _SCHEMES[scheme]
    if scheme not in ("", "file"):
        raise ValueError(
            f"unsupported source URI scheme {scheme!r} in {mask_url(uri)!r}; supported: "
            "rtsp://, rtsps://, http(s):// (incl. HLS .m3u8), file://, synthetic://, "
            "/dev/videoN, a video file, an image folder or a glob like 'frames/*.jpg'"
        )
    path = file_path(uri)
    if _GLOB_CHARS & set(path) or Path(path).is_dir():
        return "images"
    return "file"


def file_path(uri: str) -> str:
    """The local path of a ``file://`` URI or a plain path."""
    return urlsplit(uri).path if uri.startswith("file://") else uri


def rtsp_options(
    transport: Literal["tcp", "udp"] = "tcp", latency_ms: int | None = None
) -> dict[str, str]:
    """FFmpeg demuxer options for an RTSP camera.

    ``latency_ms`` bounds the jitter/reorder buffer (``max_delay``, in µs);
    0 also disables input buffering (``fflags=nobuffer``) for the lowest
    latency at the cost of jitter. Timeouts are set by the caller through
    PyAV's interrupt-based ``timeout`` argument, which works for every protocol.
    """
    if transport not in ("tcp", "udp"):
        raise ValueError(f"rtsp_transport must be 'tcp' or 'udp', got {transport!r}")
    # 0.5 s of probing is plenty: RTSP announces the codec in its SDP, and
    # FFmpeg's default (5 s budget, ~2 s in practice) would delay every reconnect
    options = {"rtsp_transport": transport, "analyzeduration": "500000"}
    if latency_ms is not None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        options["max_delay"] = str(latency_ms * 1000)
        if latency_ms == 0:
            options["fflags"] = "nobuffer"
    return options


def http_options() -> dict[str, str]:
    """FFmpeg options for HTTP/HLS: FFmpeg's own reconnect is off (the source's loop owns it)."""
    return {"reconnect": "0", "reconnect_streamed": "0", "multiple_requests": "1"}


@dataclass(frozen=True, slots=True)
class V4l2OpenArgs:
    """Arguments of ``av.open(file, format=format, options=options)`` for a V4L2 camera."""

    file: str
    format: str = "v4l2"
    options: dict[str, str] = field(default_factory=dict)


_SIZE = re.compile(r"^[1-9]\d{0,4}x[1-9]\d{0,4}$")
_V4L2_INPUT_FORMATS = frozenset({"mjpeg", "h264", "yuyv422", "nv12", "yuv420p", "rgb24", "gray"})


def v4l2_open_args(
    uri: str,
    *,
    video_size: str | None = None,
    fps: float | None = None,
    input_format: str | None = None,
) -> V4l2OpenArgs:
    """Build FFmpeg's V4L2 demuxer arguments for ``/dev/videoN`` (``v4l2://`` prefix allowed).

    Args:
        uri: ``/dev/video0`` or ``v4l2:///dev/video0``.
        video_size: ``WIDTHxHEIGHT`` the camera should deliver, e.g. ``1280x720``.
        fps: frame rate to request (``framerate``).
        input_format: pixel format or codec the camera should send, e.g.
            ``mjpeg`` (most USB cameras need it for 720p30 and above) or ``yuyv422``.

    Raises:
        ValueError: a malformed device path, size, rate or an unknown input format.
    """
    match = _V4L2_DEVICE.match(uri)
    if match is None:
        raise ValueError(f"V4L2 device must look like /dev/video<N>, got {uri!r}")
    options: dict[str, str] = {}
    if video_size is not None:
        if not _SIZE.match(video_size):
            raise ValueError(f"video_size must be WIDTHxHEIGHT like '1280x720', got {video_size!r}")
        options["video_size"] = video_size
    if fps is not None:
        if not 0 < fps <= 1000:
            raise ValueError(f"fps must be in (0, 1000], got {fps}")
        options["framerate"] = f"{fps:g}"
    if input_format is not None:
        if input_format not in _V4L2_INPUT_FORMATS:
            raise ValueError(
                f"input_format {input_format!r} is not a V4L2 format FFmpeg accepts here; "
                f"allowed: {sorted(_V4L2_INPUT_FORMATS)}"
            )
        options["input_format"] = input_format
    return V4l2OpenArgs(file=match.group(1), options=options)


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """A parsed ``synthetic://?size=WxH&fps=F&pattern=P`` URI."""

    resolution_wh: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    pattern: Literal["boxes", "gradient"] = "boxes"


def parse_synthetic(uri: str) -> SyntheticSpec:
    """Parse a synthetic URI; unknown keys and bad values raise :class:`ValueError`."""
    query = parse_qs(urlsplit(uri).query, keep_blank_values=True)
    unknown = sorted(set(query) - {"size", "fps", "pattern"})
    if unknown:
        raise ValueError(
            f"synthetic URI {uri!r}: unknown keys {unknown}; allowed: fps, pattern, size"
        )
    spec = SyntheticSpec()
    size = query.get("size", [None])[-1]
    if size is not None:
        if not _SIZE.match(size):
            raise ValueError(f"synthetic URI size must be WIDTHxHEIGHT, got {size!r}")
        w, h = (int(v) for v in size.split("x"))
        spec = SyntheticSpec((w, h), spec.fps, spec.pattern)
    fps = query.get("fps", [None])[-1]
    if fps is not None:
        try:
            rate = float(fps)
        except ValueError:
            rate = -1.0
        if not 0 < rate <= 1000:
            raise ValueError(f"synthetic URI fps must be a number in (0, 1000], got {fps!r}")
        spec = SyntheticSpec(spec.resolution_wh, rate, spec.pattern)
    pattern = query.get("pattern", [None])[-1]
    if pattern is not None:
        if pattern not in ("boxes", "gradient"):
            raise ValueError(
                f"synthetic URI pattern must be 'boxes' or 'gradient', got {pattern!r}"
            )
        spec = SyntheticSpec(spec.resolution_wh, spec.fps, pattern)  # type: ignore[arg-type]
    return spec


OPTION_KINDS: dict[str, frozenset[SourceKind]] = {
    "loop": frozenset({"file", "images"}),
    "realtime": frozenset({"file", "images"}),
    "fps": frozenset({"images", "v4l2"}),
    "rtsp_transport": frozenset({"rtsp"}),
    "latency_ms": frozenset({"rtsp"}),
    "open_timeout_s": frozenset({"rtsp", "http", "v4l2"}),
    "stall_timeout_s": frozenset({"rtsp", "http", "v4l2"}),
    "reconnect": frozenset({"rtsp", "http", "v4l2"}),
    "video_size": frozenset({"v4l2"}),
    "input_format": frozenset({"v4l2"}),
}
"""Which source kinds each per-source option applies to (the config rejects the others)."""


def misplaced_options(kind: SourceKind, given: set[str]) -> list[str]:
    """One message per option in ``given`` that does not apply to a ``kind`` source."""
    return [
        f"option {name!r} does not apply to a {kind} source "
        f"(it applies to: {', '.join(sorted(OPTION_KINDS[name]))})"
        for name in sorted(given & set(OPTION_KINDS))
        if kind not in OPTION_KINDS[name]
    ]
