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

from visionflow.tracking._bytetrack_kernel import (
    F_PREDICT_TENTATIVE,
    _box_xyxy,
    advance,
    finish,
    of_streams,
)
from visionflow.tracking._bytetrack_kernel import predict as predict_tracks

_CONFIRMED = 1
_NO_DET = -1


@njit(cache=True, nogil=True)
def update(store, n_tracks, frame_counts, next_ids, slot_stream, slot_round, dets, settings):
    """Track one batch; see ``BatchedByteTrack.update``.

    Args:
        store: the track table's ten column buffers, in ``TrackTable`` field
            order; their first ``n_tracks`` rows are the table. Updated in
            place: they must have room for ``n_tracks + D`` rows.
        n_tracks: the number of tracks.
        frame_counts: ``[S]`` frames seen per stream index (updated in place).
        next_ids: ``[S]`` next track id per stream index (updated in place).
        slot_stream: ``[B]`` int64 stream index of each batch slot.
        slot_round: ``[B]`` int64 round of each slot (a stream's k-th slot of
            the batch is in round k; rounds run in order).
        dets: ``(xyxy [D, 4] float32, confidence [D] float32, class_id [D]
            int32, frame_index [D] int32)`` of the batch, in any row order.
        settings: ``(params, thresholds, flags)`` of ``step``.

    Returns:
        The new number of tracks, then the tracked rows: ``xyxy [M, 4]``,
        ``confidence [M]``, ``class_id [M]``, ``frame_index [M]`` (the input rows
        that a confirmed track took, grouped by slot in slot order, input order
        within a slot) and their ``track_id [M]`` int64.

    Raises:
        ValueError: a ``frame_index`` is not a slot, or ``store`` is too small
            (nothing is changed).
    """
    frame_index = dets[3]
    n_slots = len(slot_stream)
    for slot in frame_index:
        if slot < 0 or slot >= n_slots:
            raise ValueError("Detections.frame_index outside the batch's slots")
    if n_tracks + len(frame_index) > len(store[0]):
        raise ValueError("the track store has no room for the batch's new tracks")
    order = _slot_order(frame_index, n_slots)
    slot_of_row = frame_index[order]
    by_slot = (dets[0][order], dets[1][order], dets[2][order], _stream_of(slot_stream, slot_of_row))
    det_round = slot_round[slot_of_row]
    taken = np.zeros(len(order), np.bool_)
    track_of_row = np.zeros(len(order), np.int64)
    # Each round's new table goes straight into the buffers its old one views.
    columns = (*store, np.empty(len(store[0]), np.int64))
    n_rounds = slot_round.max() + 1 if n_slots else 0
    for k in range(n_rounds):
        streams = slot_stream[slot_round == k]
        det_rows = np.flatnonzero(det_round == k)
        table = _rows(store, n_tracks)
        det_row, keep, spawn = advance(table, frame_counts, streams, by_slot, det_rows, settings)
        n_tracks = finish(
            table, det_row, keep, spawn, columns, frame_counts, next_ids, streams, by_slot, settings
        )
        _collect(columns[10][:n_tracks], store[3], store[0], taken, track_of_row)
    return (n_tracks, *_output(dets, order, taken, track_of_row))


@njit(cache=True, nogil=True)
def predict(store, n_tracks, n_streams, slot_stream, slot_round, settings):
    """Advance each slot's stream one frame without detections; see ``BatchedByteTrack.predict``.

    Moves the Kalman states of the tracks (the first ``n_tracks`` rows of the
    column buffers ``store``) in place; no miss is counted, no state changes.

    Returns:
        The confirmed tracks' predicted boxes as ``xyxy [M, 4]`` float32,
        ``confidence [M]`` float32, ``class_id [M]`` int32, ``frame_index [M]``
        int32 (the slot) and ``track_id [M]`` int64: grouped by slot in slot
        order, in table row order within a slot.
    """
    table = _rows(store, n_tracks)
    stream, state = table[9], table[3]
    start = _confirmed_starts(stream, state, slot_stream, n_streams)
    m = start[-1]
    out = (
        np.empty((m, 4), np.float32), np.empty(m, np.float32), np.empty(m, np.int32),
        np.empty(m, np.int32), np.empty(m, np.int64),
    )  # fmt: skip
    slot_of_stream = np.zeros(n_streams, np.int64)
    predict_tentative = bool(settings[2][F_PREDICT_TENTATIVE])
    n_rounds = slot_round.max() + 1 if len(slot_stream) else 0
    for k in range(n_rounds):
        slots = np.flatnonzero(slot_round == k)
        streams = slot_stream[slots]
        active = of_streams(stream, streams, n_streams)
        predict_tracks(table, active, predict_tentative, settings[0], False)
        slot_of_stream[streams] = slots
        for t in range(len(stream)):
            if active[t] and state[t] == _CONFIRMED:
                slot = slot_of_stream[stream[t]]
                _write_box(table, t, slot, start[slot], out)
                start[slot] += 1
    return out


@njit(cache=True, nogil=True)
def _confirmed_starts(stream, state, slot_stream, n_streams):
    """``[B + 1]`` first output row of each slot: its stream's confirmed tracks, in slot order."""
    confirmed = np.zeros(n_streams, np.int64)
    for t in range(len(stream)):
        if state[t] == _CONFIRMED:
            confirmed[stream[t]] += 1
    start = np.zeros(len(slot_stream) + 1, np.int64)
    for slot in range(len(slot_stream)):
        start[slot + 1] = start[slot] + confirmed[slot_stream[slot]]
    return start


@njit(cache=True, nogil=True)
def _write_box(table, t, slot, row, out):
    """Output ``row``: track ``t``'s box (``TrackTable.confirmed_detections``), in ``slot``."""
    track_id, class_id, score = table[0], table[6], table[7]
    box = out[0][row]
    box[0], box[1], box[2], box[3] = _box_xyxy(table[1], t, np.float32(0))
    out[1][row], out[2][row], out[3][row], out[4][row] = score[t], class_id[t], slot, track_id[t]


@njit(cache=True, nogil=True)
def _rows(store, n):
    """The first ``n`` rows of each column buffer (views): the track table."""
    return (
        store[0][:n], store[1][:n], store[2][:n], store[3][:n], store[4][:n],
        store[5][:n], store[6][:n], store[7][:n], store[8][:n], store[9][:n],
    )  # fmt: skip


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
def _output(dets, order, taken, track_of_row):
    """The input rows taken by confirmed tracks (in ``order``), as ``Detections`` columns."""
    rows = order[taken]
    m = len(rows)
    xyxy = np.empty((m, 4), np.float32)
    for i in range(m):
        xyxy[i] = dets[0][rows[i]]
    return xyxy, dets[1][rows], dets[2][rows], dets[3][rows], track_of_row[taken]


@njit(cache=True, nogil=True)
def _collect(det_row, state, track_id, taken, track_of_row):
    """Mark the rows matched to confirmed tracks in this round, with their ids."""
    for t in range(len(det_row)):
        if det_row[t] != _NO_DET and state[t] == _CONFIRMED:
            taken[det_row[t]] = True
            track_of_row[det_row[t]] = track_id[t]
