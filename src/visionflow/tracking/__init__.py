"""Multi-object tracking: per-stream trackers that assign ``track_id`` to detections.

Every tracker follows one verb, ``tracker.update(detections) -> detections``,
on the detections of one frame, plus ``reset()`` and ``predict()`` (advance
over a frame without inference). :class:`ByteTrack` (best identities),
:class:`SORT` and :class:`IoUTracker` (cheaper) track one stream;
:class:`MultiStreamTracker` routes a multi-stream batch to one tracker per
stream, and :class:`BatchedByteTrack` tracks every stream of a batch in shared
arrays with the same results as ``MultiStreamTracker`` of ByteTracks.
"""

from visionflow.tracking._table import TrackState, TrackTable
from visionflow.tracking.batched import BatchedByteTrack
from visionflow.tracking.bytetrack import ByteTrack
from visionflow.tracking.iou import IoUTracker
from visionflow.tracking.kalman import KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from visionflow.tracking.matching import (
    fuse_score,
    greedy_assignment,
    iou_distance,
    iou_matrix,
    linear_assignment,
    mask_classes,
)
from visionflow.tracking.multistream import MultiStreamTracker, Tracker
from visionflow.tracking.sort import SORT

__all__ = [
    "SORT",
    "BatchedByteTrack",
    "ByteTrack",
    "IoUTracker",
    "KalmanFilterXYAH",
    "MultiStreamTracker",
    "TrackState",
    "TrackTable",
    "Tracker",
    "fuse_score",
    "greedy_assignment",
    "iou_distance",
    "iou_matrix",
    "linear_assignment",
    "mask_classes",
    "xyah_to_xyxy",
    "xyxy_to_xyah",
]
