"""Build a stream's zone counters and ROI filter from the config (used by ``build``)."""

from __future__ import annotations

import math

import numpy as np

from visionflow.analytics import Roi, RoiFilter, ZoneCounter
from visionflow.config import PipelineConfig, ZoneConfig
from visionflow.geometry import Point, Polygon
from visionflow.pipeline.classes import resolve_classes


def seconds_to_frames(seconds: float, fps: float) -> int:
    """Frames that span at least ``seconds`` at ``fps`` (at least 1).

    A tiny tolerance keeps ``30 s * 25 fps`` at 750 frames despite float
    rounding.
    """
    return max(1, math.ceil(seconds * fps - 1e-9))


def build_zone(
    zc: ZoneConfig, i: int, names: list[str], forget_frames: int, fps: float
) -> tuple[ZoneCounter, np.ndarray]:
    """The counter of ``analytics.zones[i]`` and its vertices (for the overlay).

    Raises:
        ConfigError: a class in ``classes`` is not one of the model's.
    """
    classes = resolve_classes(zc.classes, names, f"analytics.zones[{i}].classes")
    polygon = Polygon(tuple(Point(*p) for p in zc.polygon))
    crowd = zc.overcrowding
    counter = ZoneCounter(
        zc.name,
        polygon,
        class_ids=classes,
        anchor=zc.anchor,
        min_frames=zc.min_frames,
        forget_frames=forget_frames,
        loitering_frames=None if zc.loitering_s is None else seconds_to_frames(zc.loitering_s, fps),
        overcrowding_threshold=None if crowd is None else crowd.threshold,
        overcrowding_frames=1 if crowd is None else crowd.hysteresis_frames(fps),
        recount_window_frames=zc.recount_window_frames,
        recount_radius_px=zc.recount_radius_px,
    )
    return counter, polygon.as_array()


def build_roi_filter(config: PipelineConfig, stream_id: str, names: list[str]) -> RoiFilter:
    """The ROI filter of ``stream_id``: every ``analytics.roi`` entry that names it.

    Raises:
        ConfigError: a class in ``classes`` is not one of the model's.
    """
    rois = [
        Roi(
            rc.name,
            Polygon(tuple(Point(*p) for p in rc.polygon)),
            inverse=rc.inverse,
            class_ids=resolve_classes(rc.classes, names, f"analytics.roi[{i}].classes"),
            anchor=rc.anchor,
        )
        for i, rc in enumerate(config.analytics.roi)
        if rc.streams is None or stream_id in rc.streams
    ]
    return RoiFilter(rois)
