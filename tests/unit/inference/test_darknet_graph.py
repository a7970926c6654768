"""The ONNX graph built from a cfg matches a NumPy re-implementation of Darknet.

A small synthetic network exercises every supported layer (batch-norm conv,
strided conv, linear conv, shortcut, both maxpool paddings, route of one and
two layers, upsample, two yolo heads) with random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from visionflow.inference import export_darknet_onnx, parse_cfg
from visionflow.inference.darknet import DarknetSection

_ANCHORS = "anchors = 10,14, 23,27, 37,58, 81,82, 135,169, 344,319"
_CFG = f"""[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters=8
size=1
stride=1
pad=1
activation=linear

[shortcut]
from=-2
activation=linear

[maxpool]
size=2
stride=1

[convolutional]
filters=21
size=1
stride=1
pad=1
activation=linear

[yolo]
mask = 3,4,5
{_ANCHORS}
classes=2
num=6

[route]
layers = -4

[upsample]
stride=2

[route]
layers = -1, 1

[convolutional]
filters=21
size=3
stride=1
pad=1
activation=linear

[yolo]
mask = 0,1,2
{_ANCHORS}
classes=2
num=6
"""


class _Reader:
    def __init__(self, values: np.ndarray) -> None:
        self.values, self.offset = values, 0

    def take(self, count: int) -> np.ndarray:
        self.offset += count
        return self.values[self.offset - count : self.offset]


def _conv(x: np.ndarray, s: DarknetSection, r: _Reader) -> np.ndarray:
    n, k, stride = s.get_int("filters", 1), s.get_int("size", 1), s.get_int("stride", 1)
    pad = k // 2 if s.get_int("pad", 0) else 0
    biases = r.take(n)
    bn = [r.take(n) for _ in range(3)] if s.get_int("batch_normalize", 0) else None
    weight = r.take(n * x.shape[0] * k * k).reshape(n, x.shape[0], k, k)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    out = np.einsum("chwij,ncij->nhw", windows, weight)
    if bn is not None:
        scales, mean, var = bn
        out = (out - mean[:, None, None]) / (np.sqrt(var)[:, None, None] + 0.000001)
        out = out * scales[:, None, None]
    out = out + biases[:, None, None]
    return np.where(out > 0, out, 0.1 * out) if s.options["activation"] == "leaky" else out


def _maxpool(x: np.ndarray, s: DarknetSection) -> np.ndarray:
    k, stride = s.get_int("size", 1), s.get_int("stride", 1)
    padding = k - 1
    offset = padding // 2  # Darknet: w_offset = -pad / 2
    padded = np.pad(
        x, ((0, 0), (offset, padding - offset), (offset, padding - offset)), constant_values=-np.inf
    )
    return sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride].max(axis=(3, 4))


def _yolo(x: np.ndarray, s: DarknetSection, net_wh: tuple[int, int]) -> np.ndarray:
    classes, mask = s.get_int("classes", 0), s.get_ints("mask")
    anchors = np.array(s.get_ints("anchors"), np.float64).reshape(-1, 2)
    rows = []
    grid_h, grid_w = x.shape[1:]
    for a, m in enumerate(mask):  # loops are fine in a reference
        t = x[a * (5 + classes) : (a + 1) * (5 + classes)]
        for i in range(grid_h):
            for j in range(grid_w):
                v = t[:, i, j]
                sig = 1 / (1 + np.exp(-v))
                cx = (j + sig[0]) / grid_w * net_wh[0]
                cy = (i + sig[1]) / grid_h * net_wh[1]
                w, h = np.exp(v[2]) * anchors[m, 0], np.exp(v[3]) * anchors[m, 1]
                rows.append([cx, cy, w, h, *sig[4:]])
    return np.array(rows)


def _darknet_forward(
    sections: list[DarknetSection], weights: np.ndarray, image: np.ndarray
) -> np.ndarray:
    reader, layers, heads, x = _Reader(weights), [], [], image.astype(np.float64)
    net_wh = (image.shape[2], image.shape[1])
    for i, s in enumerate(sections[1:]):
        if s.kind == "convolutional":
            x = _conv(x, s, reader)
        elif s.kind == "maxpool":
            x = _maxpool(x, s)
        elif s.kind == "shortcut":
            x = x + layers[i + s.get_int("from", 0)]
        elif s.kind == "route":
            x = np.concatenate([layers[v + i if v < 0 else v] for v in s.get_ints("layers")])
        elif s.kind == "upsample":
            x = x.repeat(2, axis=1).repeat(2, axis=2)
        elif s.kind == "yolo":
            heads.append(_yolo(x, s, net_wh))
        layers.append(x)
    assert reader.offset == len(weights)
    return np.concatenate(heads)


def _weight_count(sections: list[DarknetSection]) -> int:
    # conv input channels of this cfg: 3, 4, 8, 8 (after shortcut), 12 (route -1,1)
    inputs = iter([3, 4, 8, 8, 12])
    total = 0
    for s in sections:
        if s.kind == "convolutional":
            n, k, c = s.get_int("filters", 1), s.get_int("size", 1), next(inputs)
            total += n * (4 if s.get_int("batch_normalize", 0) else 1) + n * c * k * k
    return total


def _write_weights(
    path: Path, values: np.ndarray, version: tuple[int, int, int] = (0, 2, 0)
) -> None:
    header = np.array(version, np.int32).tobytes()
    seen = np.array([12345], np.int64 if version[0] * 10 + version[1] >= 2 else np.int32)
    path.write_bytes(header + seen.tobytes() + values.astype(np.float32).tobytes())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graph_matches_numpy_darknet(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sections = parse_cfg(_CFG)
    weights = rng.normal(0, 0.5, _weight_count(sections)).astype(np.float32)
    _fix_variances(sections, weights)
    cfg, wfile = tmp_path / "net.cfg", tmp_path / "net.weights"
    cfg.write_text(_CFG)
    _write_weights(wfile, weights)
    model = export_darknet_onnx(cfg, wfile, (64, 64), tmp_path / "cache", fix_tiny_mask=False)
    image = rng.random((2, 3, 64, 64), dtype=np.float32)
    got = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {"images": image}
    )[0]
    expected = np.stack([_darknet_forward(sections, weights, im) for im in image])
    assert got.shape == (2, 3 * (16 * 16 + 32 * 32), 7)
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)


def _fix_variances(sections: list[DarknetSection], weights: np.ndarray) -> None:
    inputs, offset = iter([3, 4, 8, 8, 12]), 0
    for s in sections:
        if s.kind != "convolutional":
            continue
        n, k, c = s.get_int("filters", 1), s.get_int("size", 1), next(inputs)
        if s.get_int("batch_normalize", 0):
            var = weights[offset + 3 * n : offset + 4 * n]
            weights[offset + 3 * n : offset + 4 * n] = np.abs(var) + 0.05
            offset += 3 * n
        offset += n + n * c * k * k


@pytest.mark.parametrize(
    ("version", "seen_bytes"), [((0, 1, 0), 4), ((0, 2, 0), 8), ((1, 0, 0), 8)]
)
def test_read_weights_header_seen_width(
    tmp_path: Path, version: tuple[int, int, int], seen_bytes: int
) -> None:
    from visionflow.inference import read_weights

    path = tmp_path / "w.weights"
    _write_weights(path, np.arange(5, dtype=np.float32), version)
    result = read_weights(path)
    assert result.version == version
    assert result.seen == 12345
    assert path.stat().st_size == 12 + seen_bytes + 20
    np.testing.assert_array_equal(result.values, np.arange(5, dtype=np.float32))
