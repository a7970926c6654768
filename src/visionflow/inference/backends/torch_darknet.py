"""A Darknet cfg/weights model as a :class:`torch.nn.Module` (imports torch).

Same semantics as the ONNX export (:mod:`visionflow.inference._darknet_graph`),
built from the same parsed sections and the same weight reader and BN folding,
so the two backends compute one function:

* convolutional: batch-norm folded into the conv (Darknet's epsilon on the
  standard deviation), ``leaky`` slope 0.1;
* maxpool: Darknet padding (``size - 1``, offset ``-padding // 2``);
* route / shortcut / upsample (nearest, integer stride);
* yolo: decoded in the module to ``[B, N, 5 + C]`` (``cx, cy, w, h`` in input
  pixels, objectness, class probabilities) — always in float32, whatever the
  dtype of the convolutions, so fp16 inference loses no box precision.

Import this module only after :func:`~visionflow.inference.backends._torch.require_torch`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812 (torch convention)
from torch import nn

from visionflow.errors import ModelFormatError
from visionflow.inference._darknet_graph import (
    _Builder,
    _check_weights,
    _conv_params,
    _WeightReader,
)
from visionflow.inference.darknet import DarknetSection

_ACTIVATIONS = ("linear", "leaky", "relu", "logistic")


@dataclass(frozen=True, slots=True)
class _Shape:
    c: int
    h: int
    w: int


class _Layer(nn.Module):
    """One cfg layer; ``refs`` names earlier layer outputs it reads."""

    def __init__(self, kind: str, refs: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.kind = kind
        self.refs = refs


class _Conv(_Layer):
    def __init__(self, conv: nn.Conv2d, activation: str) -> None:
        super().__init__("convolutional")
        self.conv, self.activation = conv, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _activate(self.conv(x), self.activation)


class _Route(_Layer):
    def __init__(self, refs: tuple[int, ...], groups: int, group_id: int) -> None:
        super().__init__("route", refs)
        self.groups, self.group_id = groups, group_id

    def select(self, srcs: list[torch.Tensor]) -> torch.Tensor:
        out = srcs[0] if len(srcs) == 1 else torch.cat(srcs, dim=1)
        if self.groups == 1:
            return out
        part = out.shape[1] // self.groups
        return out[:, self.group_id * part : (self.group_id + 1) * part]


class _Shortcut(_Layer):
    def __init__(self, ref: int, activation: str) -> None:
        super().__init__("shortcut", (ref,))
        self.activation = activation

    def add(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return _activate(x + other, self.activation)


def _activate(y: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "leaky":
        return F.leaky_relu(y, 0.1)
    if activation == "relu":
        return F.relu(y)
    if activation == "logistic":
        return torch.sigmoid(y)
    return y


class _MaxPool(_Layer):
    def __init__(self, size: int, stride: int, padding: int) -> None:
        super().__init__("maxpool")
        self.size, self.stride = size, stride
        self.pads = (padding // 2, padding - padding // 2) * 2  # left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pads):
            x = F.pad(x, self.pads, value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)


class _Upsample(_Layer):
    def __init__(self, stride: int) -> None:
        super().__init__("upsample")
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=float(self.stride), mode="nearest")


class _YoloHead(_Layer):
    """Decodes one head to ``[B, A*H*W, 5 + C]`` float32, rows ordered anchor, y, x."""

    xy_scale: torch.Tensor
    xy_offset: torch.Tensor
    anchors: torch.Tensor

    def __init__(
        self,
        shape: _Shape,
        anchors_wh: npt.NDArray[np.float32],
        classes: int,
        scale_xy: float,
        input_wh: tuple[int, int],
    ) -> None:
        super().__init__("yolo")
        a, hw = len(anchors_wh), shape.h * shape.w
        self.a, self.hw, self.depth = a, hw, 5 + classes
        stride = np.array([input_wh[0] / shape.w, input_wh[1] / shape.h], np.float32)
        ys, xs = np.mgrid[0 : shape.h, 0 : shape.w]
        cells = np.tile(np.stack([xs, ys], axis=-1).reshape(hw, 2), (a, 1)).astype(np.float32)
        self.register_buffer("xy_scale", torch.from_numpy(scale_xy * stride))
        self.register_buffer("xy_offset", torch.from_numpy((cells - (scale_xy - 1) / 2) * stride))
        self.register_buffer("anchors", torch.from_numpy(np.repeat(anchors_wh, hw, axis=0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.float().reshape(-1, self.a, self.depth, self.hw).transpose(2, 3)
        rows = rows.reshape(-1, self.a * self.hw, self.depth)
        xy = torch.sigmoid(rows[..., :2]) * self.xy_scale + self.xy_offset
        wh = torch.exp(rows[..., 2:4]) * self.anchors
        return torch.cat([xy, wh, torch.sigmoid(rows[..., 4:])], dim=2)


class DarknetModule(nn.Module):
    """The whole network; ``forward`` maps ``[B, C, H, W]`` to ``[B, N, 5 + C]`` float32."""

    def __init__(self, layers: list[_Layer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self._layers = layers  # typed view of the same modules
        self._keep = {r for layer in layers for r in layer.refs}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: dict[int, torch.Tensor] = {}
        heads: list[torch.Tensor] = []
        for index, layer in enumerate(self._layers):
            x = self._step(layer, x, outputs, heads)
            if index in self._keep:
                outputs[index] = x
        return torch.cat(heads, dim=1)

    @staticmethod
    def _step(
        layer: _Layer, x: torch.Tensor, outputs: dict[int, torch.Tensor], heads: list[torch.Tensor]
    ) -> torch.Tensor:
        if isinstance(layer, _Route):
            return layer.select([outputs[r] for r in layer.refs])
        if isinstance(layer, _Shortcut):
            return layer.add(x, outputs[layer.refs[0]])
        if layer.kind == "yolo":
            heads.append(layer(x))
            return x
        return layer(x)  # type: ignore[no-any-return]


def build_darknet_module(
    sections: list[DarknetSection], weights: npt.NDArray[np.float32], input_size_wh: tuple[int, int]
) -> DarknetModule:
    """Build the float32 module (eval mode, on the CPU).

    Args:
        sections: cfg sections, ``[net]`` first (from :func:`~visionflow.inference.load_cfg`).
        weights: every float32 of the weights file after its header.
        input_size_wh: network input ``(width, height)`` in pixels, multiples of 32.

    Raises:
        ModelFormatError: unsupported section, inconsistent shapes, no ``[yolo]``
            head or a weights count that differs from what the cfg needs.
    """
    builder = _Builder(_WeightReader(weights), input_size_wh)
    shape = _Shape(sections[0].get_int("channels", 3), input_size_wh[1], input_size_wh[0])
    layers: list[_Layer] = []
    shapes: list[_Shape] = []
    for index, section in enumerate(sections[1:]):
        layer, shape = _make_layer(builder, section, index, shape, shapes)
        layers.append(layer)
        shapes.append(shape)
    _check_weights(builder)
    if not any(layer.kind == "yolo" for layer in layers):
        raise ModelFormatError("cfg has no [yolo] section, nothing to output")
    return DarknetModule(layers).eval()


def _make_layer(
    b: _Builder, s: DarknetSection, i: int, x: _Shape, shapes: list[_Shape]
) -> tuple[_Layer, _Shape]:
    if s.kind == "convolutional":
        return _conv(b, s, i, x)
    if s.kind == "maxpool":
        k, stride = s.get_int("size", 1), s.get_int("stride", 1)
        padding = s.get_int("padding", k - 1)
        out = _Shape(x.c, (x.h + padding - k) // stride + 1, (x.w + padding - k) // stride + 1)
        return _MaxPool(k, stride, padding), out
    if s.kind == "upsample":
        stride = s.get_int("stride", 2)
        return _Upsample(stride), _Shape(x.c, x.h * stride, x.w * stride)
    if s.kind == "route":
        return _route(s, i, shapes)
    if s.kind == "shortcut":
        ref = s.get_int("from", 0)
        return _Shortcut(ref + i if ref < 0 else ref, s.options.get("activation", "linear")), x
    if s.kind == "yolo":
        return _yolo(b, s, i, x), x
    raise ModelFormatError(
        f"cfg layer {i} ([{s.kind}] at line {s.line}): unsupported section type for the torch "
        "backend, expected one of convolutional, maxpool, route, shortcut, upsample, yolo"
    )


def _conv(b: _Builder, s: DarknetSection, i: int, x: _Shape) -> tuple[_Layer, _Shape]:
    n, k, stride = s.get_int("filters", 1), s.get_int("size", 1), s.get_int("stride", 1)
    groups = s.get_int("groups", 1)
    pad = k // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
    activation = s.options.get("activation", "linear")
    if activation not in _ACTIVATIONS or x.c % groups:
        raise ModelFormatError(
            f"cfg layer {i} ([{s.kind}] at line {s.line}): activation={activation!r} "
            f"(allowed {list(_ACTIVATIONS)}), groups={groups} for {x.c} input channels"
        )
    weight, bias = _conv_params(b, n, x.c // groups, k, bool(s.get_int("batch_normalize", 0)))
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        b.non_finite.append(i)
    conv = nn.Conv2d(x.c, n, k, stride, pad, groups=groups, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.array(weight, np.float32)))
        conv.bias.copy_(torch.from_numpy(np.array(bias, np.float32)))  # type: ignore[union-attr]
    out = _Shape(n, (x.h + 2 * pad - k) // stride + 1, (x.w + 2 * pad - k) // stride + 1)
    return _Conv(conv, activation), out


def _route(s: DarknetSection, i: int, shapes: list[_Shape]) -> tuple[_Layer, _Shape]:
    refs = tuple(r + i if r < 0 else r for r in s.get_ints("layers"))
    if not refs or any(not 0 <= r < i for r in refs):
        raise ModelFormatError(
            f"cfg layer {i} ([route] at line {s.line}): layers={s.options.get('layers')!r} "
            "must name earlier layers"
        )
    srcs = [shapes[r] for r in refs]
    if len({(t.h, t.w) for t in srcs}) != 1:
        raise ModelFormatError(
            f"cfg layer {i} ([route] at line {s.line}): cannot concatenate "
            f"{[(t.c, t.h, t.w) for t in srcs]}; input size not a multiple of 32?"
        )
    groups = s.get_int("groups", 1)
    layer = _Route(refs, groups, s.get_int("group_id", 0))
    return layer, _Shape(sum(t.c for t in srcs) // groups, srcs[0].h, srcs[0].w)


def _yolo(b: _Builder, s: DarknetSection, i: int, x: _Shape) -> _Layer:
    classes, mask = s.get_int("classes", 20), s.get_ints("mask")
    anchors = np.asarray(s.get_ints("anchors"), np.float32).reshape(-1, 2)
    if not mask or max(mask) >= len(anchors) or x.c != len(mask) * (5 + classes):
        raise ModelFormatError(
            f"cfg layer {i} ([yolo] at line {s.line}): input has {x.c} channels, expected "
            f"len(mask)*(5+classes) = {len(mask)}*(5+{classes}) with mask {mask}"
        )
    return _YoloHead(x, anchors[mask], classes, s.get_float("scale_x_y", 1.0), b.input_wh)
