"""Image folders/globs (real vtest frames as JPEG/PNG), the synthetic pattern, realtime files."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from visionflow.errors import SourceNotFoundError
from visionflow.sources import (
    FileSource,
    ImageSequenceSource,
    SourceOptions,
    StreamState,
    create_source,
    open_source,
)
from visionflow.sources.images import natural_key
from visionflow.sources.synthetic import SyntheticSession, box_positions, gradient
from visionflow.sources.uri import SyntheticSpec

S = StreamState
N_IMAGES = 12
CORRUPT = {5: "truncated", 8: "garbage"}


def _encode(image: np.ndarray, codec: str, pix_fmt: str) -> bytes:
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = image.shape[1], image.shape[0], pix_fmt
    ctx.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


@pytest.fixture(scope="module")
def originals(vtest_mp4: Path) -> list[np.ndarray]:
    with av.open(str(vtest_mp4)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24")[::4, ::4].copy())  # 192x144
            if len(frames) == N_IMAGES * 10:
                break
    return frames[::10]  # frames 0, 10, ... 110: people moved between them


@pytest.fixture(scope="module")
def image_dir(originals: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """frame_0.jpg ... frame_11.jpg (unpadded: natural order matters); #5 truncated, #8 noise."""
    folder = tmp_path_factory.mktemp("images")
    for i, image in enumerate(originals):
        data = _encode(image, "mjpeg", "yuvj420p")
        if CORRUPT.get(i) == "truncated":
            data = data[: len(data) // 3]
        elif CORRUPT.get(i) == "garbage":
            data = np.random.default_rng(i).integers(0, 256, 4000, dtype=np.uint8).tobytes()
        (folder / f"frame_{i}.jpg").write_bytes(data)
    (folder / "notes.txt").write_text("not an image")
    return folder


def _nearest(image: np.ndarray, originals: list[np.ndarray]) -> int:
    errors = [np.abs(image.astype(np.int16) - o).mean() for o in originals]
    return int(np.argmin(errors))


@pytest.mark.parametrize("pattern", ["", "frame_*.jpg"])
def test_corrupt_images_are_reported_and_skipped(
    image_dir: Path, originals: list[np.ndarray], pattern: str, caplog: pytest.LogCaptureFixture
) -> None:
    uri = str(image_dir / pattern) if pattern else str(image_dir)
    source = open_source(uri, stream_id="imgs", options=SourceOptions(fps=5.0))
    frames = list(source)
    good = [i for i in range(N_IMAGES) if i not in CORRUPT]
    # each decoded image is closest to the original it was encoded from, in natural order
    assert [_nearest(f.image_rgb, originals) for f in frames] == good
    assert [f.frame_number for f in frames] == list(range(len(good)))
    assert [f.pts_seconds for f in frames] == pytest.approx([n / 5.0 for n in range(len(good))])
    assert source.corrupt_packets == len(CORRUPT)
    assert source.frame_count == N_IMAGES
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "frame_5.jpg" in logged and "frame_8.jpg" in logged
    health = source.health()
    assert health.states == [S.STARTING, S.STREAMING, S.ENDED]
    assert "frame_8.jpg" in (health.last_error or "")
    assert not source.is_live


def test_png_sequence_is_lossless(tmp_path: Path, originals: list[np.ndarray]) -> None:
    for i, image in enumerate(originals[:3]):
        (tmp_path / f"p{i}.png").write_bytes(_encode(image, "png", "rgb24"))
    frames = list(ImageSequenceSource(str(tmp_path / "*.png"), fps=10))
    assert len(frames) == 3
    for frame, image in zip(frames, originals, strict=False):
        np.testing.assert_array_equal(frame.image_rgb, image)


def test_realtime_images_are_paced_and_live(image_dir: Path) -> None:
    source = ImageSequenceSource(str(image_dir), fps=20.0, realtime=True)
    assert source.is_live
    t0 = time.monotonic()
    frames = list(source)
    # 10 good images at 20 fps: the last is due 9 periods after the first
    assert time.monotonic() - t0 >= 9 / 20.0 - 0.02
    assert len(frames) == N_IMAGES - len(CORRUPT)


def test_image_loop_keeps_numbering(image_dir: Path) -> None:
    source = ImageSequenceSource(str(image_dir), fps=10.0, loop=True)
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 25:
            source.stop()
    assert [f.frame_number for f in frames] == list(range(25))
    assert source.health().state is S.STOPPED


@pytest.mark.parametrize("uri", ["missing_dir/*.jpg", "{empty}"])
def test_no_images_is_a_clear_error(uri: str, tmp_path: Path) -> None:
    uri = uri.replace("{empty}", str(tmp_path))
    with pytest.raises(SourceNotFoundError, match="image source: no"):
        open_source(uri, stream_id="x")


def test_natural_order() -> None:
    names = ["f10.jpg", "f2.jpg", "f1.jpg", "f100.jpg", "e5.jpg"]
    ordered = sorted((Path(n) for n in names), key=natural_key)
    assert [p.name for p in ordered] == ["e5.jpg", "f1.jpg", "f2.jpg", "f10.jpg", "f100.jpg"]


def test_synthetic_pattern_pixels() -> None:
    img = gradient((64, 32))
    assert img.shape == (32, 64, 3)
    # red = x / (w - 1) * 255, green = y / (h - 1) * 255, blue = 96
    assert img[0, 0].tolist() == [0, 0, 96]
    assert img[-1, -1].tolist() == [255, 255, 96]
    session = SyntheticSession(SyntheticSpec((64, 32), 10.0, "boxes"))
    a, b = session.picture(0.0), session.picture(0.5)
    assert (a != img).any() and (a != b).any()  # boxes drawn, and they move
    corners = box_positions((640, 360), 123.4, 45)
    assert ((corners >= 0) & (corners <= np.array([640 - 45, 360 - 45]))).all()  # stay inside


def test_synthetic_source_is_live_and_paced() -> None:
    source = open_source("synthetic://?size=160x90&fps=25", stream_id="syn")
    t0 = time.monotonic()
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 13:
            break
    elapsed = time.monotonic() - t0
    source.close()
    assert source.is_live and source.fps == 25.0
    assert elapsed >= 12 / 25 - 0.02  # 12 periods between the first and the 13th frame
    assert frames[0].image_rgb.shape == (90, 160, 3)
    assert [f.pts_seconds for f in frames] == pytest.approx([i / 25 for i in range(13)], abs=0.09)


def test_realtime_file_is_paced_at_native_fps(vtest_mp4: Path) -> None:
    source = create_source(str(vtest_mp4), stream_id="f", options=SourceOptions(realtime=True))
    assert isinstance(source, FileSource) and source.is_live
    t0 = time.monotonic()
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 6:
            source.stop()
    # vtest.mp4 is 10 fps: 5 periods between the first and the sixth frame
    assert time.monotonic() - t0 >= 0.5 - 0.02
    assert source.health().states == [S.STARTING, S.STREAMING, S.STOPPED]


def test_plain_file_is_not_live_and_fails_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    source = create_source(str(missing), stream_id="f")
    assert not source.is_live
    with pytest.raises(SourceNotFoundError):
        source.open()
    assert source.health().states == [S.STARTING, S.FAILED]
