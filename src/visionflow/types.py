"""Core data types that travel along pipeline edges.

Metadata is struct-of-arrays: one :class:`Detections` object per frame or per
batch holds every box as rows of a few NumPy arrays. There is never a Python
object per box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
ImageRGB = npt.NDArray[np.uint8]

NO_TRACK = -1
"""``track_id`` value of a detection that no tracker has claimed (yet)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame and where it came from.

    Attributes:
        stream_id: id of the source stream (from the config).
        frame_number: 0-based index of the frame within its stream.
        pts_seconds: presentation timestamp in seconds (stream time base applied).
        arrival_ns: ``time.monotonic_ns()`` when the frame left the decoder.
        image_rgb: ``[H, W, 3]`` uint8, RGB, HWC, C-contiguous. Frames decoded
            on the GPU carry an empty ``[0, 0, 3]`` placeholder here (the pixels
            stay on the device): see :attr:`image_nv12_device`.
        image_nv12_device: the picture on the GPU (NVDEC), an NV12
            ``[H * 3 // 2, W]`` uint8 CUDA tensor (luma rows, then interleaved
            UV rows); ``None`` for frames decoded on the CPU.
    """

    stream_id: str
    frame_number: int
    pts_seconds: float
    arrival_ns: int
    image_rgb: ImageRGB
    image_nv12_device: Any = None

    def __post_init__(self) -> None:
        img = self.image_rgb
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                f"Frame.image_rgb must be [H, W, 3] uint8, got shape {img.shape} dtype {img.dtype}"
            )

    @property
    def resolution_wh(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        if self.image_nv12_device is not None:
            rows, width = self.image_nv12_device.shape
            return int(width), int(rows) * 2 // 3
        return int(self.image_rgb.shape[1]), int(self.image_rgb.shape[0])

    @property
    def on_device(self) -> bool:
        """True when the pixels are on the GPU (:attr:`image_nv12_device`)."""
        return self.image_nv12_device is not None


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """Frames from one or more streams processed together.

    Slot ``i`` of the batch is ``frames[i]``; :attr:`Detections.frame_index`
    refers to these slots.
    """

    frames: tuple[Frame, ...]

    def __len__(self) -> int:
        return len(self.frames)


def _as(arr: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[np.generic]:
    return np.ascontiguousarray(arr, dtype=dtype)


@dataclass(slots=True)
class Detections:
    """Boxes of one frame or one batch, struct-of-arrays.

    Attributes:
        xyxy: ``[N, 4]`` float32, ``x1, y1, x2, y2`` in source-frame pixels.
        confidence: ``[N]`` float32 in ``[0, 1]``.
        class_id: ``[N]`` int32 class index of the model's label set.
        frame_index: ``[N]`` int32, the batch slot each box belongs to.
        track_id: ``[N]`` int64, :data:`NO_TRACK` until a tracker assigns one.
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    frame_index: IntArray = field(default_factory=lambda: np.zeros(0, np.int32))
    track_id: Int64Array = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.confidence)
        self.xyxy = _as(self.xyxy, np.float32).reshape(-1, 4)  # type: ignore[assignment]
        self.confidence = _as(self.confidence, np.float32)  # type: ignore[assignment]
        self.class_id = _as(self.class_id, np.int32)  # type: ignore[assignment]
        if len(self.frame_index) == 0 and n:
            self.frame_index = np.zeros(n, np.int32)
        if len(self.track_id) == 0 and n:
            self.track_id = np.full(n, NO_TRACK, np.int64)
        self.frame_index = _as(self.frame_index, np.int32)  # type: ignore[assignment]
        self.track_id = _as(self.track_id, np.int64)  # type: ignore[assignment]
        for name in ("xyxy", "confidence", "class_id", "frame_index", "track_id"):
            got = len(getattr(self, name))
            if got != n:
                raise ValueError(
                    f"Detections.{name} has {got} rows, expected {n} (= len(confidence))"
                )

    @classmethod
    def empty(cls) -> Detections:
        """Zero detections with the right dtypes and shapes."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def concatenate(cls, parts: Sequence[Detections]) -> Detections:
        """Stack several :class:`Detections` row-wise (empty input gives empty output)."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.frame_index for p in parts]),
            np.concatenate([p.track_id for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(
        self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer] | slice
    ) -> Detections:
        """Select rows by boolean mask, integer index array or slice."""
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.frame_index[index],
            self.track_id[index],
        )

    def for_frame(self, slot: int) -> Detections:
        """Rows whose :attr:`frame_index` equals ``slot``."""
        return self[self.frame_index == slot]

    def anchors(self, anchor: str = "bottom_center") -> npt.NDArray[np.float64]:
        """``[N, 2]`` float64 anchor points of the boxes.

        Args:
            anchor: one of ``center``, ``bottom_center``, ``top_center``,
                ``bottom_left``, ``bottom_right``, ``top_left``, ``top_right``.
        """
        x1, y1, x2, y2 = (self.xyxy[:, i].astype(np.float64) for i in range(4))
        xs = {"left": x1, "center": (x1 + x2) / 2, "right": x2}
        ys = {"top": y1, "center": (y1 + y2) / 2, "bottom": y2}
        if anchor == "center":
            return np.stack([xs["center"], ys["center"]], axis=1)
        vertical, _, horizontal = anchor.partition("_")
        if vertical not in ys or horizontal not in xs:
            raise ValueError(
                f"anchor={anchor!r} is not one of center, bottom_center, top_center, "
                "bottom_left, bottom_right, top_left, top_right"
            )
        return np.stack([xs[horizontal], ys[vertical]], axis=1)
