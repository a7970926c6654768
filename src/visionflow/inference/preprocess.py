"""Letterbox a batch of RGB frames into a model input tensor.

Each image is resized with its aspect ratio kept (``cv2.resize``,
``INTER_LINEAR``), centred on a grey canvas (``0.5``, as Darknet's
``letterbox_image``), converted to float32 ``0..1`` and written into one
preallocated ``[B, 3, H, W]`` buffer. Python runs once per image, never per
pixel. The returned :class:`LetterboxGeometry` maps model-input pixels back to
source pixels: ``source = (input - pad) / scale``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from visionflow.types import FloatArray, ImageRGB

PAD_VALUE = 0.5
"""Canvas value around the resized image (Darknet's letterbox grey)."""


@dataclass(frozen=True, slots=True)
class LetterboxGeometry:
    """How each image of a batch was placed in the model input.

    Attributes:
        scale: ``[B]`` float32, input pixels per source pixel.
        pad_xy: ``[B, 2]`` float32, left and top padding in input pixels.
        source_wh: ``[B, 2]`` float32, source ``(width, height)`` in pixels.
    """

    scale: FloatArray
    pad_xy: FloatArray
    source_wh: FloatArray

    def to_source(self, xyxy: FloatArray, slot: npt.NDArray[np.integer]) -> FloatArray:
        """Map ``[N, 4]`` input-pixel boxes of batch slots ``slot`` to source pixels.

        Boxes are clipped to the source frame.
        """
        pad = np.tile(self.pad_xy[slot], 2)
        out = (xyxy - pad) / self.scale[slot, None]
        limit = np.tile(self.source_wh[slot], 2)
        clipped: FloatArray = np.clip(out, 0, limit).astype(np.float32)
        return clipped

    def to_input(self, xyxy: FloatArray, slot: npt.NDArray[np.integer]) -> FloatArray:
        """Inverse of :meth:`to_source` (without clipping)."""
        out: FloatArray = xyxy * self.scale[slot, None] + np.tile(self.pad_xy[slot], 2)
        return out.astype(np.float32)


class Letterboxer:
    """Reusable letterbox pre-processor owning its output buffer.

    The buffer grows to the largest batch seen and is reused; the array
    returned by :meth:`__call__` is a view of it, valid until the next call.

    Args:
        input_size_wh: model input ``(width, height)`` in pixels.
        pad_value: canvas value in ``0..1``.
    """

    def __init__(self, input_size_wh: tuple[int, int], pad_value: float = PAD_VALUE) -> None:
        width, height = input_size_wh
        if width <= 0 or height <= 0:
            raise ValueError(f"input_size_wh={input_size_wh!r} must be two positive ints")
        self.input_size_wh = (int(width), int(height))
        self.pad_value = float(pad_value)
        self._buffer = np.empty((0, 3, height, width), np.float32)
        self._resize = _linear_resizer()

    def __call__(self, images: Sequence[ImageRGB]) -> tuple[FloatArray, LetterboxGeometry]:
        """Letterbox ``images`` (RGB uint8 ``[H, W, 3]``, any sizes).

        Returns:
            ``(batch, geometry)``: ``batch`` is ``[len(images), 3, H, W]`` float32.

        Raises:
            ValueError: an image is not ``[H, W, 3]`` uint8.
        """
        count = len(images)
        if count > len(self._buffer):
            self._buffer = np.empty((count, *self._buffer.shape[1:]), np.float32)
        geometry = np.zeros((count, 5), np.float32)
        for slot, image in enumerate(images):
            _check_image(image, slot)
            geometry[slot] = self._letterbox_one(image, self._buffer[slot])
        batch = self._buffer[:count]
        return batch, LetterboxGeometry(geometry[:, 0], geometry[:, 1:3], geometry[:, 3:5])

    def _letterbox_one(self, image: ImageRGB, dst: FloatArray) -> list[float]:
        """Write one image into ``dst`` ``[3, H, W]``; returns scale, pad_x, pad_y, w, h."""
        height, width = image.shape[:2]
        scale, (new_w, new_h), (pad_x, pad_y) = letterbox_params(
            (width, height), self.input_size_wh
        )
        resized = image
        if (new_w, new_h) != (width, height):
            resized = self._resize(image, (new_w, new_h))
        dst.fill(self.pad_value)
        inner = dst[:, pad_y : pad_y + new_h, pad_x : pad_x + new_w]
        np.divide(resized.transpose(2, 0, 1), np.float32(255.0), out=inner)
        return [scale, pad_x, pad_y, width, height]


def letterbox_params(
    source_wh: tuple[int, int], input_size_wh: tuple[int, int]
) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """Scale, resized ``(w, h)`` and ``(pad_x, pad_y)`` for one image, in pixels."""
    scale = min(input_size_wh[0] / source_wh[0], input_size_wh[1] / source_wh[1])
    new_w = max(1, min(input_size_wh[0], round(source_wh[0] * scale)))
    new_h = max(1, min(input_size_wh[1], round(source_wh[1] * scale)))
    pad = ((input_size_wh[0] - new_w) // 2, (input_size_wh[1] - new_h) // 2)
    return scale, (new_w, new_h), pad


def _linear_resizer() -> Callable[[ImageRGB, tuple[int, int]], ImageRGB]:
    import cv2  # lazily: importing visionflow.inference must not load OpenCV

    def resize(image: ImageRGB, size_wh: tuple[int, int]) -> ImageRGB:
        return cast(ImageRGB, cv2.resize(image, size_wh, interpolation=cv2.INTER_LINEAR))

    return resize


def _check_image(image: np.ndarray, slot: int) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"images[{slot}] must be RGB uint8 [H, W, 3], "
            f"got shape {image.shape} dtype {image.dtype}"
        )
