"""URI kinds, credential masking and the FFmpeg arguments built for each kind (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.events.redact import mask_url as redact_mask_url
from visionflow.sources.uri import (
    SyntheticSpec,
    V4l2OpenArgs,
    classify_uri,
    misplaced_options,
    parse_synthetic,
    rtsp_options,
    v4l2_open_args,
)
from visionflow.urls import mask_text, mask_url, url_password


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("rtsp://cam.local:554/stream1", "rtsp"),
        ("RTSP://admin:pw@10.0.0.5/h264", "rtsp"),
        ("rtsps://cam/stream", "rtsp"),
        ("http://host/video.mp4", "http"),
        ("https://cdn.example.com/live/index.m3u8", "http"),
        ("/dev/video0", "v4l2"),
        ("/dev/video12", "v4l2"),
        ("v4l2:///dev/video2", "v4l2"),
        ("synthetic://?size=640x360&fps=15", "synthetic"),
        ("data/vtest.mp4", "file"),
        ("file:///videos/a.mkv", "file"),
        ("frames/*.jpg", "images"),
        ("frames/img_[0-9].png", "images"),
        ("/dev/videoX", "file"),
    ],
)
def test_classify_uri(uri: str, kind: str) -> None:
    assert classify_uri(uri) == kind


def test_an_existing_folder_is_an_image_source(tmp_path: Path) -> None:
    assert classify_uri(str(tmp_path)) == "images"


@pytest.mark.parametrize("uri", ["ftp://host/a.mp4", "rtmp://u:pw@host/live"])
def test_unsupported_schemes_are_named_with_the_supported_ones(uri: str) -> None:
    with pytest.raises(ValueError, match="unsupported source URI scheme") as info:
        classify_uri(uri)
    assert "rtsp://" in str(info.value) and "pw@" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:hunter2@cam:554/s1", "rtsp://admin:***@cam:554/s1"),
        ("rtsp://:hunter2@cam/s", "rtsp://:***@cam/s"),
        ("rtsp://admin@cam/s", "rtsp://admin@cam/s"),
        ("rtsp://cam/s?user=a", "rtsp://cam/s?user=a"),
        ("rtsp://u:p%40ss@cam/s", "rtsp://u:***@cam/s"),
        ("http://u:pw@[::1]:8080/live.m3u8", "http://u:***@[::1]:8080/live.m3u8"),
        ("rtsp://u:pw@cam:99999/s", "rtsp://u:***@cam:99999/s"),  # bad port: regex path
        ("data/vtest.mp4", "data/vtest.mp4"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert redact_mask_url(url) == masked  # the broker code's import path still works


def test_mask_text_hides_urls_and_the_bare_password() -> None:
    url = "rtsp://admin:s3cr%21t@cam/s"
    text = "401 for rtsp://admin:s3cr%21t@cam/s (user admin, password s3cr!t)"
    assert mask_text(text, url) == "401 for rtsp://admin:***@cam/s (user admin, password ***)"
    assert url_password(url) == "s3cr%21t"
    assert url_password("rtsp://cam/s") is None


def test_mask_text_leaves_short_passwords_in_prose() -> None:
    # a 1-2 character password would blank out ordinary letters everywhere
    assert mask_text("connection reset by peer", "rtsp://u:e@cam/s") == "connection reset by peer"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"rtsp_transport": "tcp", "analyzeduration": "500000"}),
        ({"transport": "udp"}, {"rtsp_transport": "udp", "analyzeduration": "500000"}),
        (
            {"latency_ms": 200},
            {"rtsp_transport": "tcp", "analyzeduration": "500000", "max_delay": "200000"},
        ),
        (
            {"latency_ms": 0},
            {
                "rtsp_transport": "tcp",
                "analyzeduration": "500000",
                "max_delay": "0",
                "fflags": "nobuffer",
            },
        ),
    ],
)
def test_rtsp_options(kwargs: dict[str, object], expected: dict[str, str]) -> None:
    assert rtsp_options(**kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"transport": "http"}, "rtsp_transport must be"), ({"latency_ms": -5}, "latency_ms")],
)
def test_bad_rtsp_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rtsp_options(**kwargs)  # type: ignore[arg-type]


# No camera exists on the dev/CI machines: these cover the argument building only.
@pytest.mark.parametrize(
    ("uri", "kwargs", "expected"),
    [
        ("/dev/video0", {}, V4l2OpenArgs("/dev/video0", "v4l2", {})),
        (
            "v4l2:///dev/video3",
            {"video_size": "1280x720", "fps": 30, "input_format": "mjpeg"},
            V4l2OpenArgs(
                "/dev/video3",
                "v4l2",
                {"video_size": "1280x720", "framerate": "30", "input_format": "mjpeg"},
            ),
        ),
        (
            "/dev/video1",
            {"fps": 7.5, "input_format": "yuyv422"},
            V4l2OpenArgs("/dev/video1", "v4l2", {"framerate": "7.5", "input_format": "yuyv422"}),
        ),
    ],
)
def test_v4l2_open_args(uri: str, kwargs: dict[str, object], expected: V4l2OpenArgs) -> None:
    assert v4l2_open_args(uri, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "kwargs", "message"),
    [
        ("/dev/vid0", {}, "must look like /dev/video<N>"),
        ("/dev/video0", {"video_size": "1280*720"}, "WIDTHxHEIGHT"),
        ("/dev/video0", {"video_size": "0x720"}, "WIDTHxHEIGHT"),
        ("/dev/video0", {"fps": 0}, r"fps must be in \(0, 1000\]"),
        ("/dev/video0", {"input_format": "mpeg2"}, "allowed: .*mjpeg"),
    ],
)
def test_v4l2_bad_arguments(uri: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        v4l2_open_args(uri, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "spec"),
    [
        ("synthetic://", SyntheticSpec((1280, 720), 30.0, "boxes")),
        ("synthetic://?size=640x360&fps=15", SyntheticSpec((640, 360), 15.0, "boxes")),
        ("synthetic://?pattern=gradient&fps=2.5", SyntheticSpec((1280, 720), 2.5, "gradient")),
    ],
)
def test_parse_synthetic(uri: str, spec: SyntheticSpec) -> None:
    assert parse_synthetic(uri) == spec


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("synthetic://?colour=red", r"unknown keys \['colour'\]"),
        ("synthetic://?size=big", "WIDTHxHEIGHT"),
        ("synthetic://?fps=fast", "fps must be a number"),
        ("synthetic://?fps=0", "fps must be a number"),
        ("synthetic://?pattern=smpte", "pattern must be 'boxes' or 'gradient'"),
    ],
)
def test_bad_synthetic_uris(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_synthetic(uri)


@pytest.mark.parametrize(
    ("kind", "given", "bad"),
    [
        ("file", {"loop", "realtime"}, []),
        ("file", {"rtsp_transport", "loop"}, ["rtsp_transport"]),
        ("rtsp", {"latency_ms", "reconnect", "stall_timeout_s"}, []),
        ("rtsp", {"loop", "fps"}, ["fps", "loop"]),
        ("synthetic", {"reconnect"}, ["reconnect"]),
        ("v4l2", {"fps", "video_size", "input_format"}, []),
        ("images", {"fps", "loop", "realtime"}, []),
    ],
)
def test_misplaced_options(kind: str, given: set[str], bad: list[str]) -> None:
    problems = misplaced_options(kind, given)  # type: ignore[arg-type]
    assert [p.split("'")[1] for p in problems] == bad
