"""The counting lines' round as compiled code (numba): one call for every pair.

``LineBank._advance`` (:mod:`visionflow.analytics.line_bank`) spends a
round in about forty small NumPy calls (the side of each anchor against its
line, the state machine of each (unit, track) pair, the touch and alignment
test of the rare confirmed side changes); at a few thousand pairs their
interpreter and dispatch overhead, not the arithmetic, is the cost.
:func:`advance` does the same in one compiled call that loops over the pairs
and releases the GIL; :func:`round_step` wraps it with the rest of the
round (pairs, table rows, stale rows, see
:mod:`~visionflow.analytics._round_kernel`), so a bank's round is one call.

It is the same algorithm, value for value:

* the sides of :func:`~visionflow.analytics._polyline.polyline_sides` (the
  first segment's cross product for plain segments; nearest segment, vertex
  pseudo-normal and on-the-line rule for polylines);
* the first contact of :func:`~visionflow.analytics._polyline.path_hits`
  (orientation tests, collinear overlap, the normals of every segment touched
  within 1e-9 of it summed in segment order and normalised);
* the alignment test of ``LineBank._judge`` (loose, ``min_cos - 1e-12``, a
  reference direction);

with the same float64 operations in the same order, and NumPy's own choices
where they matter: ``clip`` keeps a value equal to a bound, ``minimum`` /
``maximum`` / ``min`` take the later of equal values, ``linalg.norm`` of a
2-vector is ``sqrt(x*x + y*y)`` and a 2-term ``einsum`` is ``x0*y0 + x1*y1``.
The re-acquisition screen stays in NumPy: :func:`advance` returns the
crossings it applies to, in pair order.

One signature is compiled, explicitly, when this module is imported (or
loaded from numba's cache): arrays of any layout and alignment (strided
fields of a structured table included), inputs read-only; other dtypes are
a ``TypeError``, never a second compile. The per-pair loop reads and writes
the arrays itself and calls helpers on scalars only: a compiled helper that
takes arrays costs reference-count calls on each call, which measured most
of the kernel's time. Tests run the kernel and the NumPy code side by side
on random many-stream scenes and compare every column after every round.
"""

from __future__ import annotations

import math

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

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
Mask = npt.NDArray[np.bool_]
# LineBank's table columns last_seen, first_seen, observed_side, settled_side, pending,
# settled_xy, first_new_xy (written in place).
State = tuple[I64, I64, I8, I8, I32, F64, F64]
# LineBank's unit columns min_frames, loose, min_cos, has_direction, direction_x,
# direction_y, recount_window.
Params = tuple[I64, Mask, F64, Mask, F64, F64, I64]
# Polylines' vertices [L, V, 2], segments [L], normals [L, V - 1, 2], segment_table [L, V - 1, 5].
Lines = tuple[F64, I64, F64, F64]

_EPS = 1e-9  # as in visionflow.analytics._polyline
_LENGTH_FLOOR = 1e-12  # a path's length never below this (LineBank._judge)
_COS_SLACK = 1e-12  # min_cos tolerance (LineBank._judge)


def _array(dtype: types.Type, ndim: int, *, writable: bool = False) -> types.Array:
    """Any layout and alignment; read-only unless ``writable``."""
    return types.Array(dtype, ndim, "A", readonly=not writable, aligned=False)


def _tuple(*items: types.Type) -> types.Type:
    """The numba type of a tuple of ``items``."""
    return types.Tuple(items)


_STATE_TYPE = _tuple(
    _array(types.int64, 1, writable=True),
    _array(types.int64, 1, writable=True),
    _array(types.int8, 1, writable=True),
    _array(types.int8, 1, writable=True),
    _array(types.int32, 1, writable=True),
    _array(types.float64, 2, writable=True),
    _array(types.float64, 2, writable=True),
)
_PARAMS_TYPE = _tuple(
    _array(types.int64, 1),
    _array(types.boolean, 1),
    _array(types.float64, 1),
    _array(types.boolean, 1),
    _array(types.float64, 1),
    _array(types.float64, 1),
    _array(types.int64, 1),
)
_LINES_TYPE = _tuple(
    _array(types.float64, 3),
    _array(types.intp, 1),
    _array(types.float64, 3),
    _array(types.float64, 3),
)
SIGNATURE = (
    _array(types.intp, 1),  # index: table row of each pair
    _array(types.int64, 1),  # frame: frame number of each pair
    _array(types.float64, 2),  # points: anchor of each pair
    _array(types.intp, 1),  # unit: unit (= line) of each pair
    _STATE_TYPE,
    _PARAMS_TYPE,
    _LINES_TYPE,
)


@njit(cache=True, nogil=True)
def _transition(side: int, settled: int) -> tuple[bool, bool]:
    """(stays on its settled side or settles a first one, is on the other side)."""
    return side != 0 and settled in (0, side), settled != 0 and side == -settled


@njit(cache=True, nogil=True)
def _judge(
    row: int, going_in: bool, x: float, y: float, u: int, state: State, params: Params, lines: Lines
) -> tuple[bool, float, float]:
    """Whether a confirmed side change counts (touch and mode); where it first touched."""
    settled_xy, first_new_xy = state[5], state[6]
    sx, sy = settled_xy[row, 0], settled_xy[row, 1]
    ex, ey = first_new_xy[row, 0], first_new_xy[row, 1]
    hit, first, nx, ny = _first_contact(sx, sy, ex, ey, u, lines)
    at = first if hit else 0.0
    hx, hy = sx + at * (ex - sx), sy + at * (ey - sy)
    if not hit:
        return False, hx, hy
    loose, has_direction = params[1][u], params[3][u]
    if loose and not has_direction:
        return True, hx, hy
    if has_direction:
        rx, ry = params[4][u], params[5][u]
    elif going_in:
        rx, ry = nx, ny
    else:
        rx, ry = -nx, -ny
    cos = _cosine(x - sx, y - sy, rx, ry)
    aligned = cos > 0.0 if loose else cos >= params[2][u] - _COS_SLACK
    return aligned, hx, hy


@njit(cache=True, nogil=True)
def _cosine(mx: float, my: float, rx: float, ry: float) -> float:
    """``movement . reference / max(|movement|, 1e-12)`` as ``LineBank._judge`` computes it."""
    length = _maximum(math.sqrt(mx * mx + my * my), _LENGTH_FLOOR)
    return (mx * rx + my * ry) / length


@njit(cache=True, nogil=True)
def _plain_side(x: float, y: float, ax: float, ay: float, dx: float, dy: float) -> int:
    """Side of ``(x, y)`` against the segment ``a → a + d``'s supporting line."""
    return _sign(dx * (y - ay) - dy * (x - ax))


@njit(cache=True, nogil=True, inline="always")  # inlined: it takes arrays (see advance)
def _bent_side(x: float, y: float, u: int, count: int, normals: F64, table: F64) -> int:
    """Side against polyline ``u`` of ``count >= 2`` segments: the nearest segment's, or
    the pseudo-normal's of the vertex nearest; ``0`` on the polyline."""
    nearest, best = 0, np.inf
    for s in range(count):  # argmin: the first of equal distances
        ox, oy, _ = _offset(
            x, y, table[u, s, 0], table[u, s, 1], table[u, s, 2], table[u, s, 3], table[u, s, 4]
        )
        dist2 = ox * ox + oy * oy
        if s == 0 or dist2 < best:
            nearest, best = s, dist2
    if best == 0.0:  # on the polyline
        return 0
    ax, ay, dx, dy = (
        table[u, nearest, 0],
        table[u, nearest, 1],
        table[u, nearest, 2],
        table[u, nearest, 3],
    )
    _, _, t = _offset(x, y, ax, ay, dx, dy, table[u, nearest, 4])
    at_end = t >= 1.0 and nearest < count - 1
    at_start = t <= 0.0 and nearest > 0
    if not (at_end or at_start):
        return _sign(dx * (y - ay) - dy * (x - ax))
    end = nearest if at_end else nearest - 1  # the segment ending at the shared vertex
    nx = normals[u, end, 0] + normals[u, end + 1, 0]  # the vertex's pseudo-normal
    ny = normals[u, end, 1] + normals[u, end + 1, 1]
    vertex_x, vertex_y = table[u, end + 1, 0], table[u, end + 1, 1]  # segment end + 1's start
    return _sign((x - vertex_x) * nx + (y - vertex_y) * ny)


@njit(cache=True, nogil=True)
def _offset(
    x: float, y: float, ax: float, ay: float, dx: float, dy: float, len2: float
) -> tuple[float, float, float]:
    """``p`` minus its nearest point on the segment ``a → a + d``, and that point's ``t``."""
    vx, vy = x - ax, y - ay
    t = _clip01((vx * dx + vy * dy) / len2)
    return vx - t * dx, vy - t * dy, t


@njit(cache=True, nogil=True)
def _first_contact(
    sx: float, sy: float, ex: float, ey: float, u: int, lines: Lines
) -> tuple[bool, float, float, float]:
    """``path_hits`` of one path: (touches, path parameter of the first touch, normal there)."""
    vertices, segments, normals = lines[0], lines[1], lines[2]
    first = np.inf
    for s in range(segments[u]):
        hit, at = _touch(sx, sy, ex, ey, vertices, u, s)
        # np.min: the later of equal values (their sign of zero), a NaN stays
        if hit and not math.isnan(first) and not first < at:
            first = at
    if not math.isfinite(first):
        return False, first, 0.0, 0.0
    nx, ny = 0.0, 0.0
    for s in range(segments[u]):  # every segment touched at the first contact, in order
        hit, at = _touch(sx, sy, ex, ey, vertices, u, s)
        if hit and at <= first + _EPS:
            nx += normals[u, s, 0]
            ny += normals[u, s, 1]
    norm = math.sqrt(nx * nx + ny * ny)
    if norm > 0:
        return True, first, nx / norm, ny / norm
    return True, first, 0.0, 0.0


@njit(cache=True, nogil=True)
def _touch(
    sx: float, sy: float, ex: float, ey: float, vertices: F64, u: int, s: int
) -> tuple[bool, float]:
    """Whether the path touches segment ``s`` (ends included), and where along the path."""
    ax, ay = vertices[u, s, 0], vertices[u, s, 1]
    bx, by = vertices[u, s + 1, 0], vertices[u, s + 1, 1]
    px, py, qx, qy = ex - sx, ey - sy, bx - ax, by - ay  # path and segment vectors
    o1 = qx * (sy - ay) - qy * (sx - ax)  # path ends vs the segment's line
    o2 = qx * (ey - ay) - qy * (ex - ax)
    o3 = px * (ay - sy) - py * (ax - sx)  # segment ends vs the path's line
    o4 = px * (by - sy) - py * (bx - sx)
    if not (o1 * o2 <= 0 and o3 * o4 <= 0):
        return False, np.inf
    denom = px * qy - py * qx
    if denom == 0.0:  # collinear: parallel and apart failed the test above
        return True, _clip01(_collinear_start(sx, sy, px, py, ax, ay, bx, by))
    return True, _clip01(((ax - sx) * qy - (ay - sy) * qx) / denom)


@njit(cache=True, nogil=True)
def _collinear_start(
    sx: float, sy: float, px: float, py: float, ax: float, ay: float, bx: float, by: float
) -> float:
    """Path parameter where a collinear path first overlaps the segment ``a → b``."""
    len2 = _maximum(px * px + py * py, _EPS)
    s0 = ((ax - sx) * px + (ay - sy) * py) / len2
    s1 = ((bx - sx) * px + (by - sy) * py) / len2
    return _maximum(_minimum(s0, s1), 0.0)


@njit(cache=True, nogil=True)
def _screened(screen: Mask, hit_xy: F64) -> tuple[I64, F64]:
    """The pairs to screen, ascending, and their touch points."""
    rows = np.flatnonzero(screen)
    xy = np.empty((len(rows), 2))
    for k in range(len(rows)):
        xy[k, 0], xy[k, 1] = hit_xy[rows[k], 0], hit_xy[rows[k], 1]
    return rows.astype(np.int64), xy


@njit(cache=True, nogil=True)
def _sign(value: float) -> int:
    """``np.sign`` as an int (``0`` for zero)."""
    if value > 0.0:
        return 1
    if value < 0.0:
        return -1
    return 0


@njit(cache=True, nogil=True)
def _clip01(value: float) -> float:
    """``np.clip(value, 0.0, 1.0)``: a value equal to a bound is kept (``-0.0`` too)."""
    if value < 0.0:
        return 0.0
    if value > 1.0:
        return 1.0
    return value


@njit(cache=True, nogil=True)
def _minimum(a: float, b: float) -> float:
    """``np.minimum``: ``b`` on ties (and NaN propagates)."""
    return a if a < b or math.isnan(a) else b


@njit(cache=True, nogil=True)
def _maximum(a: float, b: float) -> float:
    """``np.maximum``: ``b`` on ties (and NaN propagates)."""
    return a if a > b or math.isnan(a) else b


# Compiled at import (explicit signature): every function it calls is defined above.
@njit(SIGNATURE, cache=True, nogil=True)
def advance(
    index: I64,
    frame: I64,
    points: F64,
    unit: I64,
    state: State,
    params: Params,
    lines: Lines,
) -> tuple[Mask, Mask, I64, F64]:
    """One round of every pair; see ``LineBank._advance``. ``state`` is updated in place.

    Args:
        index: ``[P]`` table row of each pair (distinct).
        frame: ``[P]`` frame number of each pair's row.
        points: ``[P, 2]`` anchor of each pair.
        unit: ``[P]`` unit of each pair (its line in ``lines``).
        state: ``LineBank``'s table columns, in the order of :data:`State`.
        params: ``LineBank``'s unit columns, in the order of :data:`Params`.
        lines: ``Polylines`` ``(vertices, segments, normals, segment_table)``.

    Returns:
        ``[P]`` crossed (before the re-acquisition screen), ``[P]`` direction
        in, ``[K]`` the crossings to screen (pairs ascending) and ``[K, 2]``
        where each first touched its line.
    """
    n = len(index)
    crossed = np.zeros(n, np.bool_)
    going_in = np.zeros(n, np.bool_)
    screen = np.zeros(n, np.bool_)
    hit_xy = np.zeros((n, 2))
    # The loop reads and writes the arrays itself (see the module docstring).
    last_seen, first_seen, observed_side, settled_side, pending, settled_xy, first_new_xy = state
    min_frames, recount_window = params[0], params[6]
    segments, normals, table = lines[1], lines[2], lines[3]
    for i in range(n):
        row, x, y, u = index[i], points[i, 0], points[i, 1], unit[i]
        last_seen[row] = frame[i]
        if first_seen[row] < 0:
            first_seen[row] = frame[i]
        if segments[u] > 1:
            raw = _bent_side(x, y, u, segments[u], normals, table)
        else:  # plain segments: the first segment's supporting line
            raw = _plain_side(x, y, table[u, 0, 0], table[u, 0, 1], table[u, 0, 2], table[u, 0, 3])
        side = raw if raw != 0 else int(observed_side[row])  # on the line: the latest side
        observed_side[row] = side
        stay, flipped = _transition(side, int(settled_side[row]))
        waited = pending[row] + 1 if flipped else 0
        if flipped and waited == 1:
            first_new_xy[row, 0], first_new_xy[row, 1] = x, y
        done = waited >= min_frames[u]
        if done:  # rare: most rounds confirm nothing; reads the settled point before it moves
            ok, hx, hy = _judge(row, side > 0, x, y, u, state, params, lines)
            crossed[i], screen[i] = ok, ok and recount_window[u] > 0
            hit_xy[i, 0], hit_xy[i, 1] = hx, hy
        if stay or done:
            settled_side[row] = side
        if done or (stay and raw != 0):  # a point on the line is on no side: not settled there
            settled_xy[row, 0], settled_xy[row, 1] = x, y
        pending[row] = 0 if done else waited
        going_in[i] = side > 0
    screened, screened_xy = _screened(screen, hit_xy)
    return crossed, going_in, screened, screened_xy


ROUND_SIGNATURE = (
    ROUND_TYPE,
    UNITS_TYPE,
    _array(types.int64, 1),  # forget_frames of each unit
    _array(types.int64, 1),  # the table's keys
    _array(types.intp, 1),  # the pairs' table rows when the caller has them, else empty
    _STATE_TYPE,
    _PARAMS_TYPE,
    _LINES_TYPE,
)
# (row, unit, keys, index, located, crossed, going_in, screened, screened_xy, stale, n_stale)
Step = tuple[I64, I64, I64, I64, bool, Mask, Mask, I64, F64, Mask, int] | None


@njit(ROUND_SIGNATURE, cache=True, nogil=True)
def round_step(
    rnd: RoundArrays,
    units: UnitArrays,
    forget_frames: I64,
    ids: I64,
    rows: I64,
    state: State,
    params: Params,
    lines: Lines,
) -> Step:
    """A whole ``LineBank.update`` round but the re-acquisition screen and the report.

    The pairs of the round, their keys and table rows, :func:`advance`, and the
    table rows gone stale after it (``stale_rows``; the caller drops them after
    the screen, which reads rows by ``index``).

    Args:
        rnd: the round's arrays (``_round_kernel.round_arrays``).
        units: ``Units.kernel_arrays()`` of the bank.
        forget_frames: ``[U]`` the units' forget horizon.
        ids: ``[T]`` the table's keys, sorted.
        rows: ``[P]`` the pairs' table rows when the caller has them (a round run
            again after inserting keys), else empty: the kernel searches them.
        state, params, lines: as in :func:`advance`.

    Returns:
        ``None`` when no pair crossed and no row is stale (nothing left to do),
        else ``(row, unit, keys, index, located, crossed, going_in, screened,
        screened_xy, stale, n_stale)``. When a key is not in the table yet,
        ``located`` is false and only ``row``, ``unit``, ``keys`` and ``index``
        (``np.searchsorted(ids, keys)``) are set: insert the keys
        (``TrackTable.locate_searched``) and run the round again with their rows.
    """
    xyxy, track_id, class_id, row_stream, row_frame, stream_frame = rnd
    row, unit = pairs_of(row_stream, class_id, units)
    keys = keys_of(row, unit, track_id)
    index, located = locate(ids, keys, rows)
    none = np.zeros(0, np.bool_)
    if not located:
        return row, unit, keys, index, False, none, none, keys[:0], np.zeros((0, 2)), none, 0
    frame, points = frames_of(row, row_frame), points_of(xyxy, row, unit, units[2])
    crossed, going_in, screened, hit_xy = advance(index, frame, points, unit, state, params, lines)
    stale, n_stale = stale_rows(ids, state[0], units[0], stream_frame, forget_frames)
    if n_stale == 0 and not crossed.any():  # most rounds: returning arrays costs more
        return None
    return row, unit, keys, index, True, crossed, going_in, screened, hit_xy, stale, n_stale
