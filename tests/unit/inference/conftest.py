"""Shared fixtures for the inference tests: real model files, vtest frames, exports."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from visionflow.inference import Detector

DATA = Path(__file__).resolve().parents[3] / "data"
MODELS = DATA / "models"
CFG, WEIGHTS, NAMES = (MODELS / n for n in ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names"))
VIDEO = DATA / "vtest.mp4"


def _decode_frames(indices: set[int]) -> dict[int, np.ndarray]:
    frames: dict[int, np.ndarray] = {}
    with av.open(str(VIDEO)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number in indices:
                frames[number] = frame.to_ndarray(format="rgb24")
            if number >= max(indices):
                break
    return frames


@pytest.fixture(scope="session")
def real_files() -> tuple[Path, Path, Path]:
    missing = [p for p in (CFG, WEIGHTS, NAMES) if not p.is_file()]
    if missing:
        pytest.fail(f"real model files missing: {missing}; run `make assets`")
    return CFG, WEIGHTS, NAMES


@pytest.fixture(scope="session")
def vtest_frames() -> dict[int, np.ndarray]:
    if not VIDEO.is_file():
        pytest.fail(f"{VIDEO} missing; run `make assets`")
    return _decode_frames({0, 200})


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="session")
def tiny_detector(real_files: tuple[Path, Path, Path], cache_dir: Path) -> Detector:
    cfg, weights, names = real_files
    return Detector.from_darknet(
        cfg,
        weights,
        names,
        input_size_wh=(416, 416),
        cache_dir=cache_dir,
        confidence=0.25,
        nms_iou=0.45,
    )
