"""ByteTrack over many streams, one batch at a time, in shared arrays.

:class:`~visionflow.tracking.MultiStreamTracker` runs one
:class:`~visionflow.tracking.ByteTrack` per stream, so a batch of ``S``
streams costs ``S`` rounds of every NumPy call. :class:`BatchedByteTrack`
keeps the tracks of all streams in one table (a ``stream`` column) and does
the Kalman predict and update, association, state changes, pruning, spawning
and numbering of the whole batch in single calls. Association costs only the
pairs of a track and a detection of the same stream (a block-diagonal cost
matrix) and solves all streams at once: pairs without a rival are taken
directly, and only genuinely contested groups of tracks and detections reach
the assignment solver (see :func:`~visionflow.tracking.matching.sparse_linear_assignment`).
There is no Python loop over streams or tracks, except over rounds when a
stream has several slots in one batch. Results are identical to
``MultiStreamTracker`` with the same ByteTrack parameters: same rows, order
and ids (tests check it).

With ``compiled`` (the default) a whole batch, rounds included, is one call
of compiled code (:mod:`visionflow.tracking._batched_kernel`), and so is a
``predict``: at one to a few streams the NumPy calls around the step, not
the tracking, had been most of the cost. The table then lives in column
buffers with spare rows that the kernel rewrites in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from visionflow.tracking._bytetrack_steps import NO_DET, ByteTrackSteps, kernel_detections
from visionflow.tracking._table import CONFIRMED, TrackTable
from visionflow.tracking.bytetrack import ByteTrack
from visionflow.tracking.kalman import BlockKalmanXYAH
from visionflow.tracking.multistream import _check_slots
from visionflow.types import Detections

log = logging.getLogger(__name__)

I64Array = npt.NDArray[np.int64]
_SLOT_CACHE_SIZE = 64
"""Slot layouts remembered (see :meth:`BatchedByteTrack._slots`); more are rebuilt."""


class BatchedByteTrack(ByteTrackSteps):
    """ByteTrack for every stream of a batch at once.

    Args:
        **params: the keyword arguments of :class:`ByteTrack` (validated the
            same way), applied to every stream.

    Ids are per stream (every stream's ids start at 1), as with
    ``MultiStreamTracker``.
    """

    _store: tuple[npt.NDArray[Any], ...]
    """The track table's column buffers (room for more rows than there are tracks)."""
    _n_tracks: int
    _view: TrackTable | None
    """The first ``_n_tracks`` rows of ``_store`` as a table, until they change."""

    def __init__(self, **params: Any) -> None:
        template = ByteTrack(**params)
        for name in ByteTrackSteps.__annotations__:
            if not name.startswith("_"):
                setattr(self, name, getattr(template, name))
        self._kalman = BlockKalmanXYAH()
        self.reset()

    @property
    def _tracks(self) -> TrackTable:
        """The live tracks: the first ``_n_tracks`` rows of the column buffers ``_store``
        (the compiled kernels write the table there in place instead of returning ten
        new arrays a batch; boxing each cost about 0.3 us)."""
        if self._view is None:
            self._view = TrackTable(*(column[: self._n_tracks] for column in self._store))
        return self._view

    @_tracks.setter
    def _tracks(self, table: TrackTable) -> None:
        self._store, self._n_tracks, self._view = table.columns(), len(table), table

    def _reserve(self, n_tracks: int) -> None:
        """Make room in the buffers for ``n_tracks`` rows (at least doubling them)."""
        capacity = len(self._store[0])
        if capacity < n_tracks:
            self._store = self._tracks.with_capacity(max(n_tracks, 2 * capacity, 64))
            self._view = None

    @property
    def tracks(self) -> TrackTable:
        """A copy of the live track table of all streams (``stream`` column: index)."""
        return self._tracks.select(np.arange(len(self._tracks)))

    def reset(self) -> None:
        """Forget every stream and track."""
        self._store, self._n_tracks, self._view = (), 0, None
        self._tracks = TrackTable.empty()
        self._frame_counts = np.zeros(0, np.int64)
        self._next_ids = np.zeros(0, np.int64)
        self._stream_index: dict[str, int] = {}
        self._slot_cache: dict[tuple[str, ...], tuple[I64Array, I64Array]] = {}

    def warm_up(self) -> None:
        """Compile the batch kernels now (or load them from numba's on-disk cache)
        instead of on the first batch; a no-op for the NumPy steps. Tracker state is unchanged."""
        if not self.compiled:
            return
        from visionflow.tracking import _batched_kernel as kernel

        started = time.perf_counter()
        table, settings = TrackTable.empty().columns(), self._kernel_settings()
        slot = np.zeros(1, np.int64)  # one slot, of stream 0, in round 0
        counts, ids, dets = np.zeros(1, np.int64), np.ones(1, np.int64), Detections.empty()
        kernel.update(table, 0, counts, ids, slot, slot, kernel_detections(dets), settings)
        kernel.predict(table, 0, 1, slot, slot, settings)
        if (seconds := time.perf_counter() - started) > 1.0:
            log.info("compiled the batched ByteTrack in %.1f s (cached for later runs)", seconds)

    @property
    def stream_ids(self) -> tuple[str, ...]:
        """Streams with state, in order of first appearance."""
        return tuple(self._stream_index)

    def remove(self, stream_id: str) -> None:
        """Forget ``stream_id``'s tracks; if it comes back it starts afresh (ids from 1)."""
        index = self._stream_index.pop(stream_id, None)
        if index is not None:
            self._tracks = self._tracks.select(self._tracks.stream != index)
            self._slot_cache.clear()

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
        if self.compiled:
            return self._update_compiled(detections, stream_ids)
        _check_slots(detections, len(stream_ids))
        dets = detections[np.argsort(detections.frame_index, kind="stable")]
        slot_round, slot_stream = self._slots(stream_ids)
        det_round = slot_round[dets.frame_index]
        det_stream = slot_stream[dets.frame_index].astype(np.int32)
        found_rows, found_ids = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for k in range(int(slot_round.max(initial=-1)) + 1):
            streams = slot_stream[slot_round == k]
            det_row = self._step(dets, streams, np.flatnonzero(det_round == k), det_stream)
            rows = np.flatnonzero((det_row != NO_DET) & (self._tracks.state == CONFIRMED))
            found_rows.append(det_row[rows])
            found_ids.append(self._tracks.track_id[rows])
        rows = np.concatenate(found_rows)
        order = np.argsort(rows, kind="stable")
        out = dets[rows[order]]
        out.track_id = np.concatenate(found_ids)[order]
        return out

    def _update_compiled(self, detections: Detections, stream_ids: Sequence[str]) -> Detections:
        """:meth:`update` as one call of the compiled batch kernel (same results)."""
        from visionflow.tracking import _batched_kernel as kernel

        slot_round, slot_stream = self._slots(stream_ids)
        self._reserve(self._n_tracks + len(detections))  # room for a track per detection
        try:
            n_tracks, *tracked = kernel.update(
                self._store,
                self._n_tracks,
                self._frame_counts,
                self._next_ids,
                slot_stream,
                slot_round,
                kernel_detections(detections),
                self._kernel_settings(),
            )
        except ValueError:
            _check_slots(detections, len(stream_ids))  # the error that names the slots
            raise
        self._n_tracks, self._view = n_tracks, None
        return Detections(*tracked)

    def predict(self, stream_ids: Sequence[str]) -> Detections:
        """Advance each slot's stream one frame without detections (skipped inference).

        As :meth:`ByteTrack.predict`, per slot: returns the confirmed tracks'
        predicted boxes with ``frame_index`` set to their slot, in slot order.
        """
        slot_round, slot_stream = self._slots(stream_ids)
        if self.compiled:
            return self._predict_compiled(slot_round, slot_stream)
        slot_of_stream = np.zeros(len(self._frame_counts), np.int32)
        parts = [Detections.empty()]
        for k in range(int(slot_round.max(initial=-1)) + 1):
            slots = np.flatnonzero(slot_round == k)
            active = self._of_streams(slot_stream[slots])
            self._predict(active, count_miss=False)
            slot_of_stream[slot_stream[slots]] = slots
            rows = np.flatnonzero(active & (self._tracks.state == CONFIRMED))
            part = self._tracks.select(rows).confirmed_detections()
            part.frame_index = slot_of_stream[self._tracks.stream[rows]]
            parts.append(part)
        out = Detections.concatenate(parts)
        return out[np.argsort(out.frame_index, kind="stable")]

    def _predict_compiled(self, slot_round: I64Array, slot_stream: I64Array) -> Detections:
        """:meth:`predict` as one call of the compiled batch kernel (same results)."""
        from visionflow.tracking import _batched_kernel as kernel

        xyxy, confidence, class_id, frame_index, track_id = kernel.predict(
            self._store,
            self._n_tracks,
            len(self._frame_counts),
            slot_stream,
            slot_round,
            self._kernel_settings(),
        )
        return Detections(xyxy, confidence, class_id, frame_index, track_id)

    def _slots(self, stream_ids: Sequence[str]) -> tuple[I64Array, I64Array]:
        """:meth:`_rounds`, remembered per tuple of stream ids (batches repeat their
        streams); forgotten when a stream is removed. Callers must not modify them."""
        key = tuple(stream_ids)
        slots = self._slot_cache.get(key)
        if slots is None:
            if len(self._slot_cache) >= _SLOT_CACHE_SIZE:
                self._slot_cache.clear()
            slots = self._slot_cache[key] = self._rounds(stream_ids)
        return slots

    def _rounds(self, stream_ids: Sequence[str]) -> tuple[I64Array, I64Array]:
        """Split slots into rounds with each stream at most once, in time order.

        Returns:
            Per slot, its round and its stream index.
        """
        seen: dict[str, int] = {}
        rounds = np.zeros(len(stream_ids), np.int64)
        streams = np.zeros(len(stream_ids), np.int64)
        for slot, stream_id in enumerate(stream_ids):
            rounds[slot] = seen[stream_id] = seen.get(stream_id, -1) + 1
            streams[slot] = self._index(stream_id)
        return rounds, streams

    def _index(self, stream_id: str) -> int:
        """The stream's index in the per-stream arrays, registering new streams."""
        index = self._stream_index.get(stream_id)
        if index is None:
            index = self._stream_index[stream_id] = len(self._frame_counts)
            self._frame_counts = np.append(self._frame_counts, 0)
            self._next_ids = np.append(self._next_ids, 1)
        return index
