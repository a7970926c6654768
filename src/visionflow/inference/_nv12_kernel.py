"""One Triton kernel: NV12 frames -> letterboxed fp16/fp32 RGB model input (imports triton).

The torch letterbox of :mod:`~visionflow.inference.gpu_preprocess` is a dozen
kernels per batch, each launched from Python; under load the inference
thread waits for the GIL between those launches and the stage stretches.
This kernel does the same arithmetic (cv2 ``INTER_LINEAR`` taps, BT.601
limited range, clamp, grey canvas) in one launch per batch: each program
reads its frame through a table of frame addresses and sizes, so the
frames are neither stacked nor copied, frames of any sizes share a launch,
and it writes every output pixel, canvas included, so the output needs no
fill. The launch depends only on the table's shape, so one CUDA graph per
batch size replays it for any frames (the table is refilled before each replay).

Layouts: a frame is NV12 ``[H * 3 // 2, pitch]`` uint8 (luma rows, then
interleaved UV rows) at the address in the table; the output is
``[B, 3, out_h, out_w]`` channels_last, i.e. ``[B, out_h, out_w, 3]`` in memory.
"""

from __future__ import annotations

from typing import Any

import triton
import triton.language as tl

_BLOCK_PIXELS = 1024


@triton.jit
def _taps(dst, ratio, src):  # type: ignore[no-untyped-def]
    """Left/right source index and right weight of output coordinate ``dst`` (cv2 linear)."""
    pos = (dst.to(tl.float32) + 0.5) * ratio - 0.5
    left_f = tl.floor(pos)
    weight = tl.where(left_f < 0.0, 0.0, pos - left_f)
    left = tl.minimum(tl.maximum(left_f.to(tl.int32), 0), src - 1)
    right = tl.minimum(left + 1, src - 1)
    return left.to(tl.int64), right.to(tl.int64), weight


# Triton jit functions take their arguments by position (PLR0917).
@triton.jit
def _bilinear(plane, pitch, y0, y1, x0, x1, wx, wy, mask):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    p00 = tl.load(plane + y0 * pitch + x0, mask=mask, other=0).to(tl.float32)
    p01 = tl.load(plane + y0 * pitch + x1, mask=mask, other=0).to(tl.float32)
    p10 = tl.load(plane + y1 * pitch + x0, mask=mask, other=0).to(tl.float32)
    p11 = tl.load(plane + y1 * pitch + x1, mask=mask, other=0).to(tl.float32)
    top = p00 + (p01 - p00) * wx
    bottom = p10 + (p11 - p10) * wx
    return top + (bottom - top) * wy


@triton.jit
def _nv12_letterbox(  # type: ignore[no-untyped-def]  # noqa: PLR0917
    table,  # int64 [n, 9]: address, pitch (bytes), slot, source w, h, resized w, h, pad x, y
    out,  # [B, out_h, out_w, 3] (channels_last memory)
    pad_value,
    out_w: tl.constexpr,
    out_h: tl.constexpr,
    block: tl.constexpr,
):
    row = table + tl.program_id(0) * 9
    pixel = tl.program_id(1) * block + tl.arange(0, block)
    base = tl.load(row).to(tl.pointer_type(tl.uint8))
    pitch = tl.load(row + 1)
    slot = tl.load(row + 2)
    src_w = tl.load(row + 3).to(tl.int32)
    src_h = tl.load(row + 4).to(tl.int32)
    new_w = tl.load(row + 5).to(tl.int32)
    new_h = tl.load(row + 6).to(tl.int32)
    pad_x = tl.load(row + 7).to(tl.int32)
    pad_y = tl.load(row + 8).to(tl.int32)
    valid = (pixel < out_w * out_h) & (src_w > 0)
    u = pixel % out_w - pad_x
    v = pixel // out_w - pad_y
    inside = valid & (u >= 0) & (u < new_w) & (v >= 0) & (v < new_h)

    x0, x1, wx = _taps(u, src_w.to(tl.float32) / new_w.to(tl.float32), src_w)
    y0, y1, wy = _taps(v, src_h.to(tl.float32) / new_h.to(tl.float32), src_h)
    luma = _bilinear(base, pitch, y0, y1, x0, x1, wx, wy, inside)
    chroma_w, chroma_h = src_w // 2, src_h // 2
    cx0, cx1, cwx = _taps(u, chroma_w.to(tl.float32) / new_w.to(tl.float32), chroma_w)
    cy0, cy1, cwy = _taps(v, chroma_h.to(tl.float32) / new_h.to(tl.float32), chroma_h)
    uv_plane = base + src_h.to(tl.int64) * pitch
    cb = _bilinear(uv_plane, pitch, cy0, cy1, 2 * cx0, 2 * cx1, cwx, cwy, inside) - 128.0
    cr = _bilinear(uv_plane + 1, pitch, cy0, cy1, 2 * cx0, 2 * cx1, cwx, cwy, inside) - 128.0

    # BT.601 limited range, as FFmpeg's swscale default for untagged YUV (as the torch path)
    y = (luma - 16.0) * 1.1643835616438356  # 255 / 219
    red = y + 1.596027 * cr
    green = y + -0.391762 * cb + -0.812968 * cr
    blue = y + 2.017232 * cb
    dest = out + slot * (out_w * out_h * 3) + pixel * 3
    _store_channel(dest, red, inside, valid, pad_value)
    _store_channel(dest + 1, green, inside, valid, pad_value)
    _store_channel(dest + 2, blue, inside, valid, pad_value)


@triton.jit
def _store_channel(dest, value, inside, valid, pad_value):  # type: ignore[no-untyped-def]
    scaled = tl.minimum(tl.maximum(value * (1.0 / 255.0), 0.0), 1.0)
    tl.store(dest, tl.where(inside, scaled, pad_value).to(dest.dtype.element_ty), mask=valid)


def nv12_letterbox(table: Any, out: Any, *, pad_value: float) -> None:
    """Letterbox the frames of ``table`` (``[n, 9]`` int64 on the device) into ``out``.

    A row is a frame's address, row pitch in bytes, output slot, source
    ``w, h``, resized ``w, h`` and ``pad_x, pad_y``; a row of source width 0
    writes nothing. ``out`` is a channels_last ``[B, 3, out_h, out_w]`` float tensor; the slot
    named in each row is written whole (resized picture and canvas). Frames
    of one call may differ in size. No host work depends on the table's
    contents, so a CUDA graph can capture the launch and replay it on new rows.
    """
    out_h, out_w = int(out.shape[2]), int(out.shape[3])
    grid = (int(table.shape[0]), triton.cdiv(out_w * out_h, _BLOCK_PIXELS))
    _nv12_letterbox[grid](table, out, pad_value, out_w=out_w, out_h=out_h, block=_BLOCK_PIXELS)
