"""Live sources over FFmpeg: RTSP cameras, HTTP(S)/HLS streams and V4L2 devices.

Each function returns a :class:`~visionflow.sources.live.LiveSource` whose
``connect`` opens one :class:`~visionflow.sources._session.AvSession` with
the right demuxer options (built by the pure functions of
:mod:`visionflow.sources.uri`).
"""

from __future__ import annotations

import random
from functools import partial
from typing import Literal

from visionflow.sources._session import AvSession, PermanentSourceError
from visionflow.sources.backoff import ReconnectPolicy
from visionflow.sources.base import StateCallback
from visionflow.sources.live import LiveSource
from visionflow.sources.uri import http_options, rtsp_options, v4l2_open_args
from visionflow.urls import mask_url


def rtsp_source(
    uri: str,
    *,
    stream_id: str,
    rtsp_transport: Literal["tcp", "udp"] = "tcp",
    latency_ms: int | None = None,
    open_timeout_s: float = 10.0,
    stall_timeout_s: float = 5.0,
    reconnect: ReconnectPolicy | None = None,
    on_state: StateCallback | None = None,
    rng: random.Random | None = None,
    decoder_threads: int = 1,
) -> LiveSource:
    """An RTSP camera (TCP interleaved by default; ``udp`` for lower latency on clean LANs)."""
    options = rtsp_options(rtsp_transport, latency_ms)
    connect = partial(
        AvSession,
        uri,
        options=options,
        open_timeout_s=open_timeout_s,
        read_timeout_s=stall_timeout_s,
        decoder_threads=decoder_threads,
        live_hint=True,
    )
    return LiveSource(
        uri,
        connect,
        stream_id=stream_id,
        reconnect=reconnect,
        stall_timeout_s=stall_timeout_s,
        on_state=on_state,
        rng=rng,
    )


def http_source(
    uri: str,
    *,
    stream_id: str,
    open_timeout_s: float = 10.0,
    stall_timeout_s: float = 5.0,
    reconnect: ReconnectPolicy | None = None,
    on_state: StateCallback | None = None,
    rng: random.Random | None = None,
    decoder_threads: int = 1,
) -> LiveSource:
    """An HTTP(S) stream or file, including HLS playlists (``.m3u8``).

    It is live (reconnects at end of stream) unless a connection announces a
    finite duration (a plain file, a VOD playlist): then it ends at EOF.
    ``open()`` waits up to ``open_timeout_s`` for the first connection so
    that ``is_live`` is settled when it returns.
    """
    connect = partial(
        AvSession,
        uri,
        options=http_options(),
        open_timeout_s=open_timeout_s,
        read_timeout_s=stall_timeout_s,
        decoder_threads=decoder_threads,
        live_hint=None,
    )
    return LiveSource(
        uri,
        connect,
        stream_id=stream_id,
        reconnect=reconnect,
        stall_timeout_s=stall_timeout_s,
        on_state=on_state,
        rng=rng,
        open_wait_s=open_timeout_s,
    )


def _open_v4l2(
    device: str, options: dict[str, str], open_timeout_s: float, stall_timeout_s: float
) -> AvSession:
    import av

    if "v4l2" not in av.formats_available:
        raise PermanentSourceError(
            f"V4L2 device {device!r}: this PyAV's FFmpeg has no v4l2 input (PyPI wheels ship "
            "without it); build PyAV against the system FFmpeg: "
            "`apt install libavdevice-dev && pip install av --no-binary av`"
        )
    return AvSession(
        device,
        format="v4l2",
        options=options,
        open_timeout_s=open_timeout_s,
        read_timeout_s=stall_timeout_s,
        live_hint=True,
    )


def v4l2_source(
    uri: str,
    *,
    stream_id: str,
    video_size: str | None = None,
    fps: float | None = None,
    input_format: str | None = None,
    open_timeout_s: float = 10.0,
    stall_timeout_s: float = 5.0,
    reconnect: ReconnectPolicy | None = None,
    on_state: StateCallback | None = None,
    rng: random.Random | None = None,
) -> LiveSource:
    """A V4L2 camera (``/dev/videoN``); size, rate and pixel format are requested from it.

    Raises:
        ValueError: malformed device path or options (checked before any I/O).
    """
    args = v4l2_open_args(uri, video_size=video_size, fps=fps, input_format=input_format)
    connect = partial(_open_v4l2, args.file, args.options, open_timeout_s, stall_timeout_s)
    return LiveSource(
        mask_url(uri),
        connect,
        stream_id=stream_id,
        reconnect=reconnect,
        stall_timeout_s=stall_timeout_s,
        on_state=on_state,
        rng=rng,
        nominal_fps=fps or 0.0,
    )
