"""Export of the real YOLOv3-tiny: weight-count checks and the export cache."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from visionflow.errors import ModelFormatError
from visionflow.inference import export_darknet_onnx, read_weights

TINY_FLOATS = 8_858_734  # float32 values yolov3-tiny.cfg needs


def _counts(message: str) -> tuple[int, int]:
    needed, has = re.search(
        r"needs (\d+) float32 values, the weights file has (\d+)", message
    ).groups()  # type: ignore[union-attr]
    return int(needed), int(has)


@pytest.mark.parametrize(
    ("change", "expected_has"),
    [
        (lambda data: data[: len(data) - 4000], TINY_FLOATS - 1000),
        (lambda data: data[:100_000], (100_000 - 20) // 4),
        (lambda data: data + b"\0" * 8, TINY_FLOATS + 2),
    ],
    ids=["truncated", "mostly-missing", "extra-values"],
)
def test_weights_mismatch_reports_both_counts(
    tmp_path: Path, real_files: tuple[Path, Path, Path], change: object, expected_has: int
) -> None:
    cfg, weights, _ = real_files
    bad = tmp_path / "bad.weights"
    bad.write_bytes(change(weights.read_bytes()))  # type: ignore[operator]
    with pytest.raises(ModelFormatError) as info:
        export_darknet_onnx(cfg, bad, (416, 416), tmp_path / "cache")
    assert _counts(str(info.value)) == (TINY_FLOATS, expected_has)
    assert not any((tmp_path / "cache").glob("*"))


def test_cfg_of_another_model_is_a_mismatch(
    tmp_path: Path, real_files: tuple[Path, Path, Path]
) -> None:
    cfg, weights, _ = real_files
    other = tmp_path / "other.cfg"
    other.write_text(cfg.read_text().replace("filters=1024", "filters=512", 1))
    with pytest.raises(ModelFormatError, match=r"the cfg needs \d+ float32 values"):
        export_darknet_onnx(other, weights, (416, 416), tmp_path / "cache")


def test_real_weights_header(real_files: tuple[Path, Path, Path]) -> None:
    weights = read_weights(real_files[1])
    assert weights.version == (0, 2, 0)
    assert len(weights.values) == TINY_FLOATS


@pytest.mark.parametrize("size_wh", [(416, 416), (320, 256)])
def test_export_model_shape(
    tmp_path: Path, real_files: tuple[Path, Path, Path], size_wh: tuple[int, int]
) -> None:
    path = export_darknet_onnx(real_files[0], real_files[1], size_wh, tmp_path)
    model = onnx.load(str(path))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, size_wh[1], size_wh[0]]
    assert [o.name for o in model.graph.output] == ["output"]
    cells = (size_wh[0] // 32) * (size_wh[1] // 32)
    import onnxruntime as ort

    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"images": np.zeros((1, 3, size_wh[1], size_wh[0]), np.float32)}
    )[0]
    assert out.shape == (1, 3 * cells + 3 * cells * 4, 85)


def test_export_cache_reuses_and_keys(tmp_path: Path, real_files: tuple[Path, Path, Path]) -> None:
    cfg, weights, _ = real_files
    first = export_darknet_onnx(cfg, weights, (416, 416), tmp_path)
    stamp = first.stat().st_mtime_ns
    assert export_darknet_onnx(cfg, weights, (416, 416), tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    others = {
        export_darknet_onnx(cfg, weights, (320, 320), tmp_path),
        export_darknet_onnx(cfg, weights, (416, 416), tmp_path, fix_tiny_mask=False),
    }
    assert first not in others
    assert len(others) == 2
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".onnx"] * 3
