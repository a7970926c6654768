"""Build a single-stream tracker from the ``tracker:`` section of the config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from visionflow.errors import ConfigError
from visionflow.tracking.bytetrack import ByteTrack
from visionflow.tracking.iou import IoUTracker
from visionflow.tracking.sort import SORT

if TYPE_CHECKING:
    from visionflow.config.schema import TrackerConfig

TRACKER_KINDS = ("bytetrack", "sort", "iou")
"""Values of ``tracker.kind``."""


def build_tracker(config: TrackerConfig) -> ByteTrack | SORT | IoUTracker:
    """A fresh tracker of ``config.kind`` with the config's parameters.

    ``sort`` and ``iou`` take ``high_threshold`` as their detection threshold
    and ``lost_buffer_frames`` as their maximum age in frames.

    Raises:
        ConfigError: ``config.kind`` is not one of :data:`TRACKER_KINDS`.
    """
    if config.kind == "bytetrack":
        return ByteTrack(
            high_threshold=config.high_threshold,
            low_threshold=config.low_threshold,
            new_track_threshold=config.new_track_threshold,
            match_threshold=config.match_threshold,
            lost_buffer_frames=config.lost_buffer_frames,
            min_hits=config.min_hits,
            class_aware=config.class_aware,
        )
    if config.kind == "sort":
        return SORT(
            iou_threshold=config.iou_threshold,
            max_age_frames=config.lost_buffer_frames,
            min_hits=config.min_hits,
            confidence_threshold=config.high_threshold,
            class_aware=config.class_aware,
        )
    if config.kind == "iou":
        return IoUTracker(
            iou_threshold=config.iou_threshold,
            confidence_threshold=config.high_threshold,
            min_hits=config.min_hits,
            max_age_frames=config.lost_buffer_frames,
            class_aware=config.class_aware,
        )
    raise ConfigError(
        f"tracker.kind={config.kind!r} is not one of {', '.join(TRACKER_KINDS)}",
        [f"tracker.kind: must be one of {', '.join(TRACKER_KINDS)} (got {config.kind!r})"],
    )
