"""VideoWriter: real decoded frames in, ffprobe checks what came out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from visionflow.errors import OutputError, PipelineStateError
from visionflow.outputs import VideoWriter, WriterState, even_resolution, frame_rate_fraction

VTEST_MP4 = Path(__file__).resolve().parents[3] / "data" / "vtest.mp4"
needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")


@pytest.fixture(scope="module")
def real_frames() -> list[np.ndarray]:
    """The first 25 frames of vtest.mp4 as RGB arrays (decoded with PyAV directly)."""
    if not VTEST_MP4.exists():
        pytest.fail(f"{VTEST_MP4} missing; run `make assets`")
    with av.open(str(VTEST_MP4)) as container:
        frames = container.decode(video=0)
        return [next(frames).to_ndarray(format="rgb24") for _ in range(25)]


def _probe(path: Path) -> dict[str, object]:
    cmd = ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"]
    cmd += ["-show_entries", "stream=nb_read_frames,codec_name,width,height,r_frame_rate"]
    cmd += ["-of", "json", str(path)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    stream: dict[str, object] = json.loads(out)["streams"][0]
    return stream


@needs_ffprobe
@pytest.mark.parametrize(
    ("fps", "size_wh", "expected_wh", "expected_rate", "name"),
    [
        (10.0, (768, 576), (768, 576), "10/1", "plain.mp4"),
        (29.97, (768, 576), (768, 576), "30000/1001", "ntsc.mp4"),
        (25.0, (641, 481), (640, 480), "25/1", "odd.mp4"),
        (12.5, (320, 240), (320, 240), "25/2", "nested/dir/small.mkv"),
    ],
)
def test_written_file_probes_right(  # noqa: PLR0917 (parametrized)
    tmp_path: Path,
    real_frames: list[np.ndarray],
    fps: float,
    size_wh: tuple[int, int],
    expected_wh: tuple[int, int],
    expected_rate: str,
    name: str,
) -> None:
    path = tmp_path / name
    width, height = size_wh
    with VideoWriter(path, fps=fps, resolution_wh=size_wh) as writer:
        for image in real_frames:
            writer.write(np.ascontiguousarray(image[:height, :width]))
        assert writer.frames_written == 25
    probe = _probe(path)
    assert probe["codec_name"] == "h264"
    assert (probe["width"], probe["height"]) == expected_wh
    assert probe["nb_read_frames"] == "25"
    assert probe["r_frame_rate"] == expected_rate


def test_close_twice_and_write_after_close(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "x.mp4", fps=10, resolution_wh=(64, 48))
    states = [writer.state]
    writer.write(np.zeros((48, 64, 3), np.uint8))
    states.append(writer.state)
    writer.close()
    writer.close()
    states.append(writer.state)
    assert states == [WriterState.NEW, WriterState.OPEN, WriterState.CLOSED]
    assert (tmp_path / "x.mp4").stat().st_size > 0
    with pytest.raises(PipelineStateError, match=r"x\.mp4.*closed"):
        writer.write(np.zeros((48, 64, 3), np.uint8))


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((48, 63, 3), np.uint8), ((48, 64), np.uint8), ((48, 64, 3), np.float32)],
)
def test_wrong_image_is_rejected(tmp_path: Path, shape: tuple[int, ...], dtype: type) -> None:
    writer = VideoWriter(tmp_path / "x.mp4", fps=10, resolution_wh=(64, 48))
    with writer, pytest.raises(ValueError, match=r"\[48, 64, 3\] uint8"):
        writer.write(np.zeros(shape, dtype))


@pytest.mark.parametrize(
    ("name", "kwargs", "words"),
    [
        ("", {}, "cannot create"),  # the path is an existing directory
        ("x.mp4", {"codec": "no_such_codec"}, "no_such_codec"),
        ("x.mp4", {"codec": "aac"}, "cannot set up encoder 'aac'"),
    ],
)
def test_setup_errors_are_output_errors(
    tmp_path: Path, name: str, kwargs: dict[str, str], words: str
) -> None:
    path = tmp_path / name if name else tmp_path
    writer = VideoWriter(path, fps=10, resolution_wh=(64, 48), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(OutputError, match=words) as info:
        writer.open()
    assert str(path) in str(info.value)
    writer.close()


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (10, Fraction(10)),
        (30.0, Fraction(30)),
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_frame_rate_fraction(fps: float, expected: Fraction) -> None:
    assert frame_rate_fraction(fps) == expected


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf")])
def test_bad_fps(fps: float) -> None:
    with pytest.raises(ValueError, match="fps"):
        frame_rate_fraction(fps)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((641, 481), (640, 480)), ((640, 480), (640, 480)), ((3, 2), (2, 2))],
)
def test_even_resolution(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert even_resolution(size) == expected


def test_import_does_not_load_pyav_or_opencv() -> None:
    code = "import sys, visionflow.outputs; print(sorted({'av', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
