"""Detect and track a batch, running the model only on every ``interval + 1``-th frame.

DeepStream's nvinfer ``interval``: on skipped frames the tracker predicts the
boxes of its confirmed tracks (Kalman step, no miss counted), so lines and
zones keep counting between inferences at a fraction of the model's cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from visionflow.types import Detections, Frame, FrameBatch


class BatchDetector(Protocol):
    """What this module needs from a detector."""

    def detect_frames(self, frames: Sequence[Frame]) -> Detections: ...


class BatchTracker(Protocol):
    """What this module needs from a multi-stream tracker."""

    def update(self, detections: Detections, stream_ids: Sequence[str]) -> Detections: ...

    def predict(self, stream_ids: Sequence[str]) -> Detections: ...


def inferred_slots(batch: FrameBatch, interval: int) -> np.ndarray:
    """``[B]`` bool: which frames of the batch go through the model."""
    numbers = np.fromiter((f.frame_number for f in batch.frames), np.int64, len(batch))
    mask: np.ndarray = numbers % (interval + 1) == 0
    return mask


def detect(detector: BatchDetector, batch: FrameBatch, interval: int) -> Detections:
    """Run the model on the batch's inferred frames; ``frame_index`` = batch slot."""
    if interval == 0:
        return detector.detect_frames(batch.frames)
    slots = np.flatnonzero(inferred_slots(batch, interval))
    detections = detector.detect_frames([batch.frames[i] for i in slots])
    return replace(detections, frame_index=slots[detections.frame_index].astype(np.int32))


def track(
    tracker: BatchTracker, batch: FrameBatch, detections: Detections, interval: int
) -> Detections:
    """Tracks of every frame: update on inferred frames, predict on skipped ones.

    Slots are handled in runs of the same kind, in slot order, so each
    stream's frames reach the tracker in time order. A batch of one kind (a
    one-stream batch always is) goes to the tracker as it is: slicing it into
    runs cost more than tracking it.
    """
    stream_ids = [f.stream_id for f in batch.frames]
    if interval == 0:
        return tracker.update(detections, stream_ids)
    inferred = inferred_slots(batch, interval)
    if inferred.all():
        return tracker.update(detections, stream_ids)
    if not inferred.any():
        return tracker.predict(stream_ids)
    parts = []
    for start, stop in _runs(inferred):
        ids = stream_ids[start:stop]
        if inferred[start]:
            rows = (detections.frame_index >= start) & (detections.frame_index < stop)
            local = detections[rows]
            part = tracker.update(replace(local, frame_index=local.frame_index - start), ids)
        else:
            part = tracker.predict(ids)
        parts.append(replace(part, frame_index=part.frame_index + start))
    return Detections.concatenate(parts)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of equal values in ``mask``."""
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(mask)]
    return list(itertools.pairwise(bounds))
