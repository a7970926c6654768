"""Build an ONNX graph from parsed Darknet sections and weights.

Mirrors Darknet's inference semantics exactly:

* convolutional: batch-norm folded into the conv, with Darknet's
  ``(x - mean) / (sqrt(var) + 1e-6)`` (the epsilon is added to the standard
  deviation, not the variance); ``leaky`` is slope 0.1.
* maxpool: Darknet's default padding is ``size - 1`` with offset
  ``-padding // 2``, so ``size=2`` pads only bottom/right.
* route: one layer is an alias, several concatenate on channels; ``groups``
  / ``group_id`` select a channel slice.
* upsample: nearest neighbour, integer stride.
* yolo: decoded in the graph to ``cx, cy, w, h`` (input pixels), objectness
  and class probabilities; all heads are concatenated into one output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from visionflow.errors import ModelFormatError
from visionflow.inference.darknet import DarknetSection

INPUT_NAME = "images"
OUTPUT_NAME = "output"
OPSET = 17
_BN_EPS = 1e-6
_ACTIVATIONS = {"linear", "leaky", "relu", "logistic"}


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    c: int
    h: int
    w: int


@dataclass(slots=True)
class _WeightReader:
    """Hands out weights in file order; past the end it returns zeros and counts."""

    values: npt.NDArray[np.float32]
    offset: int = 0

    def take(self, count: int) -> npt.NDArray[np.float32]:
        start, self.offset = self.offset, self.offset + count
        if self.offset > len(self.values):
            return np.zeros(count, np.float32)
        return self.values[start : self.offset]


@dataclass(slots=True)
class _Builder:
    reader: _WeightReader
    input_wh: tuple[int, int]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    non_finite: list[int] = field(default_factory=list)

    def const(self, name: str, value: npt.ArrayLike, dtype: type[np.generic] = np.float32) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


Handler = Callable[[_Builder, DarknetSection, int, _Tensor, list[_Tensor]], _Tensor]


def build_onnx_model(
    sections: list[DarknetSection], weights: npt.NDArray[np.float32], input_size_wh: tuple[int, int]
) -> onnx.ModelProto:
    """Build the ONNX model (see the module docstring for the semantics).

    Args:
        sections: cfg sections, ``[net]`` first.
        weights: every float32 of the weights file after its header.
        input_size_wh: network input ``(width, height)`` in pixels.

    Raises:
        ModelFormatError: unknown section, inconsistent shapes, no ``[yolo]``
            head, or a weights count that differs from what the cfg needs.
    """
    width, height = input_size_wh
    channels = sections[0].get_int("channels", 3)
    builder = _Builder(_WeightReader(weights), input_size_wh)
    layers: list[_Tensor] = []
    previous = _Tensor(INPUT_NAME, channels, height, width)
    for index, section in enumerate(sections[1:]):
        handler = _HANDLERS.get(section.kind)
        if handler is None:
            raise ModelFormatError(
                f"cfg layer {index} ([{section.kind}] at line {section.line}): unsupported "
                f"section type, expected one of {sorted(_HANDLERS)}"
            )
        previous = handler(builder, section, index, previous, layers)
        layers.append(previous)
    _check_weights(builder)
    return _assemble(builder, channels)


def _check_weights(builder: _Builder) -> None:
    reader = builder.reader
    if reader.offset != len(reader.values):
        raise ModelFormatError(
            f"weights do not match the cfg: the cfg needs {reader.offset} float32 values, "
            f"the weights file has {len(reader.values)} (truncated file or cfg of another model?)"
        )
    if builder.non_finite:
        raise ModelFormatError(
            f"weights give non-finite values in conv layers {builder.non_finite} "
            "(negative rolling variance or NaN in the file?)"
        )


def _assemble(builder: _Builder, channels: int) -> onnx.ModelProto:
    if not builder.heads:
        raise ModelFormatError("cfg has no [yolo] section, nothing to output")
    width, height = builder.input_wh
    builder.node("Concat", builder.heads, OUTPUT_NAME, axis=1)
    graph = helper.make_graph(
        builder.nodes,
        "darknet",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", channels, height, width]
            )
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", "boxes", None])],
        builder.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _layer_error(section: DarknetSection, index: int, message: str) -> ModelFormatError:
    return ModelFormatError(
        f"cfg layer {index} ([{section.kind}] at line {section.line}): {message}"
    )


def _activation(b: _Builder, section: DarknetSection, index: int, x: str) -> str:
    kind = section.options.get("activation", "linear")
    if kind not in _ACTIVATIONS:
        raise _layer_error(
            section, index, f"activation={kind!r}, expected one of {sorted(_ACTIVATIONS)}"
        )
    out = f"l{index}_{kind}"
    if kind == "leaky":
        return b.node("LeakyRelu", [x], out, alpha=0.1)
    if kind == "relu":
        return b.node("Relu", [x], out)
    if kind == "logistic":
        return b.node("Sigmoid", [x], out)
    return x


def _conv_params(
    b: _Builder, n: int, c_in: int, k: int, batch_norm: bool
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    biases = b.reader.take(n)
    if not batch_norm:
        return b.reader.take(n * c_in * k * k).reshape(n, c_in, k, k), biases
    scales, mean, var = b.reader.take(n), b.reader.take(n), b.reader.take(n)
    with np.errstate(invalid="ignore", divide="ignore"):  # reported after the count check
        factor = scales / (np.sqrt(var) + np.float32(_BN_EPS))
    weight = b.reader.take(n * c_in * k * k).reshape(n, c_in, k, k) * factor[:, None, None, None]
    return weight.astype(np.float32), (biases - mean * factor).astype(np.float32)


def _convolutional(
    b: _Builder, s: DarknetSection, i: int, x: _Tensor, layers: list[_Tensor]
) -> _Tensor:
    n, k, stride = s.get_int("filters", 1), s.get_int("size", 1), s.get_int("stride", 1)
    groups = s.get_int("groups", 1)
    pad = k // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
    if x.c % groups:
        raise _layer_error(s, i, f"groups={groups} does not divide {x.c} input channels")
    weight, bias = _conv_params(b, n, x.c // groups, k, bool(s.get_int("batch_normalize", 0)))
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        b.non_finite.append(i)
    w_name, b_name = b.const(f"l{i}_w", weight), b.const(f"l{i}_b", bias)
    attrs = {"kernel_shape": [k, k], "strides": [stride] * 2, "pads": [pad] * 4, "group": groups}
    out = _activation(b, s, i, b.node("Conv", [x.name, w_name, b_name], f"l{i}_conv", **attrs))
    return _Tensor(out, n, (x.h + 2 * pad - k) // stride + 1, (x.w + 2 * pad - k) // stride + 1)


def _maxpool(b: _Builder, s: DarknetSection, i: int, x: _Tensor, layers: list[_Tensor]) -> _Tensor:
    k, stride = s.get_int("size", 1), s.get_int("stride", 1)
    padding = s.get_int("padding", k - 1)
    begin, end = padding // 2, padding - padding // 2
    attrs = {"kernel_shape": [k, k], "strides": [stride] * 2, "pads": [begin, begin, end, end]}
    out = b.node("MaxPool", [x.name], f"l{i}_maxpool", **attrs)
    return _Tensor(out, x.c, (x.h + padding - k) // stride + 1, (x.w + padding - k) // stride + 1)


def _route(b: _Builder, s: DarknetSection, i: int, x: _Tensor, layers: list[_Tensor]) -> _Tensor:
    refs = [r + i if r < 0 else r for r in s.get_ints("layers")]
    if not refs or any(not 0 <= r < i for r in refs):
        raise _layer_error(s, i, f"layers={s.options.get('layers')!r} must name earlier layers")
    srcs = [layers[r] for r in refs]
    if len({(t.h, t.w) for t in srcs}) != 1:
        shapes = [(t.c, t.h, t.w) for t in srcs]
        raise _layer_error(
            s, i, f"cannot concatenate CHW shapes {shapes}; input size not a multiple of 32?"
        )
    out = srcs[0] if len(srcs) == 1 else _concat(b, srcs, f"l{i}_route")
    return _group_slice(b, s, i, out)


def _concat(b: _Builder, srcs: list[_Tensor], name: str) -> _Tensor:
    out = b.node("Concat", [t.name for t in srcs], name, axis=1)
    return _Tensor(out, sum(t.c for t in srcs), srcs[0].h, srcs[0].w)


def _group_slice(b: _Builder, s: DarknetSection, i: int, x: _Tensor) -> _Tensor:
    groups, group_id = s.get_int("groups", 1), s.get_int("group_id", 0)
    if groups == 1:
        return x
    part = x.c // groups
    bounds = [
        b.const(f"l{i}_{k}", [v], np.int64)
        for k, v in (("s", group_id * part), ("e", (group_id + 1) * part), ("a", 1))
    ]
    return _Tensor(b.node("Slice", [x.name, *bounds], f"l{i}_group"), part, x.h, x.w)


def _shortcut(b: _Builder, s: DarknetSection, i: int, x: _Tensor, layers: list[_Tensor]) -> _Tensor:
    ref = s.get_int("from", 0)
    other = layers[ref + i if ref < 0 else ref]
    if (x.c, x.h, x.w) != (other.c, other.h, other.w):
        raise _layer_error(
            s, i, f"cannot add CHW {(x.c, x.h, x.w)} and {(other.c, other.h, other.w)}"
        )
    out = _activation(b, s, i, b.node("Add", [x.name, other.name], f"l{i}_shortcut"))
    return _Tensor(out, x.c, x.h, x.w)


def _upsample(b: _Builder, s: DarknetSection, i: int, x: _Tensor, layers: list[_Tensor]) -> _Tensor:
    stride = s.get_int("stride", 2)
    scales = b.const(f"l{i}_scales", [1.0, 1.0, stride, stride])
    attrs = {
        "mode": "nearest",
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
    }
    out = b.node("Resize", [x.name, "", scales], f"l{i}_upsample", **attrs)
    return _Tensor(out, x.c, x.h * stride, x.w * stride)


def _yolo(b: _Builder, s: DarknetSection, i: int, x: _Tensor, layers: list[_Tensor]) -> _Tensor:
    classes, mask = s.get_int("classes", 20), s.get_ints("mask")
    anchors = np.asarray(s.get_ints("anchors"), np.float32).reshape(-1, 2)
    if not mask or max(mask) >= len(anchors) or x.c != len(mask) * (5 + classes):
        raise _layer_error(
            s,
            i,
            f"input has {x.c} channels, expected len(mask)*(5+classes) = "
            f"{len(mask)}*(5+{classes}) with mask {mask} indexing {len(anchors)} anchors",
        )
    b.heads.append(
        _yolo_head(b, x, i, anchors[mask], classes=classes, scale_xy=s.get_float("scale_x_y", 1.0))
    )
    return x


def _yolo_head(
    b: _Builder,
    x: _Tensor,
    i: int,
    anchors_wh: npt.NDArray[np.float32],
    *,
    classes: int,
    scale_xy: float,
) -> str:
    """Decode one head to ``[B, A*H*W, 5 + C]``, rows ordered anchor, y, x."""
    a, hw, depth = len(anchors_wh), x.h * x.w, 5 + classes
    r = b.node("Reshape", [x.name, b.const(f"l{i}_s1", [-1, a, depth, hw], np.int64)], f"l{i}_r1")
    t = b.node("Transpose", [r], f"l{i}_t", perm=[0, 1, 3, 2])
    rows = b.node("Reshape", [t, b.const(f"l{i}_s2", [-1, a * hw, depth], np.int64)], f"l{i}_r2")
    parts = [f"l{i}_xy", f"l{i}_wh", f"l{i}_rest"]
    split = b.const(f"l{i}_split", [2, 2, depth - 4], np.int64)
    b.nodes.append(helper.make_node("Split", [rows, split], parts, name=f"l{i}_split", axis=2))
    stride = np.array([b.input_wh[0] / x.w, b.input_wh[1] / x.h], np.float32)
    ys, xs = np.mgrid[0 : x.h, 0 : x.w]
    cells = np.tile(np.stack([xs, ys], axis=-1).reshape(hw, 2), (a, 1))
    xy_scale = b.const(f"l{i}_xy_scale", (scale_xy * stride)[None, None, :])
    xy_offset = b.const(f"l{i}_xy_offset", ((cells - (scale_xy - 1) / 2) * stride)[None])
    xy = b.node("Sigmoid", [parts[0]], f"l{i}_xy_sig")
    xy = b.node("Add", [b.node("Mul", [xy, xy_scale], f"l{i}_xy_mul"), xy_offset], f"l{i}_xy_out")
    anchors = b.const(f"l{i}_anchors", np.repeat(anchors_wh, hw, axis=0)[None])
    wh = b.node("Mul", [b.node("Exp", [parts[1]], f"l{i}_wh_exp"), anchors], f"l{i}_wh_out")
    rest = b.node("Sigmoid", [parts[2]], f"l{i}_rest_out")
    return b.node("Concat", [xy, wh, rest], f"l{i}_head", axis=2)


_HANDLERS: dict[str, Handler] = {
    "convolutional": _convolutional,
    "maxpool": _maxpool,
    "route": _route,
    "shortcut": _shortcut,
    "upsample": _upsample,
    "yolo": _yolo,
}
