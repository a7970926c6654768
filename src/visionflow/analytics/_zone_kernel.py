"""The per-pair steps of a zone round as compiled code (numba): one call per round.

:meth:`ZoneBank.update <visionflow.analytics.zone_bank.ZoneBank.update>` in
NumPy spends its per-pair work (point in polygon, observing, the inside /
outside state machine, the loitering test) in a few dozen small array calls,
each a few microseconds of interpreter and dispatch. :func:`advance` does the
same work in one compiled call that loops over the round's (track, zone)
pairs directly, writes the state columns in place and releases the GIL;
:func:`round_step` wraps it with the rest of the round (pairs, table rows,
stale rows, see :mod:`~visionflow.analytics._round_kernel`).

It is the same algorithm, value for value:

* the even-odd test of :func:`~visionflow.analytics._polygon._odd_crossings`
  with the same float64 operations in the same order, over the same padded
  edges, so points exactly on edges and vertices fall the same way;
* ``ZoneBank._observe``, ``_step`` and ``_loitering`` in their order, with
  their integer arithmetic. Each step loops over the pairs in order; a
  round's pairs have distinct table rows (one per unit and track id), so
  this equals NumPy's gather-compute-scatter.

The id-switch hand-over stays in NumPy and runs between ``_step`` and
``_loitering``. It can change a row only when a pair entered in a unit with
a recount window; :func:`advance` then leaves the loitering test to a second
call (:func:`loiter`) after the hand-over, and otherwise does it itself.

Both entry points are compiled for one explicit signature, so no call
compiles another version: the table's columns and keys are typed as any
layout and alignment (they may be strided views into one packed record
array), the bank's own inputs as C-contiguous (point in polygon runs twice
as fast on those) and read-only (writable ones convert). Dtypes and those
layouts must match: the caller makes them so.
Tests run both paths on random many-stream scenes and compare every column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt
from numba import njit, types

from visionflow.analytics._round_kernel import (
    ROUND_TYPE,
    UNITS_TYPE,
    RoundArrays,
    UnitArrays,
    frames_of,
    keys_of,
    locate,
    pairs_of,
    points_of,
    stale_rows,
)

if TYPE_CHECKING:
    from visionflow.analytics._pairs import Units
    from visionflow.analytics._table import TrackTable

Mask = npt.NDArray[np.bool_]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
F64 = npt.NDArray[np.float64]
Pairs = tuple[Rows, Rows, I64, F64, I32]
Columns = tuple[Mask, I64, I64, I64, I64, I64, I32, Mask, I64, I64, F64, F64]
Params = tuple[I64, I64, I64]
Edges = tuple[F64, F64, F64, F64]

_TRACK_MASK = (1 << 32) - 1  # visionflow.analytics._pairs.key_tracks

COLUMNS = (
    "inside",
    "pending",
    "run_start",
    "enter_frame",
    "last_inside",
    "last_seen",
    "class_id",
    "loitered",
    "entry_id",
    "first_seen",
    "first_xy",
    "last_xy",
)
"""The zone table's columns in the order :func:`advance` takes them."""
PARAMS = ("min_frames", "loitering_frames", "recount_window_frames")
"""The unit parameter columns in the order :func:`advance` takes them."""


def _array(
    dtype: types.Type, ndim: int = 1, *, layout: Literal["C", "A"] = "A", readonly: bool = False
) -> types.Array[Any]:
    """A numba array type of any alignment (see the module docstring)."""
    return types.Array(dtype, ndim, layout, readonly=readonly, aligned=False)


def _input(dtype: types.Type, ndim: int = 1) -> types.Array[Any]:
    """A read-only C-contiguous input (the bank's own arrays: no copy to make them so)."""
    return _array(dtype, ndim, layout="C", readonly=True)


_PAIRS = types.Tuple(
    (
        _input(types.intp),  # index: the pairs' table rows
        _input(types.intp),  # unit
        _input(types.int64),  # frame
        _input(types.float64, 2),  # points [P, 2]
        _input(types.int32),  # class_id
    )
)
_I64, _BOOL = _array(types.int64), _array(types.boolean)
_COLUMNS = types.Tuple(  # any layout: the table's columns may be strided views
    (_BOOL, _I64, _I64, _I64, _I64, _I64, _array(types.int32), _BOOL, _I64, _I64)
    + (_array(types.float64, 2),) * 2
)
_IDS = _array(types.int64, readonly=True)
_PARAMS = types.UniTuple(_input(types.int64), len(PARAMS))
_EDGES = types.UniTuple(_input(types.float64, 2), 4)
_LOITER_FRAMES = _input(types.int64)
_INSIDE_NOW = types.Array(types.boolean, 1, "C")  # advance's own output, as it made it


@njit(cache=True, nogil=True)
def _inside_polygons(points: F64, unit: Rows, edges: Edges) -> Mask:
    """``inside_polygons``: whether each pair's point lies inside its unit's polygon."""
    x0, y0, y1, dx_per_dy = edges
    out = np.empty(len(unit), np.bool_)
    for p in range(len(unit)):
        u, px, py = unit[p], points[p, 0], points[p, 1]
        crossings = 0
        for e in range(x0.shape[1]):  # padding edges never straddle: as NumPy, all of them
            straddles = (y0[u, e] > py) != (y1[u, e] > py)
            x_at_py = x0[u, e] + dx_per_dy[u, e] * (py - y0[u, e])
            if straddles and px < x_at_py:
                crossings += 1
        out[p] = crossings % 2 == 1
    return out


@njit(cache=True, nogil=True)
def _observe(
    index: Rows,
    points: F64,
    class_id: I32,
    frame: I64,
    columns: tuple[I64, I64, I32, F64, F64],
) -> None:
    """``ZoneBank._observe``: first and last sighting, position and class."""
    first_seen, last_seen, class_col, first_xy, last_xy = columns
    for p in range(len(index)):
        r = index[p]
        if first_seen[r] < 0:
            first_seen[r] = frame[p]
            first_xy[r, 0], first_xy[r, 1] = points[p, 0], points[p, 1]
        last_xy[r, 0], last_xy[r, 1] = points[p, 0], points[p, 1]
        last_seen[r] = frame[p]
        class_col[r] = class_id[p]


@njit(cache=True, nogil=True)
def _step(
    index: Rows,
    unit: Rows,
    inside_now: Mask,
    frame: I64,
    min_frames: I64,
    ids: I64,
    columns: tuple[Mask, I64, I64, I64, I64, I64, Mask],
) -> tuple[Mask, Mask]:
    """``ZoneBank._step``: settle runs of ``min_frames``; ``(entered, exited)`` masks."""
    inside, pending, run_start, enter_frame, last_inside, entry_id, loitered = columns
    entered = np.zeros(len(index), np.bool_)
    exited = np.zeros(len(index), np.bool_)
    for p in range(len(index)):
        r, now = index[p], inside_now[p]
        if now:
            last_inside[r] = frame[p]
        contradicts = now != inside[r]
        run = pending[r] + 1 if contradicts else 0
        if contradicts and run == 1:
            run_start[r] = frame[p]
        done = run >= min_frames[unit[p]]
        if done and now:
            entered[p] = True
            enter_frame[r] = run_start[r]
            entry_id[r] = ids[r] & _TRACK_MASK
            loitered[r] = False
        elif done:
            exited[p] = True
        if done:
            inside[r] = now
        pending[r] = 0 if done else run
    return entered, exited


@njit(cache=True, nogil=True)
def _may_hand_over(entered: Mask, unit: Rows, recount_window: I64) -> bool:
    """Whether ``ZoneBank._hand_over`` may change a row: an entry in a unit with a window."""
    p = 0  # a loop, not any(): numba compiles no generator expression into any()
    while p < len(entered) and not (entered[p] and recount_window[unit[p]] > 0):
        p += 1
    return p < len(entered)


@njit(cache=True, nogil=True)
def _loitering(
    index: Rows,
    unit: Rows,
    inside_now: Mask,
    frame: I64,
    loitering_frames: I64,
    columns: tuple[Mask, I64, Mask],
) -> tuple[Mask, I64]:
    """``ZoneBank._loitering``: mark and return the alerts ``due`` and every pair's dwell."""
    inside, enter_frame, loitered = columns
    due = np.zeros(len(index), np.bool_)
    dwell = np.empty(len(index), np.int64)
    for p in range(len(index)):
        r, threshold = index[p], loitering_frames[unit[p]]
        dwell[p] = frame[p] - enter_frame[r] + 1
        fresh = inside_now[p] and inside[r] and not loitered[r]
        if fresh and threshold > 0 and dwell[p] >= threshold:
            due[p] = True
            loitered[r] = True
    return due, dwell


# The entry points come last: an explicit signature compiles them (or loads them from
# the cache) at import, once the steps they call are defined.


@njit((_PAIRS, _IDS, _COLUMNS, _PARAMS, _EDGES), cache=True, nogil=True)
def advance(
    pairs: Pairs, ids: I64, columns: Columns, params: Params, edges: Edges
) -> tuple[Mask, Mask, Mask, Mask, I64, bool]:
    """Point in polygon, observe, step and (when no hand-over can follow) loitering.

    Args:
        pairs: ``(index, unit, frame, points, class_id)`` of the round's pairs:
            table row, unit, frame number, ``[P, 2]`` anchor point, class.
        ids: the table's keys (unit and track id).
        columns: the table's columns, in :data:`COLUMNS` order (written in place).
        params: the units' parameter columns, in :data:`PARAMS` order.
        edges: ``[U, Emax]`` ``(x_low, y_low, y_high, dx_per_dy)`` from
            :func:`~visionflow.analytics._polygon.stack_edges`.

    Returns:
        ``(inside_now, entered, exited, due, dwell, deferred)``: ``[P]`` masks,
        the loitering alerts ``due`` with every pair's ``dwell``, and whether
        the loitering test was left to :func:`loiter` (then ``due`` is empty
        and must be computed after the hand-over).
    """
    index, unit, frame, points, class_id = pairs
    inside, pending, run_start, enter_frame, last_inside, last_seen = columns[:6]
    class_col, loitered, entry_id, first_seen, first_xy, last_xy = columns[6:]
    min_frames, loitering_frames, recount_window = params
    inside_now = _inside_polygons(points, unit, edges)
    _observe(index, points, class_id, frame, (first_seen, last_seen, class_col, first_xy, last_xy))
    entered, exited = _step(
        index,
        unit,
        inside_now,
        frame,
        min_frames,
        ids,
        (inside, pending, run_start, enter_frame, last_inside, entry_id, loitered),
    )
    if _may_hand_over(entered, unit, recount_window):
        return inside_now, entered, exited, np.zeros(0, np.bool_), np.zeros(0, np.int64), True
    due, dwell = _loitering(
        index, unit, inside_now, frame, loitering_frames, (inside, enter_frame, loitered)
    )
    return inside_now, entered, exited, due, dwell, False


@njit((_PAIRS, _COLUMNS, _LOITER_FRAMES, _INSIDE_NOW), cache=True, nogil=True)
def loiter(
    pairs: Pairs, columns: Columns, loitering_frames: I64, inside_now: Mask
) -> tuple[Mask, I64]:
    """The loitering test alone (after a hand-over): ``(due, dwell)``, as in :func:`advance`."""
    index, unit, frame = pairs[0], pairs[1], pairs[2]
    inside, enter_frame, loitered = columns[0], columns[3], columns[7]
    return _loitering(
        index, unit, inside_now, frame, loitering_frames, (inside, enter_frame, loitered)
    )


# (row, unit, keys, index, located, inside_now, entered, exited, due, dwell, deferred, stale)
Step = tuple[Rows, Rows, I64, Rows, bool, Mask, Mask, Mask, Mask, I64, bool, Mask] | None


@njit(
    (
        ROUND_TYPE,
        UNITS_TYPE,
        _array(types.int64, readonly=True),  # forget_frames of each unit
        _IDS,
        _array(types.intp, readonly=True),  # the pairs' table rows when the caller has them
        _COLUMNS,
        _PARAMS,
        _EDGES,
    ),
    cache=True,
    nogil=True,
)
def round_step(
    rnd: RoundArrays,
    units: UnitArrays,
    forget_frames: I64,
    ids: I64,
    rows: Rows,
    columns: Columns,
    params: Params,
    edges: Edges,
) -> Step:
    """A whole ``ZoneBank.update`` round up to its report: pairs, rows, :func:`advance`, stale rows.

    Args:
        rnd: the round's arrays (``Round.kernel_arrays``).
        units: ``Units.kernel_arrays()`` of the bank.
        forget_frames: ``[U]`` the units' forget horizon.
        ids: as in :func:`advance`.
        rows: ``[P]`` the pairs' table rows when the caller has them (a round run
            again after inserting keys), else empty: the kernel searches them.
        columns, params, edges: as in :func:`advance`.

    Returns:
        ``None`` when nothing happened (no entry, exit, alert or stale row, no
        hand-over pending), else ``(row, unit, keys, index, located,
        inside_now, entered, exited, due, dwell, deferred, stale)``: the pairs,
        their keys and table rows, :func:`advance`'s results and the rows gone
        stale after it (empty when ``deferred``: the hand-over may change
        them). When a key is not in the table yet, ``located`` is false and
        only ``row``, ``unit``, ``keys`` and ``index`` (``np.searchsorted(ids,
        keys)``) are set: insert the keys (``TrackTable.locate_searched``) and
        run the round again with their rows.
    """
    xyxy, track_id, class_id, row_stream, row_frame, stream_frame = rnd
    row, unit = pairs_of(row_stream, class_id, units)
    keys = keys_of(row, unit, track_id)
    index, located = locate(ids, keys, rows)
    none = np.zeros(0, np.bool_)
    if not located:
        return row, unit, keys, index, False, none, none, none, none, keys[:0], False, none
    class_of = np.empty(len(row), np.int32)
    for p in range(len(row)):
        class_of[p] = class_id[row[p]]
    points = points_of(xyxy, row, unit, units[2])
    pairs = (index, unit, frames_of(row, row_frame), points, class_of)
    inside_now, entered, exited, due, dwell, deferred = advance(pairs, ids, columns, params, edges)
    if deferred:
        return row, unit, keys, index, True, inside_now, entered, exited, due, dwell, True, none
    stale, n_stale = stale_rows(ids, columns[5], units[0], stream_frame, forget_frames)
    if n_stale == 0 and not (entered.any() or exited.any() or due.any()):
        return None  # most rounds: returning arrays costs more
    return row, unit, keys, index, True, inside_now, entered, exited, due, dwell, False, stale


def table_columns(table: TrackTable) -> Columns:
    """The table's columns as the zone kernel takes them (any layout, written in place)."""
    return cast("Columns", tuple(table[name] for name in COLUMNS))


def unit_params(units: Units) -> Params:
    """The units' parameters as the zone kernel takes them (C-contiguous int64)."""
    params = tuple(np.ascontiguousarray(units[name], np.int64) for name in PARAMS)
    return cast("Params", params)
