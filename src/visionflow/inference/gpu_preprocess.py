"""Letterbox on the device: RGB or NV12 frames -> ``[B, 3, H, W]`` model input (imports torch).

Same geometry and interpolation as the CPU :class:`~visionflow.inference.Letterboxer`
(cv2 ``INTER_LINEAR``: source ``x = (u + 0.5) * src_w / new_w - 0.5``, taps
clamped to the border, grey ``0.5`` canvas), computed only at the output
pixels: the four taps of every output pixel are gathered straight from the
uint8 frame, so a 1080p frame is never converted or copied at full size.

For NV12 (what NVDEC produces) luma and chroma are sampled at their own
resolutions and converted to RGB (BT.601 limited range, what FFmpeg's
``rgb24`` conversion of an untagged stream uses) at the model resolution:
``NV12 -> RGB -> resize -> normalise -> fp16 NCHW`` is one pass over the
needed pixels, a dozen kernels per batch whatever the batch size. On a CUDA
device with Triton (which CUDA builds of torch bring), NV12 frames instead go
through one Triton kernel per batch (:mod:`~visionflow.inference._nv12_kernel`,
the same arithmetic) that reads each frame in place: under load the
inference thread launches one kernel instead of a dozen, each of which could
wait for the GIL.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from visionflow.inference.preprocess import PAD_VALUE, LetterboxGeometry, letterbox_params

PixelFormat = Literal["rgb", "nv12"]
Nv12Kernel = Callable[..., None]

logger = logging.getLogger(__name__)

# BT.601 limited range, as FFmpeg's swscale default for untagged YUV.
_Y_SCALE, _Y_OFFSET = 255.0 / 219.0, 16.0
_R_V, _G_U, _G_V, _B_U = 1.596027, -0.391762, -0.812968, 2.017232


class _Taps:
    """Bilinear taps of one (source size -> resized size) mapping, on the device."""

    def __init__(self, src_wh: tuple[int, int], new_wh: tuple[int, int], device: torch.device):
        x0, x1, wx = _axis(src_wh[0], new_wh[0])
        y0, y1, wy = _axis(src_wh[1], new_wh[1])
        width = src_wh[0]
        flat = [(ya[:, None] * width + xa[None, :]).ravel() for ya in (y0, y1) for xa in (x0, x1)]
        self.index = [torch.from_numpy(f).to(device) for f in flat]  # 00, 01, 10, 11
        self.wx = torch.from_numpy(np.tile(wx, new_wh[1])).to(device)[:, None]
        self.wy = torch.from_numpy(np.repeat(wy, new_wh[0])).to(device)[:, None]

    def sample(self, plane: torch.Tensor) -> torch.Tensor:
        """``plane`` ``[B, H*W, C]`` uint8 -> ``[B, new_h*new_w, C]`` float32."""
        p00, p01, p10, p11 = (plane[:, i].float() for i in self.index)
        top = p00 + (p01 - p00) * self.wx
        bottom = p10 + (p11 - p10) * self.wx
        return top + (bottom - top) * self.wy


def _axis(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    left = np.floor(pos)
    weight = pos - left
    weight[left < 0] = 0.0
    left = np.clip(left, 0, src - 1).astype(np.int64)
    right = np.minimum(left + 1, src - 1)
    return left, right, weight.astype(np.float32)


class DeviceLetterboxer:
    """Letterbox batches of device frames into one reusable model-input tensor.

    Args:
        input_size_wh: model input ``(width, height)``.
        device: where frames and the output live.
        dtype: output dtype (float16 for the fp16 model).
        pad_value: canvas value in ``0..1``.
        fused_nv12: NV12 through the one Triton kernel: ``None`` = when the
            device is CUDA and Triton is installed; ``False`` = the torch ops.
    """

    def __init__(
        self,
        input_size_wh: tuple[int, int],
        device: torch.device,
        dtype: torch.dtype = torch.float16,
        pad_value: float = PAD_VALUE,
        fused_nv12: bool | None = None,
    ) -> None:
        self.input_size_wh = input_size_wh
        if device.type == "cuda" and device.index is None:  # frames say cuda:N, never cuda
            device = torch.device("cuda", torch.cuda.current_device())
        self.device, self.dtype, self.pad_value = device, dtype, pad_value
        self.last_fused_frames = 0  # frames of the last call letterboxed by the Triton kernel
        self._taps: dict[tuple[int, int, PixelFormat], tuple[_Taps, _Taps | None]] = {}
        self._kernel = _nv12_kernel(device) if fused_nv12 is not False else None
        if fused_nv12 and self._kernel is None:
            raise ValueError("fused_nv12=True needs a CUDA device and Triton")

    @property
    def fused_nv12(self) -> bool:
        """True when NV12 batches go through the one Triton kernel."""
        return self._kernel is not None

    def __call__(
        self,
        frames: Sequence[torch.Tensor],
        pixel_format: PixelFormat | Sequence[PixelFormat] = "rgb",
    ) -> tuple[torch.Tensor, LetterboxGeometry]:
        """Letterbox ``frames``.

        Args:
            frames: ``rgb``: ``[H, W, 3]`` uint8; ``nv12``: ``[H * 3 // 2, W]``
                uint8 (luma rows, then interleaved UV rows). Sizes may differ.
            pixel_format: the layout of every frame, or one per frame.

        Returns:
            ``(batch, geometry)``: ``[B, 3, H, W]`` in ``dtype``, channels_last,
            values ``0..1``; the geometry maps boxes back to source pixels.
        """
        width, height = self.input_size_wh
        formats = [pixel_format] * len(frames) if isinstance(pixel_format, str) else pixel_format
        groups = _groups(frames, formats)
        fused = {
            key: self._fusable([frames[s] for s in slots], key[1]) for key, slots in groups.items()
        }
        out = torch.empty(
            (len(frames), 3, height, width),
            dtype=self.dtype,
            device=self.device,
            memory_format=torch.channels_last,
        )
        if not all(fused.values()):  # the kernel writes every pixel, canvas included
            out.fill_(self.pad_value)
        geometry = np.zeros((len(frames), 5), np.float32)
        self.last_fused_frames = sum(len(groups[key]) for key, yes in fused.items() if yes)
        for (size_wh, fmt), slots in groups.items():
            fill = self._fill_fused if fused[(size_wh, fmt)] else self._fill
            geometry[slots] = fill(out, [frames[s] for s in slots], slots, size_wh, fmt)
        return out, LetterboxGeometry(geometry[:, 0], geometry[:, 1:3], geometry[:, 3:5])

    def warm_up(self) -> None:
        """Compile the Triton kernel now (a tiny blank frame) instead of on the first batch."""
        if self._kernel is not None:
            blank = torch.zeros((24, 16), dtype=torch.uint8, device=self.device)
            self([blank], "nv12")

    def _fusable(self, frames: list[torch.Tensor], pixel_format: PixelFormat) -> bool:
        """NV12 frames the kernel can read in place: on this device, rows of contiguous bytes."""
        return (
            self._kernel is not None
            and pixel_format == "nv12"
            and all(f.device == self.device and f.stride(1) == 1 for f in frames)
        )

    def _fill_fused(
        self,
        out: torch.Tensor,
        frames: list[torch.Tensor],
        slots: list[int],
        size_wh: tuple[int, int],
        pixel_format: PixelFormat,
    ) -> list[float]:
        assert self._kernel is not None and pixel_format == "nv12"
        scale, new_wh, pad_xy = letterbox_params(size_wh, self.input_size_wh)
        rows = [(f.data_ptr(), f.stride(0), slot) for f, slot in zip(frames, slots, strict=True)]
        table = torch.tensor(rows, dtype=torch.int64, pin_memory=True)
        self._kernel(
            table.to(self.device, non_blocking=True),
            out,
            size_wh=size_wh,
            new_wh=new_wh,
            pad_xy=pad_xy,
            pad_value=self.pad_value,
        )
        return [scale, pad_xy[0], pad_xy[1], size_wh[0], size_wh[1]]

    def _fill(
        self,
        out: torch.Tensor,
        frames: list[torch.Tensor],
        slots: list[int],
        size_wh: tuple[int, int],
        pixel_format: PixelFormat,
    ) -> list[float]:
        scale, (new_w, new_h), (pad_x, pad_y) = letterbox_params(size_wh, self.input_size_wh)
        luma, chroma = self._taps_for(size_wh, (new_w, new_h), pixel_format)
        stacked = torch.stack(frames)
        if pixel_format == "rgb":
            rgb = luma.sample(stacked.reshape(len(frames), -1, 3))
        else:
            rgb = _nv12_to_rgb(stacked, size_wh, luma, chroma)  # type: ignore[arg-type]
        image = (rgb * (1.0 / 255.0)).clamp_(0.0, 1.0).to(self.dtype)
        image = image.reshape(len(frames), new_h, new_w, 3).permute(0, 3, 1, 2)
        region = out[:, :, pad_y : pad_y + new_h, pad_x : pad_x + new_w]
        index = torch.tensor(slots, device=self.device)
        if slots == list(range(slots[0], slots[0] + len(slots))):
            region[slots[0] : slots[0] + len(slots)] = image
        else:
            out[:, :, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = region.index_copy(
                0, index, image
            )
        return [scale, pad_x, pad_y, size_wh[0], size_wh[1]]

    def _taps_for(
        self, size_wh: tuple[int, int], new_wh: tuple[int, int], pixel_format: PixelFormat
    ) -> tuple[_Taps, _Taps | None]:
        key = (*size_wh, pixel_format)
        if key not in self._taps:
            chroma = None
            if pixel_format == "nv12":
                chroma = _Taps((size_wh[0] // 2, size_wh[1] // 2), new_wh, self.device)
            self._taps[key] = (_Taps(size_wh, new_wh, self.device), chroma)
        return self._taps[key]


def _nv12_kernel(device: torch.device) -> Nv12Kernel | None:
    """The Triton NV12 letterbox when ``device`` is CUDA and Triton is installed, else None."""
    if device.type != "cuda" or importlib.util.find_spec("triton") is None:
        return None
    try:
        from visionflow.inference._nv12_kernel import nv12_letterbox
    except Exception as exc:  # a Triton that does not load: the torch ops still work
        logger.warning("Triton NV12 letterbox unavailable (%s); using torch ops", exc)
        return None
    return nv12_letterbox


def _groups(
    frames: Sequence[torch.Tensor], formats: Sequence[PixelFormat]
) -> dict[tuple[tuple[int, int], PixelFormat], list[int]]:
    """Slots of the frames sharing a size and layout (usually one group per batch)."""
    groups: dict[tuple[tuple[int, int], PixelFormat], list[int]] = {}
    for slot, frame in enumerate(frames):
        fmt = formats[slot]
        groups.setdefault((frame_size_wh(frame, fmt), fmt), []).append(slot)
    return groups


def frame_size_wh(frame: torch.Tensor, pixel_format: PixelFormat) -> tuple[int, int]:
    """``(width, height)`` of a device frame, checking its layout.

    Raises:
        ValueError: not ``[H, W, 3]`` uint8 (rgb) or ``[H * 3 // 2, W]`` uint8 (nv12).
    """
    if frame.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8, got {frame.dtype}")
    if pixel_format == "rgb" and frame.ndim == 3 and frame.shape[2] == 3:
        return int(frame.shape[1]), int(frame.shape[0])
    if pixel_format == "nv12" and frame.ndim == 2 and frame.shape[0] % 3 == 0:
        return int(frame.shape[1]), int(frame.shape[0]) * 2 // 3
    expected = "[H, W, 3]" if pixel_format == "rgb" else "[H * 3 // 2, W] with even H"
    raise ValueError(f"{pixel_format} frame must be {expected} uint8, got {tuple(frame.shape)}")


def _nv12_to_rgb(
    stacked: torch.Tensor, size_wh: tuple[int, int], luma: _Taps, chroma: _Taps
) -> torch.Tensor:
    height = size_wh[1]
    count = len(stacked)
    y_plane = stacked[:, :height].reshape(count, -1, 1)
    uv_plane = stacked[:, height:].reshape(count, -1, 2)
    y = (luma.sample(y_plane) - _Y_OFFSET) * _Y_SCALE
    uv = chroma.sample(uv_plane) - 128.0
    u, v = uv[..., :1], uv[..., 1:]
    return torch.cat([y + _R_V * v, y + _G_U * u + _G_V * v, y + _B_U * u], dim=2)
