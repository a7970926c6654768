"""Real footage and real damaged copies of it for the file-source tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

VTEST_MP4 = Path(__file__).resolve().parents[3] / "data" / "vtest.mp4"


@pytest.fixture(scope="session")
def vtest_mp4() -> Path:
    if not VTEST_MP4.exists():
        pytest.fail(f"{VTEST_MP4} missing; run `make assets`")
    return VTEST_MP4


@pytest.fixture(scope="session")
def truncated_mp4(vtest_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vtest.mp4 cut at 40 % of its size (the moov atom is at the front, so it opens)."""
    data = vtest_mp4.read_bytes()
    path = tmp_path_factory.mktemp("damaged") / "truncated.mp4"
    path.write_bytes(data[: int(len(data) * 0.4)])
    return path


@pytest.fixture(scope="session")
def damaged_mp4(vtest_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vtest.mp4 with 4 KiB of (seeded) random bytes written over the middle of the mdat."""
    data = bytearray(vtest_mp4.read_bytes())
    middle = len(data) // 2
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    data[middle : middle + 4096] = noise
    path = tmp_path_factory.mktemp("damaged") / "damaged.mp4"
    path.write_bytes(bytes(data))
    return path
