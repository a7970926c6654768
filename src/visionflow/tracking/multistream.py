"""One tracker per stream, fed from multi-stream batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from visionflow.types import Detections

logger = logging.getLogger(__name__)


class Tracker(Protocol):
    """What :class:`MultiStreamTracker` needs from a single-stream tracker."""

    def update(self, detections: Detections) -> Detections:
        """Track the detections of one frame; return the tracked rows."""
        ...

    def reset(self) -> None:
        """Forget every track."""
        ...

    def predict(self) -> Detections:
        """Advance one frame without detections; return the confirmed tracks' boxes."""
        ...


class MultiStreamTracker:
    """Route each slot of a batch to the tracker of its stream.

    Trackers are created lazily by ``factory`` the first time a stream is
    seen, so track ids are unique *per stream* (every stream's ids start at 1).

    Args:
        factory: builds a fresh tracker, e.g.
            ``lambda: ByteTrack(lost_buffer_frames=60)``.
    """

    def __init__(self, factory: Callable[[], Tracker]) -> None:
        self._factory = factory
        self._trackers: dict[str, Tracker] = {}

    @property
    def stream_ids(self) -> tuple[str, ...]:
        """Streams that currently have a tracker, in order of first appearance."""
        return tuple(self._trackers)

    def update(self, detections: Detections, stream_ids: Sequence[str]) -> Detections:
        """Track one batch.

        Args:
            detections: the batch's detections; ``frame_index`` is the slot.
            stream_ids: ``stream_ids[i]`` is the stream of slot ``i``. Slots of
                the same stream must be in time order.

        Returns:
            The tracked rows of all slots, grouped by slot in slot order, each
            keeping its ``frame_index`` and carrying its stream's ``track_id``.

        Raises:
            ValueError: a ``frame_index`` has no entry in ``stream_ids``.
        """
        _check_slots(detections, len(stream_ids))
        order = np.argsort(detections.frame_index, kind="stable")
        bounds = np.searchsorted(detections.frame_index[order], np.arange(len(stream_ids) + 1))
        parts = [
            self._tracker(stream_id).update(detections[order[bounds[slot] : bounds[slot + 1]]])
            for slot, stream_id in enumerate(stream_ids)
        ]
        return Detections.concatenate(parts)

    def predict(self, stream_ids: Sequence[str]) -> Detections:
        """Advance each slot's stream one frame without detections (skipped inference).

        Args:
            stream_ids: ``stream_ids[i]`` is the stream of slot ``i``.

        Returns:
            Each stream's confirmed tracks at their predicted boxes (see
            ``ByteTrack.predict``), ``frame_index`` set to the slot, in slot order.
        """
        parts = []
        for slot, stream_id in enumerate(stream_ids):
            part = self._tracker(stream_id).predict()
            part.frame_index = np.full(len(part), slot, np.int32)
            parts.append(part)
        return Detections.concatenate(parts)

    def remove(self, stream_id: str) -> None:
        """Drop the tracker of ``stream_id`` (a no-op for unknown streams)."""
        if self._trackers.pop(stream_id, None) is not None:
            logger.debug("removed tracker of stream %s", stream_id)

    def reset(self) -> None:
        """Drop every stream's tracker; the next batch starts fresh ones."""
        self._trackers.clear()

    def _tracker(self, stream_id: str) -> Tracker:
        tracker = self._trackers.get(stream_id)
        if tracker is None:
            tracker = self._trackers[stream_id] = self._factory()
            logger.debug("created tracker for stream %s", stream_id)
        return tracker


def _check_slots(detections: Detections, n_slots: int) -> None:
    if len(detections) == 0:
        return
    lo, hi = int(detections.frame_index.min()), int(detections.frame_index.max())
    if lo < 0 or hi >= n_slots:
        raise ValueError(
            f"Detections.frame_index spans [{lo}, {hi}] but stream_ids has {n_slots} "
            f"entries (allowed slots 0..{n_slots - 1}); pass one stream id per batch slot"
        )
