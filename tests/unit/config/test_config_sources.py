"""The ``sources[i]`` options: kinds, validation with YAML paths, docs, and file checks."""

from __future__ import annotations

import random

import pytest

from visionflow.config import check_files, default_yaml, parse_config
from visionflow.config.schema import SourceConfig
from visionflow.errors import ConfigError
from visionflow.sources import ReconnectPolicy, options_from_config, source_from_config

MODEL = "model: {cfg: a.cfg, weights: a.weights, names: a.names}\n"


def _cfg(sources: str) -> str:
    return f"sources: {sources}\n{MODEL}"


def test_every_source_option_is_documented_in_default_yaml() -> None:
    text = default_yaml()
    for key in SourceConfig.model_fields:
        assert f"{key}:" in text, f"sources[].{key} is not documented in default.yaml"
    for key in ("initial_s", "max_s", "multiplier", "jitter", "max_attempts"):
        assert f"{key}:" in text, f"sources[].reconnect.{key} is not documented"


@pytest.mark.parametrize(
    ("sources", "kind"),
    [
        ("[{id: a, uri: data/vtest.mp4, realtime: true, loop: true}]", "file"),
        ("[{id: a, uri: 'rtsp://u:p@cam/s', rtsp_transport: udp, latency_ms: 0}]", "rtsp"),
        ("[{id: a, uri: 'https://h/l.m3u8', stall_timeout_s: 3, open_timeout_s: 4}]", "http"),
        ("[{id: a, uri: /dev/video0, fps: 30, video_size: 1280x720, input_format: mjpeg}]", "v4l2"),
        ("[{id: a, uri: 'frames/*.jpg', fps: 12.5, loop: true}]", "images"),
        ("[{id: a, uri: 'synthetic://?size=320x240'}]", "synthetic"),
    ],
)
def test_valid_sources_per_kind(sources: str, kind: str) -> None:
    assert parse_config(_cfg(sources)).sources[0].kind == kind


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (
            "[{id: a, uri: data/vtest.mp4, rtsp_transport: udp}]",
            "sources[0]: option 'rtsp_transport' does not apply to a file source",
        ),
        (
            "[{id: a, uri: x.mp4}, {id: b, uri: 'rtsp://cam/s', loop: true}]",
            "sources[1]: option 'loop' does not apply to a rtsp source",
        ),
        ("[{id: a, uri: 'rtsp://c/s', rtsp_transport: quic}]", "sources[0].rtsp_transport"),
        ("[{id: a, uri: 'rtsp://c/s', latency_ms: -1}]", "sources[0].latency_ms"),
        ("[{id: a, uri: 'rtsp://c/s', stall_timeout_s: 0}]", "sources[0].stall_timeout_s"),
        (
            "[{id: a, uri: 'rtsp://c/s', reconnect: {initial_s: 5, max_s: 1}}]",
            "sources[0].reconnect: max_s (1.0) must be >= initial_s (5.0)",
        ),
        ("[{id: a, uri: 'rtsp://c/s', reconnect: {jitter: lots}}]", "sources[0].reconnect.jitter"),
        (
            "[{id: a, uri: 'rtsp://c/s', reconnect: {max_attempts: 0}}]",
            "sources[0].reconnect.max_attempts",
        ),
        ("[{id: a, uri: /dev/video0, video_size: big}]", "sources[0].video_size"),
        ("[{id: a, uri: 'ftp://h/x.mp4'}]", "unsupported source URI scheme 'ftp'"),
    ],
)
def test_invalid_source_options_name_their_yaml_path(sources: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_cfg(sources))
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_passwords_do_not_leak_into_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_cfg("[{id: a, uri: 'rtsp://admin:hunter22@cam/s', loop: true}]"))
    assert "hunter22" not in str(info.value)


def test_check_files_only_checks_file_uris() -> None:
    config = parse_config(
        _cfg(
            "[{id: a, uri: missing.mp4}, {id: b, uri: 'rtsp://cam/s'}, {id: c, uri: /dev/video9},"
            " {id: d, uri: 'synthetic://'}, {id: e, uri: 'file:///nowhere/x.mkv'}]"
        )
    )
    sources = [p for p in check_files(config) if p.startswith("sources")]
    assert sources == [
        "sources[0].uri: file not found (got 'missing.mp4')",
        "sources[4].uri: file not found (got 'file:///nowhere/x.mkv')",
    ]


def test_config_reaches_the_source() -> None:
    config = parse_config(
        _cfg(
            "[{id: cam, uri: 'rtsp://c/s', stall_timeout_s: 2.5, "
            "reconnect: {initial_s: 1, max_s: 4, multiplier: 3, jitter: none, max_attempts: 5}}]"
        )
    )
    options = options_from_config(config.sources[0])
    assert options.reconnect == ReconnectPolicy(1.0, 4.0, 3.0, "none", 5)
    assert options.stall_timeout_s == 2.5
    source = source_from_config(config.sources[0], rng=random.Random(0))
    assert source.stream_id == "cam" and source.is_live
    source.close()
