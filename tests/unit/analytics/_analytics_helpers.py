"""Build synthetic per-frame track Detections from anchor trajectories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from visionflow.types import Detections

Point = tuple[float, float]
Trajectory = Sequence[Point | None]  # one entry per frame; None = not seen


def boxes_at(
    points: Sequence[Point], track_ids: Sequence[int], class_ids: Sequence[int]
) -> Detections:
    """10×20 px boxes whose bottom-centre is each point."""
    xy = np.asarray(points, np.float32).reshape(-1, 2)
    xyxy = np.stack([xy[:, 0] - 5, xy[:, 1] - 20, xy[:, 0] + 5, xy[:, 1]], axis=1)
    return Detections(
        xyxy=xyxy,
        confidence=np.full(len(xy), 0.9, np.float32),
        class_id=np.asarray(class_ids, np.int32),
        track_id=np.asarray(track_ids, np.int64),
    )


def frames(
    trajectories: dict[int, Trajectory], classes: dict[int, int] | None = None
) -> Iterator[Detections]:
    """Yield one Detections per frame; rows in descending track id (not sorted)."""
    classes = classes or {}
    n_frames = max(len(t) for t in trajectories.values())
    for f in range(n_frames):
        seen = {tid: t[f] for tid, t in sorted(trajectories.items(), reverse=True) if f < len(t)}
        alive = {tid: p for tid, p in seen.items() if p is not None}
        yield boxes_at(list(alive.values()), list(alive), [classes.get(t, 0) for t in alive])


def vertical(x: float, *ys: float) -> list[Point | None]:
    """A trajectory at constant ``x`` through the given ``y`` values."""
    return [(x, y) for y in ys]
