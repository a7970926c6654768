# numba ships no type hints and infers the kernels' types from their arguments (the
# overrides pyproject.toml gives visionflow.tracking._bytetrack_kernel); compiled
# functions take their arrays positionally (no keyword-only parameters in nopython mode).
# mypy: disallow-untyped-defs=False, disallow-untyped-decorators=False
# mypy: disallow-incomplete-defs=False, disallow-any-unimported=False, warn-return-any=False
# ruff: noqa: PLR0917
"""A whole batch of :class:`~visionflow.tracking.BatchedByteTrack` as one compiled call.

:func:`~visionflow.tracking._bytetrack_kernel.step` does one frame of each
stream of a round in compiled code, but the batch around it (ordering the
rows by slot, splitting slots into rounds, collecting the confirmed rows and
ordering the output) took about as many small NumPy calls again, each a few
microseconds of interpreter and dispatch. At one to a few streams that fixed
cost was most of the stage. :func:`update` does all of it in one call: the
same steps, in the same order, on the same values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from visionflow.tracking._bytetrack_kernel import step

_CONFIRMED = 1
_NO_DET = -1


@njit(cache=True, nogil=True)
def update(table, frame_counts, next_ids, slot_stream, slot_round, dets, settings):
    """Track one batch; see ``BatchedByteTrack.update``.

    Args:
        table: the track table's ten columns, in ``TrackTable`` field order.
        frame_counts: ``[S]`` frames seen per stream index (updated in place).
        next_ids: ``[S]`` next track id per stream index (updated in place).
        slot_stream: ``[B]`` int64 stream index of each batch slot.
        slot_round: ``[B]`` int64 round of each slot (a stream's k-th slot of
            the batch is in round k; rounds run in order).
        dets: ``(xyxy [D, 4] float32, confidence [D] float32, class_id [D]
            int32, frame_index [D] int32)`` of the batch, in any row order.
        settings: ``(params, thresholds, flags)`` of ``step``.

    Returns:
        The new table's ten columns, then ``rows [M]`` int64 (the input rows
        that a confirmed track took, grouped by slot in slot order, input order
        within a slot) and their ``track_id [M]`` int64.

    Raises:
        ValueError: a ``frame_index`` is not a slot (nothing is changed).
    """
    frame_index = dets[3]
    n_slots = len(slot_stream)
    for slot in frame_index:
        if slot < 0 or slot >= n_slots:
            raise ValueError("Detections.frame_index outside the batch's slots")
    order = _slot_order(frame_index, n_slots)
    slot_of_row = frame_index[order]
    by_slot = (dets[0][order], dets[1][order], dets[2][order], _stream_of(slot_stream, slot_of_row))
    det_round = slot_round[slot_of_row]
    taken = np.zeros(len(order), np.bool_)
    track_of_row = np.zeros(len(order), np.int64)
    n_rounds = slot_round.max() + 1 if n_slots else 0
    for k in range(n_rounds):
        streams = slot_stream[slot_round == k]
        det_rows = np.flatnonzero(det_round == k)
        columns = step(table, frame_counts, next_ids, streams, by_slot, det_rows, settings)
        table = columns[:10]
        _collect(columns[10], columns[3], columns[0], taken, track_of_row)
    rows = order[taken]
    return (*table, rows, track_of_row[taken])


@njit(cache=True, nogil=True)
def _slot_order(frame_index, n_slots):
    """Rows by slot, input order within a slot (a stable counting sort): ``[D]`` int64."""
    start = np.zeros(n_slots + 1, np.int64)
    for slot in frame_index:
        start[slot + 1] += 1
    for s in range(n_slots):
        start[s + 1] += start[s]
    order = np.empty(len(frame_index), np.int64)
    for row in range(len(frame_index)):
        order[start[frame_index[row]]] = row
        start[frame_index[row]] += 1
    return order


@njit(cache=True, nogil=True)
def _stream_of(slot_stream, slot_of_row):
    """``[D]`` int32 stream index of each row."""
    out = np.empty(len(slot_of_row), np.int32)
    for i in range(len(slot_of_row)):
        out[i] = slot_stream[slot_of_row[i]]
    return out


@njit(cache=True, nogil=True)
def _collect(det_row, state, track_id, taken, track_of_row):
    """Mark the rows matched to confirmed tracks in this round, with their ids."""
    for t in range(len(det_row)):
        if det_row[t] != _NO_DET and state[t] == _CONFIRMED:
            taken[det_row[t]] = True
            track_of_row[det_row[t]] = track_id[t]
