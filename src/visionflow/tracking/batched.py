"""ByteTrack over many streams, one batch at a time, in shared arrays.

:class:`~visionflow.tracking.MultiStreamTracker` runs one
:class:`~visionflow.tracking.ByteTrack` per stream, so a batch of ``S``
streams costs ``S`` rounds of every NumPy call. :class:`BatchedByteTrack`
keeps the tracks of all streams in one table (a ``stream`` column) and does
the Kalman predict and update, state changes, pruning, spawning and
numbering of the whole batch in single calls. Only association, which is an
optimisation problem per stream, runs per stream (a loop over streams, not
over tracks). Results are identical to ``MultiStreamTracker`` with the same
ByteTrack parameters: same rows, order and ids (tests check it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from visionflow.tracking._bytetrack_steps import NO_DET, ByteTrackSteps
from visionflow.tracking._table import TrackState, TrackTable
from visionflow.tracking.bytetrack import ByteTrack
from visionflow.tracking.kalman import KalmanFilterXYAH
from visionflow.tracking.multistream import _check_slots
from visionflow.types import Detections

I64Array = npt.NDArray[np.int64]


class BatchedByteTrack(ByteTrackSteps):
    """ByteTrack for every stream of a batch at once.

    Args:
        **params: the keyword arguments of :class:`ByteTrack` (validated the
            same way), applied to every stream.

    Ids are per stream (every stream's ids start at 1), as with
    ``MultiStreamTracker``.
    """

    def __init__(self, **params: Any) -> None:
        template = ByteTrack(**params)
        for name in ByteTrackSteps.__annotations__:
            if not name.startswith("_"):
                setattr(self, name, getattr(template, name))
        self._kalman = KalmanFilterXYAH()
        self.reset()

    @property
    def tracks(self) -> TrackTable:
        """A copy of the live track table of all streams (``stream`` column: index)."""
        return self._tracks.select(np.arange(len(self._tracks)))

    def reset(self) -> None:
        """Forget every stream and track."""
        self._tracks = TrackTable.empty()
        self._frame_counts = np.zeros(0, np.int64)
        self._next_ids = np.zeros(0, np.int64)
        self._stream_index: dict[str, int] = {}

    @property
    def stream_ids(self) -> tuple[str, ...]:
        """Streams with state, in order of first appearance."""
        return tuple(self._stream_index)

    def remove(self, stream_id: str) -> None:
        """Forget ``stream_id``'s tracks; if it comes back it starts afresh (ids from 1)."""
        index = self._stream_index.pop(stream_id, None)
        if index is not None:
            self._tracks = self._tracks.select(self._tracks.stream != index)

    def update(self, detections: Detections, stream_ids: Sequence[str]) -> Detections:
        """Track one batch; same contract as :meth:`MultiStreamTracker.update`.

        Args:
            detections: the batch's detections; ``frame_index`` is the slot.
            stream_ids: ``stream_ids[i]`` is the stream of slot ``i``. Slots of
                the same stream must be in time order.

        Returns:
            The tracked rows of all slots, grouped by slot in slot order (input
            order within a slot), with their stream's ``track_id``.
        """
        _check_slots(detections, len(stream_ids))
        dets = detections[np.argsort(detections.frame_index, kind="stable")]
        bounds = np.searchsorted(dets.frame_index, np.arange(len(stream_ids) + 1))
        found_rows, found_ids = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for slots, streams in self._rounds(stream_ids):
            groups = [np.arange(bounds[s], bounds[s + 1]) for s in slots]
            det_row = self._step(dets, streams, groups)
            rows = np.flatnonzero(
                (det_row != NO_DET) & (self._tracks.state == TrackState.CONFIRMED)
            )
            found_rows.append(det_row[rows])
            found_ids.append(self._tracks.track_id[rows])
        rows = np.concatenate(found_rows)
        order = np.argsort(rows, kind="stable")
        out = dets[rows[order]]
        out.track_id = np.concatenate(found_ids)[order]
        return out

    def predict(self, stream_ids: Sequence[str]) -> Detections:
        """Advance each slot's stream one frame without detections (skipped inference).

        As :meth:`ByteTrack.predict`, per slot: returns the confirmed tracks'
        predicted boxes with ``frame_index`` set to their slot, in slot order.
        """
        parts = []
        for slots, streams in self._rounds(stream_ids):
            active = np.isin(self._tracks.stream, streams)
            self._predict(active, count_miss=False)
            slot_of = dict(zip(streams.tolist(), slots, strict=True))
            for stream, slot in slot_of.items():
                part = self._tracks.select(self._tracks.stream == stream).confirmed_detections()
                part.frame_index = np.full(len(part), slot, np.int32)
                parts.append((slot, part))
        parts.sort(key=lambda pair: pair[0])
        return Detections.concatenate([part for _, part in parts])

    def _rounds(self, stream_ids: Sequence[str]) -> list[tuple[list[int], I64Array]]:
        """Split slots into rounds with each stream at most once, in time order.

        Returns:
            Per round, its slots and their stream indices.
        """
        seen: dict[str, int] = {}
        rounds: list[tuple[list[int], list[int]]] = []
        for slot, stream_id in enumerate(stream_ids):
            k = seen[stream_id] = seen.get(stream_id, -1) + 1
            if k == len(rounds):
                rounds.append(([], []))
            rounds[k][0].append(slot)
            rounds[k][1].append(self._index(stream_id))
        return [(slots, np.asarray(streams, np.int64)) for slots, streams in rounds]

    def _index(self, stream_id: str) -> int:
        """The stream's index in the per-stream arrays, registering new streams."""
        index = self._stream_index.get(stream_id)
        if index is None:
            index = self._stream_index[stream_id] = len(self._frame_counts)
            self._frame_counts = np.append(self._frame_counts, 0)
            self._next_ids = np.append(self._next_ids, 1)
        return index
