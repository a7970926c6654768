"""Shared fixtures: the real sample clip and model weights, prepared by `make assets`."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("VISIONFLOW_ASSETS", ROOT / "data"))


def _gpu_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def _asset(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make assets` (or `make test`) first")
    return path


@pytest.fixture(scope="session")
def sample_mp4() -> Path:
    """The real sample: vtest as H.264 MP4, 768x576, 10 fps, 795 frames."""
    return _asset(ASSETS / "vtest.mp4")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """Folder with yolov3-tiny.cfg, yolov3-tiny.weights and coco.names."""
    return _asset(ASSETS / "models")


@pytest.fixture(scope="session")
def onnx_cache_dir() -> Path:
    """Where the Darknet → ONNX export is cached across test sessions."""
    path = Path(os.environ.get("VISIONFLOW_CACHE", ASSETS / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def first_frames_clip(
    sample_mp4: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[int], Path]:
    """``clip(n)``: the first ``n`` frames of the sample, re-encoded, index first (once per n)."""
    made: dict[int, Path] = {}

    def clip(frames: int) -> Path:
        if frames not in made:
            ffmpeg = shutil.which("ffmpeg")
            if ffmpeg is None:
                pytest.fail("ffmpeg is missing: run `make test` (installs it)")
            out = tmp_path_factory.mktemp("clips") / f"first{frames}.mp4"
            cmd = [ffmpeg, "-v", "error", "-i", str(sample_mp4), "-frames:v", str(frames)]
            codec = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
            subprocess.run([*cmd, *codec, str(out)], check=True)
            made[frames] = out
        return made[frames]

    return clip


@pytest.fixture(scope="session")
def short_clip(first_frames_clip: Callable[[int], Path]) -> Path:
    """The first 40 frames of the sample (fast end-to-end runs)."""
    return first_frames_clip(40)
