"""FileSource on real footage, real damaged files and broken paths."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from visionflow.errors import (
    CorruptStreamError,
    PipelineStateError,
    SourceNotFoundError,
    SourceOpenError,
)
from visionflow.sources import FileSource, SourceState
from visionflow.types import Frame

VTEST_AVI = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
VTEST_FRAMES = 795


def _check_frames(source: FileSource, limit: int | None = None) -> tuple[int, list[float]]:
    """Iterate without keeping images; check numbering and shapes; return count and pts."""
    pts: list[float] = []
    count = 0
    for frame in islice(source, limit):
        assert isinstance(frame, Frame)
        assert frame.frame_number == count
        assert frame.image_rgb.shape == (576, 768, 3)
        assert frame.image_rgb.flags.c_contiguous
        pts.append(frame.pts_seconds)
        count += 1
    return count, pts


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "codec"),
    [("vtest.mp4", "h264"), ("vtest.avi", "msmpeg4")],
)
def test_decodes_every_frame_of_real_footage(vtest_mp4: Path, name: str, codec: str) -> None:
    path = vtest_mp4 if name.endswith(".mp4") else VTEST_AVI
    if not path.exists():
        pytest.fail(f"{path} missing; run `make test` (installs opencv-doc)")
    with FileSource(path, stream_id="cam") as source:
        assert (source.fps, source.resolution_wh, source.codec) == (10.0, (768, 576), codec)
        assert source.frame_count == VTEST_FRAMES
        count, pts = _check_frames(source)
        assert source.corrupt_packets == 0
    assert count == VTEST_FRAMES
    assert np.all(np.diff(pts) > 0)
    np.testing.assert_allclose(pts, np.arange(count) / 10.0, atol=0.051)


@pytest.mark.slow
def test_loop_continues_numbers_and_pts_past_the_end(vtest_mp4: Path) -> None:
    with FileSource(vtest_mp4, loop=True) as source:
        count, pts = _check_frames(source, limit=900)
    assert count == 900
    assert np.all(np.diff(pts) > 0)
    np.testing.assert_allclose(pts[VTEST_FRAMES], VTEST_FRAMES / 10.0, atol=0.051)


def _text_file(path: Path) -> None:
    path.write_text("this is not a video\n" * 50)


def _random_file(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, np.uint8).tobytes())


def _empty_file(path: Path) -> None:
    path.write_bytes(b"")


def _tiny_header(path: Path) -> None:
    data = (Path(__file__).resolve().parents[3] / "data" / "vtest.mp4").read_bytes()
    moov = data.index(b"moov")
    path.write_bytes(data[: moov + 200])  # cut inside the moov atom (the index)


@pytest.mark.parametrize(
    ("make", "name", "error", "words"),
    [
        (None, "missing.mp4", SourceNotFoundError, "does not exist"),
        ("dir", "a_dir.mp4", SourceOpenError, "directory"),
        (_text_file, "x.mp4", SourceOpenError, "not a media file"),
        (_random_file, "x.mp4", SourceOpenError, "not a media file"),
        (_empty_file, "x.mp4", SourceOpenError, "empty"),
        (_tiny_header, "x.mp4", SourceOpenError, "truncated"),
    ],
)
def test_open_errors_name_the_path(
    tmp_path: Path,
    make: Callable[[Path], None] | str | None,
    name: str,
    error: type[Exception],
    words: str,
) -> None:
    path = tmp_path / name
    if make == "dir":
        path.mkdir()
    elif callable(make):
        make(path)
    source = FileSource(path)
    with pytest.raises(error) as info:
        source.open()
    message = str(info.value)
    assert str(path) in message
    assert words in message
    assert "\n" not in message


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI")
def test_file_without_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.5", str(path)]
    subprocess.run(cmd, check=True)
    with pytest.raises(SourceOpenError, match=r"no video stream \(found: audio\)"):
        FileSource(path).open()


def test_unreadable_file(tmp_path: Path, vtest_mp4: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.mp4"
    shutil.copy(vtest_mp4, path)
    path.chmod(0)
    monkeypatch.setattr(os, "access", lambda *_args, **_kw: False)  # root would read it anyway
    with pytest.raises(SourceOpenError, match="permission"):
        FileSource(path).open()


def test_truncated_file_yields_frames_then_ends(
    truncated_mp4: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), FileSource(truncated_mp4) as source:
        count, pts = _check_frames(source)
    assert 0 < count < VTEST_FRAMES
    assert np.all(np.diff(pts) > 0)
    assert "ended early" in caplog.text


@pytest.mark.slow
def test_overwritten_mdat_decodes_nearly_everything(damaged_mp4: Path) -> None:
    with FileSource(damaged_mp4) as source:
        count, _ = _check_frames(source)
        corrupt = source.corrupt_packets
    assert 700 <= count <= VTEST_FRAMES
    assert count + corrupt >= VTEST_FRAMES - 1  # every missing frame is accounted for


def test_garbage_payload_raises_corrupt_stream(vtest_mp4: Path, tmp_path: Path) -> None:
    data = bytearray(vtest_mp4.read_bytes())
    start = data.find(b"mdat") + 20
    data[start:] = np.random.default_rng(2).integers(0, 256, len(data) - start, np.uint8).tobytes()
    path = tmp_path / "garbage.mp4"
    path.write_bytes(bytes(data))
    with FileSource(path) as source, pytest.raises(CorruptStreamError, match=r"garbage\.mp4"):
        _check_frames(source)


def test_close_from_another_thread_stops_iteration(vtest_mp4: Path) -> None:
    source = FileSource(vtest_mp4, loop=True)
    seen = 0
    for _ in source:
        seen += 1
        if seen == 5:
            threading.Thread(target=source.close).start()
        assert seen < 100, "iteration did not stop after close()"
    assert source.state is SourceState.CLOSED
    assert 5 <= seen < 100


@pytest.mark.parametrize("action", ["open", "iter"])
def test_closed_source_cannot_reopen(vtest_mp4: Path, action: str) -> None:
    source = FileSource(vtest_mp4)
    with source:
        states = [source.state]
    source.close()  # second close is a no-op
    states.append(source.state)
    assert states == [SourceState.OPEN, SourceState.CLOSED]
    with pytest.raises(PipelineStateError, match="closed"):
        source.open() if action == "open" else iter(source)


def test_properties_need_open(vtest_mp4: Path) -> None:
    source = FileSource(vtest_mp4)
    assert source.state is SourceState.NEW
    assert source.stream_id == "vtest.mp4"
    with pytest.raises(PipelineStateError, match="not open"):
        _ = source.fps


def test_iteration_resumes_and_rejects_concurrent_iterators(vtest_mp4: Path) -> None:
    with FileSource(vtest_mp4) as source:
        first = [f.frame_number for f in islice(source, 3)]
        second = [f.frame_number for f in islice(source, 3)]
        iterator = iter(source)
        next(iterator)
        with pytest.raises(PipelineStateError, match="already being iterated"):
            iter(source)
    assert first == [0, 1, 2]
    assert second == [3, 4, 5]


def test_import_does_not_load_pyav_or_opencv() -> None:
    code = "import sys, visionflow.sources; print(sorted({'av', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
