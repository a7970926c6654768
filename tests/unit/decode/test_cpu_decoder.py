"""CpuDecoder: threading modes, rewind, header facts and the corrupt-packet limit."""

from __future__ import annotations

import subprocess
import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from visionflow.decode import CpuDecoder, DecodedImage, VideoStreamInfo
from visionflow.errors import CorruptStreamError, PipelineStateError

VTEST_MP4 = Path(__file__).resolve().parents[3] / "data" / "vtest.mp4"


@pytest.fixture(scope="module")
def vtest_mp4() -> Path:
    if not VTEST_MP4.exists():
        pytest.fail(f"{VTEST_MP4} missing; run `make assets`")
    return VTEST_MP4


def _overwrite(source: Path, target: Path, offset: int, length: int, seed: int) -> Path:
    data = bytearray(source.read_bytes())
    end = min(offset + length, len(data))
    data[offset:end] = (
        np.random.default_rng(seed).integers(0, 256, end - offset, np.uint8).tobytes()
    )
    target.write_bytes(bytes(data))
    return target


def test_header_facts(vtest_mp4: Path) -> None:
    decoder = CpuDecoder(vtest_mp4)
    info = decoder.open()
    decoder.close()
    assert info == VideoStreamInfo(
        codec="h264",
        fps=10.0,
        frame_count=795,
        resolution_wh=(768, 576),
        time_base=info.time_base,
    )
    assert float(info.time_base) > 0


@pytest.mark.parametrize(
    ("thread_type", "thread_count"),
    [("AUTO", 0), ("NONE", 0), ("FRAME", 2), ("SLICE", 1)],
)
def test_threading_modes_decode_identical_pictures(
    vtest_mp4: Path, thread_type: str, thread_count: int
) -> None:
    reference = CpuDecoder(vtest_mp4, thread_type="NONE")
    decoder = CpuDecoder(vtest_mp4, thread_type=thread_type, thread_count=thread_count)  # type: ignore[arg-type]
    reference.open()
    decoder.open()
    try:
        pairs = zip(islice(reference.decode(), 12), islice(decoder.decode(), 12), strict=True)
        for expected, got in pairs:
            assert isinstance(got, DecodedImage)
            assert got.pts_seconds == expected.pts_seconds
            np.testing.assert_array_equal(got.image_rgb, expected.image_rgb)
    finally:
        reference.close()
        decoder.close()


def test_rewind_restarts_at_the_first_frame(vtest_mp4: Path) -> None:
    decoder = CpuDecoder(vtest_mp4)
    decoder.open()
    first = next(iter(decoder.decode()))
    list(islice(decoder.decode(), 20))
    decoder.rewind()
    again = next(iter(decoder.decode()))
    decoder.close()
    decoder.close()
    assert again.pts_seconds == first.pts_seconds == 0.0
    np.testing.assert_array_equal(again.image_rgb, first.image_rgb)


@pytest.mark.parametrize(
    ("limit", "raises"),
    [(1, True), (25, False)],
)
def test_consecutive_error_limit(vtest_mp4: Path, tmp_path: Path, limit: int, raises: bool) -> None:
    """4 KiB of noise mid-file makes exactly one packet undecodable (seeded, FFmpeg 7/8)."""
    size = vtest_mp4.stat().st_size
    path = _overwrite(vtest_mp4, tmp_path / "damaged.mp4", size // 2, 4096, seed=0)
    decoder = CpuDecoder(path, max_consecutive_errors=limit)
    decoder.open()
    try:
        if raises:
            with pytest.raises(CorruptStreamError, match=r"damaged\.mp4.*max_consecutive_errors=1"):
                sum(1 for _ in decoder.decode())
        else:
            assert sum(1 for _ in decoder.decode()) >= 790
        assert decoder.corrupt_packets >= 1
    finally:
        decoder.close()


@pytest.mark.parametrize("call", ["decode", "rewind", "info"])
def test_use_before_open_is_a_state_error(vtest_mp4: Path, call: str) -> None:
    decoder = CpuDecoder(vtest_mp4)
    with pytest.raises(PipelineStateError, match="not open"):
        if call == "decode":
            next(iter(decoder.decode()))
        elif call == "rewind":
            decoder.rewind()
        else:
            _ = decoder.info


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_consecutive_errors": 0}, "max_consecutive_errors"),
        ({"thread_count": -1}, "thread_count"),
    ],
)
def test_bad_arguments(vtest_mp4: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CpuDecoder(vtest_mp4, **kwargs).open()  # type: ignore[arg-type]


def test_import_does_not_load_pyav_or_opencv() -> None:
    code = "import sys, visionflow.decode; print(sorted({'av', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_closed_decoder_is_not_reopened(vtest_mp4: Path) -> None:
    decoder = CpuDecoder(vtest_mp4)
    decoder.open()
    decoder.close()
    with pytest.raises(PipelineStateError, match="closed"):
        decoder.open()
