"""The steps every compiled round shares (numba): rows, pairs, anchors, keys, stale rows.

Around its kernel a bank's round in NumPy makes a few dozen small array calls
(:meth:`Round.of_frames <visionflow.analytics._pairs.Round.of_frames>` and
:func:`~visionflow.analytics._pairs.check_ids`, :meth:`Units.pairs
<visionflow.analytics._pairs.Units.pairs>`, :meth:`Units.points
<visionflow.analytics._pairs.Units.points>`, :meth:`TrackTable.locate
<visionflow.analytics._table.TrackTable.locate>`,
:func:`~visionflow.analytics._pairs.stale_rows`): at one stream of ten tracks
their dispatch, not their arithmetic, is most of the round. The functions
here do the same work, value for value, inside the line and zone kernels'
``round_step`` (one compiled call per bank and round), and :func:`round_rows`
builds a round's rows for :class:`~visionflow.analytics._pairs.Round`.

* pairs come out in the order of ``Units.pairs``: by unit, then by row;
* anchors are NumPy's float64 arithmetic on the float32 boxes (``(x1 + x2) / 2``);
* a key missing from the table is reported, not inserted: the caller inserts
  with ``TrackTable.locate`` (NumPy, rare) and runs the round again;
* anything :func:`~visionflow.analytics._pairs.check_ids` or NumPy indexing
  would refuse is reported (``ok`` false) so that the NumPy code raises its
  own error.

Helpers here run once per round, not per pair, so passing them arrays costs
nothing that matters. Tests compare every helper with the NumPy code it
replaces, on random and edge cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from numba import njit, types

if TYPE_CHECKING:
    from visionflow.types import Detections

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
# A round's xyxy [N, 4] float32, track_id, class_id, stream, frame_number [N], stream_frame [S].
RoundArrays = tuple[F32, I64, I32, I64, I64, I64]
# A bank's unit stream [U], live units ascending [L], anchor [U], all_classes [U],
# watched classes [U, C] (see Units.kernel_arrays).
UnitArrays = tuple[I64, Rows, Rows, Mask, Mask]

KEY_SHIFT = 32  # visionflow.analytics._pairs.KEY_SHIFT
_TRACK_LIMIT = 1 << KEY_SHIFT


def array(dtype: types.Type, ndim: int = 1, *, writable: bool = False) -> types.Array:
    """A numba array type of any layout and alignment; read-only unless ``writable``."""
    return types.Array(dtype, ndim, "A", readonly=not writable, aligned=False)


def _tuple(*items: types.Type) -> types.Type:
    """The numba type of a tuple of ``items``."""
    return types.Tuple(items)  # type: ignore[no-untyped-call]  # numba has no annotations


ROUND_TYPE = _tuple(
    array(types.float32, 2),  # xyxy
    array(types.int64),  # track_id
    array(types.int32),  # class_id
    array(types.int64),  # stream of each row
    array(types.int64),  # frame number of each row
    array(types.int64),  # stream_frame
)
"""The numba type of :data:`RoundArrays` (see ``Round.kernel_arrays``)."""
UNITS_TYPE = _tuple(
    array(types.int64),  # stream
    array(types.intp),  # live units, ascending
    array(types.intp),  # anchor
    array(types.boolean),  # all_classes
    array(types.boolean, 2),  # watched classes
)
"""The numba type of :data:`UnitArrays`."""


@njit(cache=True, nogil=True)
def pairs_of(row_stream: I64, class_id: I32, units: UnitArrays) -> tuple[Rows, Rows]:
    """``Units.pairs``: ``(row, unit)`` of every unit of a row's stream watching its class."""
    stream, live, _, all_classes, classes = units
    order, start = _rows_by_stream(row_stream)
    buckets, width = len(start) - 1, classes.shape[1]
    row = np.empty(0, np.intp)
    unit = np.empty(0, np.intp)
    for fill in (False, True):  # count, then fill arrays of that size
        p = 0
        for u in live:  # ascending: by unit, then (the sort is stable) by row
            s = stream[u]
            if not 0 <= s < buckets:
                continue
            for k in range(start[s], start[s + 1]):
                c = class_id[order[k]]
                if all_classes[u] or (0 <= c < width and classes[u, c]):
                    if fill:
                        row[p], unit[p] = order[k], u
                    p += 1
        if not fill:
            row, unit = np.empty(p, np.intp), np.empty(p, np.intp)
    return row, unit


@njit(cache=True, nogil=True)
def _rows_by_stream(row_stream: I64) -> tuple[Rows, Rows]:
    """Rows of non-negative streams sorted by stream (stable), and each stream's start."""
    buckets = 0
    for s in row_stream:
        buckets = max(buckets, s + 1)
    start = np.zeros(buckets + 1, np.intp)
    for s in row_stream:
        if s >= 0:
            start[s + 1] += 1
    for b in range(buckets):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(start[buckets], np.intp)
    for r in range(len(row_stream)):
        s = row_stream[r]
        if s >= 0:
            order[fill[s]] = r
            fill[s] += 1
    return order, start


@njit(cache=True, nogil=True)
def points_of(xyxy: F32, row: Rows, unit: Rows, anchor: Rows) -> F64:
    """``Units.points``: ``[P, 2]`` each pair's anchor (its unit's) of its row's box."""
    out = np.empty((len(row), 2))
    for p in range(len(row)):
        r, kind = row[p], anchor[unit[p]]
        x1, y1 = np.float64(xyxy[r, 0]), np.float64(xyxy[r, 1])
        x2, y2 = np.float64(xyxy[r, 2]), np.float64(xyxy[r, 3])
        # ANCHORS: bottom_center, center, top_center, bottom_left, bottom_right, top_left,
        # top_right.
        if kind <= 2:
            out[p, 0] = (x1 + x2) / 2
        else:
            out[p, 0] = x1 if kind in (3, 5) else x2
        if kind == 1:
            out[p, 1] = (y1 + y2) / 2
        else:
            out[p, 1] = y1 if kind in (2, 5, 6) else y2
    return out


@njit(cache=True, nogil=True)
def keys_of(row: Rows, unit: Rows, track_id: I64) -> I64:
    """``Pairs.keys``: ``unit << 32 | track_id`` of each pair."""
    keys = np.empty(len(row), np.int64)
    for p in range(len(row)):
        keys[p] = (np.int64(unit[p]) << KEY_SHIFT) | track_id[row[p]]
    return keys


@njit(cache=True, nogil=True)
def frames_of(row: Rows, row_frame: I64) -> I64:
    """``[P]`` the frame number of each pair's row."""
    out = np.empty(len(row), np.int64)
    for p in range(len(row)):
        out[p] = row_frame[row[p]]
    return out


@njit(cache=True, nogil=True)
def locate(ids: I64, keys: I64, rows: Rows) -> tuple[Rows, bool]:
    """``TrackTable.locate`` of held keys: the row of each, and whether every key is held.

    ``rows``: the keys' rows when the caller has them (then returned as they
    are, copied), else empty. Without them, the rows are ``np.searchsorted(ids,
    keys)``, also where a key is missing.
    """
    if len(rows) == len(keys) and len(keys):
        given = np.empty(len(rows), np.intp)  # a loop: numba types a read-only copy read-only
        for p in range(len(rows)):
            given[p] = rows[p]
        return given, True
    index = np.searchsorted(ids, keys)
    for p in range(len(keys)):
        if index[p] >= len(ids) or ids[index[p]] != keys[p]:
            return index, False
    return index, True


@njit(cache=True, nogil=True)
def frame_of(streams: I64, stream_frame: I64) -> I64:
    """``Round.frame_of``: the round's frame of each stream index, ``-1`` when absent."""
    out = np.full(len(streams), -1, np.int64)
    for k in range(len(streams)):
        if 0 <= streams[k] < len(stream_frame):
            out[k] = stream_frame[streams[k]]
    return out


@njit(cache=True, nogil=True)
def stale_rows(
    ids: I64, last_seen: I64, unit_stream: I64, stream_frame: I64, forget_frames: I64
) -> tuple[Mask, int]:
    """``stale_rows``: rows of the round's streams unseen for their ``forget_frames``; count."""
    stale = np.zeros(len(ids), np.bool_)
    count = 0
    for t in range(len(ids)):
        u = ids[t] >> KEY_SHIFT
        s = unit_stream[u]
        if 0 <= s < len(stream_frame):
            now = stream_frame[s]
            if now >= 0 and now - last_seen[t] >= forget_frames[u]:
                stale[t] = True
                count += 1
    return stale, count


@njit(
    (
        array(types.int32),  # frame_index: the slot of each row
        array(types.int64),  # track_id
        _tuple(array(types.int64), array(types.int64), array(types.intp)),
        types.int64,  # num_streams
    ),
    cache=True,
    nogil=True,
)
def round_rows(
    frame_index: I32, track_id: I64, slots: tuple[I64, I64, Rows], num_streams: int
) -> tuple[I64, I64, I64, bool]:
    """``Round.of_frames``: each row's stream and frame, ``stream_frame``, and ``ok``.

    Args:
        frame_index: ``[N]`` the slot of each row.
        track_id: ``[N]`` the rows' track ids.
        slots: ``(slot_stream, slot_frame, active)``: the stream index and frame
            number of each slot of the batch, and the slots of this round.
        num_streams: the size of ``stream_frame``.

    ``ok`` is false where ``check_ids`` would raise or an index is out of range
    (the arrays are then not to be used).
    """
    slot_stream, slot_frame, active = slots
    stream_frame = np.full(num_streams, -1, np.int64)
    n = len(frame_index)
    row_stream = np.empty(n, np.int64)
    row_frame = np.empty(n, np.int64)
    for slot in active:
        if not (0 <= slot < len(slot_stream) and 0 <= slot_stream[slot] < num_streams):
            return row_stream, row_frame, stream_frame, False
        stream_frame[slot_stream[slot]] = slot_frame[slot]
    for r in range(n):
        slot = frame_index[r]
        if not 0 <= slot < len(slot_stream) or not 0 < track_id[r] < _TRACK_LIMIT:
            return row_stream, row_frame, stream_frame, False
        row_stream[r], row_frame[r] = slot_stream[slot], slot_frame[slot]
    keys = np.sort((row_stream << KEY_SHIFT) | track_id)
    for r in range(1, n):
        if keys[r] == keys[r - 1]:
            return row_stream, row_frame, stream_frame, False
    return row_stream, row_frame, stream_frame, True


def rows_of_frames(
    tracks: Detections,
    slot_stream: Sequence[int],
    slot_frame: Sequence[int],
    num_streams: int,
    slots: Sequence[int] | None,
) -> tuple[I64, I64, I64] | None:
    """``(stream, frame_number, stream_frame)`` of :meth:`Round.of_frames` in one compiled
    call; ``None`` where its NumPy code is to raise the error."""
    streams = np.asarray(slot_stream, np.int64)
    active = np.arange(len(streams)) if slots is None else np.asarray(slots, np.intp)
    frames = np.asarray(slot_frame, np.int64)
    row_stream, row_frame, stream_frame, ok = round_rows(
        tracks.frame_index, tracks.track_id, (streams, frames, active), num_streams
    )
    return (row_stream, row_frame, stream_frame) if ok else None
