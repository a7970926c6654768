"""A synthetic test-pattern camera: ``synthetic://?size=1280x720&fps=30&pattern=boxes``.

Frames are made with NumPy (no FFmpeg): a fixed colour gradient plus, for
``boxes``, three solid boxes moving at constant speed and bouncing off the
edges, so trackers and counters have something to follow. Frames are paced
by the monotonic clock like a camera; a late consumer makes frames drop,
never slows the clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import numpy as np

from visionflow.sources._session import DecodedPicture
from visionflow.sources.backoff import ReconnectPolicy
from visionflow.sources.base import StateCallback
from visionflow.sources.live import LiveSource
from visionflow.sources.uri import SyntheticSpec, parse_synthetic
from visionflow.types import ImageRGB

_BOX_COLOURS = np.array([[230, 40, 40], [40, 200, 60], [40, 80, 230]], dtype=np.uint8)
_BOX_SPEEDS_PX_S = np.array([[240.0, 130.0], [-170.0, 210.0], [90.0, -260.0]])


def gradient(resolution_wh: tuple[int, int]) -> ImageRGB:
    """The background: red grows left→right, green top→bottom, blue constant."""
    w, h = resolution_wh
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[..., 0] = np.broadcast_to(x, (h, w)).astype(np.uint8)
    img[..., 1] = np.broadcast_to(y, (h, w)).astype(np.uint8)
    img[..., 2] = 96
    return img


def box_positions(resolution_wh: tuple[int, int], t_s: float, box_px: int) -> np.ndarray:
    """Top-left corners ``[3, 2]`` (x, y) of the boxes at time ``t_s`` (triangle-wave bounce)."""
    span = np.array(resolution_wh, dtype=np.float64) - box_px
    start = span * np.array([[0.1, 0.2], [0.7, 0.1], [0.4, 0.8]])
    travel = np.abs(start + _BOX_SPEEDS_PX_S * t_s) % (2 * span)
    corners: np.ndarray = np.where(travel > span, 2 * span - travel, travel).astype(np.int64)
    return corners


class SyntheticSession:
    """An endless, clock-paced session of test-pattern frames."""

    finite = False
    frame_count = 0
    corrupt_packets = 0

    def __init__(self, spec: SyntheticSpec) -> None:
        self.fps = spec.fps
        self._spec = spec
        self._background = gradient(spec.resolution_wh)
        self._box_px = max(8, min(spec.resolution_wh) // 8)

    def picture(self, t_s: float) -> ImageRGB:
        """The frame at time ``t_s`` seconds."""
        img = self._background.copy()
        if self._spec.pattern == "boxes":
            b = self._box_px
            for (x, y), colour in zip(
                box_positions(self._spec.resolution_wh, t_s, b), _BOX_COLOURS, strict=True
            ):
                img[y : y + b, x : x + b] = colour
        return img

    def pictures(self) -> Iterator[DecodedPicture]:
        """Frames at ``fps``, forever; pts = frame index / fps."""
        period = 1.0 / self.fps
        start = time.monotonic()
        index = 0
        while True:  # the reader stops pulling when its source is stopped
            due = start + index * period
            time.sleep(max(0.0, due - time.monotonic()))
            behind = int((time.monotonic() - due) / period)
            index += behind  # a camera does not catch up: frames we were late for are lost
            yield index * period, self.picture(index * period)
            index += 1

    def close(self) -> None:
        """Nothing to release."""


def synthetic_source(
    uri: str,
    *,
    stream_id: str,
    on_state: StateCallback | None = None,
    reconnect: ReconnectPolicy | None = None,
    rng: random.Random | None = None,
) -> LiveSource:
    """A live test-pattern source; the URI is validated at once.

    Raises:
        ValueError: unknown query keys or bad values in ``uri``.
    """
    spec = parse_synthetic(uri)
    return LiveSource(
        uri,
        lambda: SyntheticSession(spec),
        stream_id=stream_id,
        reconnect=reconnect,
        stall_timeout_s=max(5.0, 3.0 / spec.fps),
        on_state=on_state,
        rng=rng,
        nominal_fps=spec.fps,
    )
