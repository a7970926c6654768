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
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from visionflow.inference.preprocess import PAD_VALUE, LetterboxGeometry, letterbox_params

TABLE_COLUMNS = 9
"""Columns of the NV12 kernel's table rows: frame address, row pitch in bytes, output
slot, source ``w, h``, resized ``w, h``, ``pad_x, pad_y`` (see ``_nv12_kernel``)."""

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


def _blank_rows(count: int) -> npt.NDArray[np.int64]:
    """Kernel table rows that write nothing (source width 0; resized size 1 x 1)."""
    rows = np.zeros((count, TABLE_COLUMNS), np.int64)
    rows[:, 5:7] = 1
    return rows


_BLANK_ROWS = _blank_rows(1)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A one-size batch's replay: its table rows and geometry, but the frame addresses
    and pitches (the geometry is shared by every batch of the plan: read only)."""

    rows: npt.NDArray[np.int64]
    geometry: LetterboxGeometry


class _LetterboxGraph:
    """One captured letterbox launch: its device table and a pinned host copy to refill."""

    def __init__(self, graph: torch.cuda.CUDAGraph, table: torch.Tensor) -> None:
        self.graph, self.table, self.rows = graph, table, len(table)
        self._pinned = torch.from_numpy(_blank_rows(self.rows)).pin_memory()
        self._host: npt.NDArray[np.int64] = self._pinned.numpy()
        self._copied = torch.cuda.Event()  # type: ignore[no-untyped-call]
        self._copied.record()

    def host_rows(self, rows: npt.NDArray[np.int64] = _BLANK_ROWS) -> npt.NDArray[np.int64]:
        """The host table to fill for the next replay, set to ``rows`` (default blank)
        once the last copy out of it is done."""
        # Done already when the caller synchronised since; query() keeps the GIL,
        # synchronize() gives it up (and may wait a switch interval to get it back).
        if not self._copied.query():  # type: ignore[no-untyped-call]
            self._copied.synchronize()
        self._host[:] = rows
        return self._host

    def replay(self, stream: torch.cuda.Stream | None = None) -> None:
        """Copy the host table to the device and replay the launch, both queued on
        ``stream``: the current one (named, it saves a lookup of it)."""
        self.table.copy_(self._pinned, non_blocking=True)
        self._copied.record(stream)
        self.graph.replay()


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
        self.last_replayed = False  # whether the last call replayed a captured graph
        self._taps: dict[tuple[int, int, PixelFormat], tuple[_Taps, _Taps | None]] = {}
        self._kernel = _nv12_kernel(device) if fused_nv12 is not False else None
        self._graphs: dict[int, _LetterboxGraph] = {}  # by the data_ptr of their output
        # (nv12 shape, frames, graph rows) -> the table rows and geometry of a one-size batch
        self._plans: dict[tuple[tuple[int, ...], int, int], _Plan] = {}
        self.device_index = device.index if device.type == "cuda" else -1
        """The device's number (``cuda:N``), -1 on the CPU: what ``Tensor.get_device()`` says."""
        self._params: dict[tuple[int, int], tuple[float, tuple[int, int], tuple[int, int]]] = {}
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
        into: torch.Tensor | None = None,
        stream: torch.cuda.Stream | None = None,
    ) -> tuple[torch.Tensor, LetterboxGeometry]:
        """Letterbox ``frames``.

        Args:
            frames: ``rgb``: ``[H, W, 3]`` uint8; ``nv12``: ``[H * 3 // 2, W]``
                uint8 (luma rows, then interleaved UV rows). Sizes may differ.
            pixel_format: the layout of every frame, or one per frame.
            into: write into the first slots of this ``[B, 3, H, W]`` tensor
                (``B >= len(frames)``, channels_last, ``dtype``), e.g. the
                model's static input, instead of a new one. A batch of NV12
                device frames replays the graph :meth:`capture` made for it.
            stream: the current CUDA stream, when the caller has it at hand.

        Returns:
            ``(batch, geometry)``: ``[B, 3, H, W]`` in ``dtype``, channels_last,
            values ``0..1``; the geometry maps boxes back to source pixels.
        """
        if into is not None and pixel_format == "nv12" and self._graphs:
            placed = self._replay_one_size(frames, into, stream)
            if placed is not None:
                return into[: len(frames)], placed
        width, height = self.input_size_wh
        formats = [pixel_format] * len(frames) if isinstance(pixel_format, str) else pixel_format
        groups = _groups(frames, formats)
        fused = {
            key: self._fusable([frames[s] for s in slots], key[1]) for key, slots in groups.items()
        }
        self.last_fused_frames = sum(len(groups[key]) for key, yes in fused.items() if yes)
        graph = self._graphs.get(into.data_ptr()) if into is not None else None
        self.last_replayed = graph is not None and all(fused.values()) and len(frames) <= graph.rows
        geometry = np.zeros((len(frames), 5), np.float32)
        if self.last_replayed:
            assert graph is not None and into is not None
            self._fill_table(graph.host_rows(), geometry, frames, groups)
            graph.replay(stream)
            return into[: len(frames)], _geometry(geometry)
        if into is not None:
            out = into[: len(frames)]
        else:
            out = torch.empty(
                (len(frames), 3, height, width),
                dtype=self.dtype,
                device=self.device,
                memory_format=torch.channels_last,
            )
        self._launch(out, geometry, frames, groups, fused)
        return out, _geometry(geometry)

    def _replay_one_size(
        self, frames: Sequence[torch.Tensor], into: torch.Tensor, stream: torch.cuda.Stream | None
    ) -> LetterboxGeometry | None:
        """Replay ``into``'s graph for NV12 frames of one size (one live stream, or a few
        cameras alike) with the least host work: a table kept per size and count, two
        cells per frame written. ``None`` (the general path takes it) otherwise."""
        graph = self._graphs.get(into.data_ptr())
        count = len(frames)
        if graph is None or count > graph.rows or self._kernel is None:
            return None
        shape = frames[0].shape
        for frame in frames:
            if (
                frame.shape != shape
                or frame.dtype != torch.uint8
                or frame.get_device() != self.device_index
                or frame.stride(1) != 1
            ):
                return None
        key = (tuple(shape), count, graph.rows)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(
                frame_size_wh(frames[0], "nv12"), count, graph.rows
            )
        host = graph.host_rows(plan.rows)
        for slot, frame in enumerate(frames):
            host[slot, 0] = frame.data_ptr()
            host[slot, 1] = frame.stride(0)
        graph.replay(stream)
        self.last_fused_frames, self.last_replayed = count, True
        return plan.geometry

    def _plan(self, size_wh: tuple[int, int], count: int, rows: int) -> _Plan:
        """Table rows (addresses and pitches left 0) and geometry of ``count`` frames of
        ``size_wh`` in a graph of ``rows`` slots."""
        table = _blank_rows(rows)
        geometry = np.zeros((count, 5), np.float32)
        self._fill_layout(table, geometry, size_wh, list(range(count)))
        return _Plan(table, _geometry(geometry))

    def _launch(
        self,
        out: torch.Tensor,
        geometry: npt.NDArray[np.float32],
        frames: Sequence[torch.Tensor],
        groups: dict[tuple[tuple[int, int], PixelFormat], list[int]],
        fused: dict[tuple[tuple[int, int], PixelFormat], bool],
    ) -> None:
        """Letterbox without a graph: the kernel for the fusable groups, torch ops for the rest."""
        if not all(fused.values()):  # the kernel writes every pixel, canvas included
            out.fill_(self.pad_value)
        on_kernel = {key: slots for key, slots in groups.items() if fused[key]}
        for (size_wh, fmt), slots in groups.items():
            if not fused[(size_wh, fmt)]:
                geometry[slots] = self._fill(out, [frames[s] for s in slots], slots, size_wh, fmt)
        if on_kernel:
            assert self._kernel is not None
            table = _blank_rows(len(frames))  # rows of other slots write nothing
            self._fill_table(table, geometry, frames, on_kernel)
            host = torch.from_numpy(table).pin_memory()
            self._kernel(host.to(self.device, non_blocking=True), out, pad_value=self.pad_value)

    def warm_up(self) -> None:
        """Compile the Triton kernel now (a tiny blank frame) instead of on the first batch."""
        if self._kernel is not None:
            blank = torch.zeros((24, 16), dtype=torch.uint8, device=self.device)
            self([blank], "nv12")

    def capture(self, into: torch.Tensor) -> bool:
        """Capture the NV12 letterbox of up to ``len(into)`` frames into ``into`` as a CUDA graph.

        Later calls with this ``into`` and NV12 device frames refill a table
        of frame addresses and sizes, copy it to the device and replay the
        graph: one copy and one launch whatever the batch, no Triton launch
        from Python. Capture before any decoder works on the GPU (work from
        other threads can invalidate a capture). Returns False (and calls
        keep launching the kernel) without the kernel or when the capture fails.
        """
        if self._kernel is None or into.device != self.device:
            return False
        rows = len(into)
        table = torch.from_numpy(_blank_rows(rows)).to(self.device)
        self._kernel(table, into, pad_value=self.pad_value)  # compiles; blank rows write nothing
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self._kernel(table, into, pad_value=self.pad_value)
        except RuntimeError as exc:
            logger.warning("letterbox CUDA graph for %d frames not captured: %s", rows, exc)
            return False
        self._graphs[into.data_ptr()] = _LetterboxGraph(graph, table)
        return True

    def _fill_table(
        self,
        table: npt.NDArray[np.int64],
        geometry: npt.NDArray[np.float32],
        frames: Sequence[torch.Tensor],
        groups: dict[tuple[tuple[int, int], PixelFormat], list[int]],
    ) -> None:
        """Kernel table rows and geometry rows of the NV12 frames in ``groups``, at their slots."""
        for (size_wh, _), slots in groups.items():
            self._fill_layout(table, geometry, size_wh, slots)
            picked = [frames[s] for s in slots]
            table[slots, 0] = [f.data_ptr() for f in picked]
            table[slots, 1] = [f.stride(0) for f in picked]

    def _fill_layout(
        self,
        table: npt.NDArray[np.int64],
        geometry: npt.NDArray[np.float32],
        size_wh: tuple[int, int],
        slots: list[int],
    ) -> None:
        """Everything but the frame addresses and pitches: the rows' slots, sizes and
        padding for frames of ``size_wh`` at ``slots``, and their geometry rows."""
        params = self._params.get(size_wh)
        if params is None:
            params = self._params[size_wh] = letterbox_params(size_wh, self.input_size_wh)
        scale, new_wh, pad_xy = params
        table[slots, 2] = slots
        table[slots, 3:] = (*size_wh, *new_wh, *pad_xy)
        geometry[slots] = (scale, *pad_xy, *size_wh)

    def _fusable(self, frames: list[torch.Tensor], pixel_format: PixelFormat) -> bool:
        """NV12 frames the kernel can read in place: on this device, rows of contiguous bytes."""
        return (
            self._kernel is not None
            and pixel_format == "nv12"
            and all(f.device == self.device and f.stride(1) == 1 for f in frames)
        )

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


def _geometry(rows: npt.NDArray[np.float32]) -> LetterboxGeometry:
    """``[B, 5]`` rows of scale, pad ``x, y`` and source ``w, h`` as a geometry."""
    return LetterboxGeometry(rows[:, 0], rows[:, 1:3], rows[:, 3:5])


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
