"""One entry point: build the right source for a URI (or a ``SourceConfig``).

=============  ==========================================  ==================
kind           URI                                         is_live
=============  ==========================================  ==================
file           ``data/vtest.mp4``, ``file:///x.mkv``        only ``realtime``
images         ``frames/``, ``frames/*.jpg``                only ``realtime``
rtsp           ``rtsp://user:pw@cam/stream``, ``rtsps://``  yes
http           ``https://host/live.m3u8``, ``http://.mp4``  unless finite
v4l2           ``/dev/video0``, ``v4l2:///dev/video0``      yes
synthetic      ``synthetic://?size=640x360&fps=30``         yes
=============  ==========================================  ==================
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

from visionflow.sources.backoff import ReconnectPolicy
from visionflow.sources.base import Source, StateCallback
from visionflow.sources.file import FileSource
from visionflow.sources.images import ImageSequenceSource
from visionflow.sources.network import http_source, rtsp_source, v4l2_source
from visionflow.sources.synthetic import synthetic_source
from visionflow.sources.uri import classify_uri, file_path

if TYPE_CHECKING:
    from visionflow.config.schema import SourceConfig


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Every option a source may take; each kind uses the ones that apply to it.

    Attributes:
        loop: restart finite sources (file, images) at their end.
        realtime: pace finite sources at their fps, like a camera.
        fps: image-sequence rate, or the rate requested from a V4L2 camera.
        rtsp_transport: ``tcp`` (default, survives NAT and loss) or ``udp``.
        latency_ms: RTSP jitter-buffer bound; None keeps FFmpeg's default.
        open_timeout_s: a connection attempt gives up after this long.
        stall_timeout_s: no frame / no pts progress for this long → STALLED.
        reconnect: backoff policy of live sources.
        video_size: V4L2 ``WIDTHxHEIGHT``; input_format: V4L2 pixel format/codec.
        decoder_threads: FFmpeg threads per live stream (1 scales best to many streams).
    """

    loop: bool = False
    realtime: bool = False
    fps: float | None = None
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    latency_ms: int | None = None
    open_timeout_s: float = 10.0
    stall_timeout_s: float = 5.0
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    video_size: str | None = None
    input_format: str | None = None
    decoder_threads: int = 1


DEFAULT_IMAGE_FPS = 30.0


def create_source(
    uri: str,
    *,
    stream_id: str,
    options: SourceOptions | None = None,
    on_state: StateCallback | None = None,
    rng: random.Random | None = None,
) -> Source:
    """Build (do not open) the source for ``uri``; see the module table for the kinds.

    Raises:
        ValueError: an unsupported scheme or malformed options (no I/O happened).
    """
    opts = options or SourceOptions()
    kind = classify_uri(uri)
    if kind == "file":
        return FileSource(
            file_path(uri),
            stream_id=stream_id,
            loop=opts.loop,
            realtime=opts.realtime,
            on_state=on_state,
        )
    if kind == "images":
        return ImageSequenceSource(
            file_path(uri),
            stream_id=stream_id,
            fps=opts.fps or DEFAULT_IMAGE_FPS,
            loop=opts.loop,
            realtime=opts.realtime,
            on_state=on_state,
        )
    if kind == "synthetic":
        return synthetic_source(
            uri, stream_id=stream_id, on_state=on_state, reconnect=opts.reconnect, rng=rng
        )
    return _network_source(kind, uri, stream_id, opts, on_state=on_state, rng=rng)


def _network_source(
    kind: str,
    uri: str,
    stream_id: str,
    opts: SourceOptions,
    *,
    on_state: StateCallback | None,
    rng: random.Random | None,
) -> Source:
    common = _Common(
        stream_id=stream_id,
        open_timeout_s=opts.open_timeout_s,
        stall_timeout_s=opts.stall_timeout_s,
        reconnect=opts.reconnect,
        on_state=on_state,
        rng=rng,
    )
    if kind == "rtsp":
        return rtsp_source(
            uri,
            rtsp_transport=opts.rtsp_transport,
            latency_ms=opts.latency_ms,
            decoder_threads=opts.decoder_threads,
            **common,
        )
    if kind == "http":
        return http_source(uri, decoder_threads=opts.decoder_threads, **common)
    return v4l2_source(
        uri, video_size=opts.video_size, fps=opts.fps, input_format=opts.input_format, **common
    )


class _Common(TypedDict):
    stream_id: str
    open_timeout_s: float
    stall_timeout_s: float
    reconnect: ReconnectPolicy
    on_state: StateCallback | None
    rng: random.Random | None


def open_source(
    uri: str,
    *,
    stream_id: str,
    options: SourceOptions | None = None,
    on_state: StateCallback | None = None,
    rng: random.Random | None = None,
) -> Source:
    """:func:`create_source`, then :meth:`Source.open`.

    Raises:
        SourceError: a file or image folder cannot be opened (live sources
            never raise for network trouble: watch their state instead).
        ValueError: as :func:`create_source`.
    """
    return create_source(
        uri, stream_id=stream_id, options=options, on_state=on_state, rng=rng
    ).open()


def options_from_config(config: SourceConfig) -> SourceOptions:
    """The :class:`SourceOptions` of one ``sources[i]`` config entry."""
    rc = config.reconnect
    return SourceOptions(
        loop=config.loop,
        realtime=config.realtime,
        fps=config.fps,
        rtsp_transport=config.rtsp_transport,
        latency_ms=config.latency_ms,
        open_timeout_s=config.open_timeout_s,
        stall_timeout_s=config.stall_timeout_s,
        reconnect=ReconnectPolicy(
            rc.initial_s, rc.max_s, rc.multiplier, rc.jitter, rc.max_attempts
        ),
        video_size=config.video_size,
        input_format=config.input_format,
    )


def source_from_config(
    config: SourceConfig, *, on_state: StateCallback | None = None, rng: random.Random | None = None
) -> Source:
    """Build (do not open) the source of one ``sources[i]`` config entry."""
    return create_source(
        config.uri,
        stream_id=config.id,
        options=options_from_config(config),
        on_state=on_state,
        rng=rng,
    )
