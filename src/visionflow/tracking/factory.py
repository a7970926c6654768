"""Build a single-stream tracker from the ``tracker:`` section of the config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from visionflow.errors import ConfigError
from visionflow.tracking.batched import BatchedByteTrack
from visionflow.tracking.bytetrack import ByteTrack
from visionflow.tracking.iou import IoUTracker
from visionflow.tracking.multistream import MultiStreamTracker
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
        return ByteTrack(**_bytetrack_kwargs(config))
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


def build_multistream_tracker(config: TrackerConfig) -> MultiStreamTracker | BatchedByteTrack:
    """The tracker of a whole pipeline: per-stream ids, fed one multi-stream batch at a time.

    ByteTrack runs every stream of a batch in one table (:class:`BatchedByteTrack`:
    the same ids as one ByteTrack per stream, fewer NumPy calls per batch); SORT
    and IoU run one tracker per stream.
    """
    if config.kind == "bytetrack":
        return BatchedByteTrack(**_bytetrack_kwargs(config))
    return MultiStreamTracker(lambda: build_tracker(config))


def _bytetrack_kwargs(config: TrackerConfig) -> dict[str, Any]:
    return {
        "high_threshold": config.high_threshold,
        "low_threshold": config.low_threshold,
        "new_track_threshold": config.new_track_threshold,
        "match_threshold": config.match_threshold,
        "lost_buffer_frames": config.lost_buffer_frames,
        "min_hits": config.min_hits,
        "class_aware": config.class_aware,
    }
