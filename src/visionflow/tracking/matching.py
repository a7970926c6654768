"""Vectorised association helpers: IoU costs and linear assignment.

Costs come in two layouts: dense ``[M, N]`` matrices (one stream's tracks
against its detections) and *pairs*, flat arrays over chosen (row, column)
pairs. The pair layout is how the tracks and detections of many streams are
associated in one step: :func:`group_pairs` lists the pairs of the same
stream (the blocks of a block-diagonal cost matrix), :func:`overlap_pairs`
only those of them whose boxes can overlap, :func:`iou_pairs` costs them, and
:func:`sparse_linear_assignment` solves every block at once, each exactly as
it would be solved alone.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]


def iou_matrix(xyxy_a: npt.ArrayLike, xyxy_b: npt.ArrayLike, pixel_offset: float = 0.0) -> F32Array:
    """Pairwise intersection-over-union of two box sets.

    Computed in float32: boxes are float32 pixels already, the ~1e-7 relative
    error is far below any matching threshold, and it halves the memory
    traffic of the ``[M, N]`` temporaries, which dominate at hundreds of boxes.

    Args:
        xyxy_a: ``[M, 4]`` boxes ``x1, y1, x2, y2`` in pixels.
        xyxy_b: ``[N, 4]`` boxes in the same layout.
        pixel_offset: added to every width, height and overlap: 0 for
            continuous coordinates, 1 for the integer-pixel convention
            (``x2 - x1 + 1``) of the reference ByteTrack / ``cython_bbox``.

    Returns:
        ``[M, N]`` float32 IoU in ``[0, 1]``; pairs whose union is empty
        (two degenerate boxes) get 0.
    """
    a = _boxes(xyxy_a, pixel_offset)
    b = _boxes(xyxy_b, pixel_offset)
    # [M, 1] columns against [N] rows.
    return _iou(a[:, :, None], b, (a.shape[1], b.shape[1]))


def iou_pairs(
    xyxy_a: npt.ArrayLike,
    xyxy_b: npt.ArrayLike,
    rows: npt.ArrayLike,
    cols: npt.ArrayLike,
    pixel_offset: float = 0.0,
) -> F32Array:
    """The entries ``(rows[p], cols[p])`` of ``iou_matrix(xyxy_a, xyxy_b)``, without the rest.

    Same arithmetic as :func:`iou_matrix`, bit for bit.

    Args:
        xyxy_a: ``[M, 4]`` boxes.
        xyxy_b: ``[N, 4]`` boxes.
        rows: ``[P]`` indices into ``xyxy_a``.
        cols: ``[P]`` indices into ``xyxy_b``.
        pixel_offset: see :func:`iou_matrix`.

    Returns:
        ``[P]`` float32 IoU of ``xyxy_a[rows[p]]`` with ``xyxy_b[cols[p]]``.
    """
    # np.take along axis 1 is several times faster than [:, index] here.
    a = np.take(_boxes(xyxy_a, pixel_offset), np.asarray(rows, np.intp), axis=1)
    b = np.take(_boxes(xyxy_b, pixel_offset), np.asarray(cols, np.intp), axis=1)
    return _iou(a, b, (a.shape[1],))


def _boxes(xyxy: npt.ArrayLike, pixel_offset: float) -> F32Array:
    """``[4, K]`` float32 coordinate rows (contiguous), ``pixel_offset`` added to ``x2, y2``."""
    rows: F32Array = np.array(np.asarray(xyxy, np.float32).reshape(-1, 4).T, order="C")
    if pixel_offset:
        rows[2:] += np.float32(pixel_offset)
    return rows


def _iou(a: F32Array, b: F32Array, shape: tuple[int, ...]) -> F32Array:
    """IoU of coordinate rows ``a [4, ...]`` and ``b [4, ...]`` broadcast to ``shape``."""
    # Results are written into reused buffers of the output shape: fresh large
    # temporaries (page faults) dominated the cost at 500 x 500.
    inter = np.empty(shape, np.float32)
    scratch = np.empty_like(inter)
    _overlap(a[0], a[2], b[0], b[2], out=inter, scratch=scratch)
    y_overlap = _overlap(a[1], a[3], b[1], b[3], out=scratch, scratch=np.empty_like(inter))
    inter *= y_overlap
    area_a = _extent(a[0], a[2]) * _extent(a[1], a[3])
    area_b = _extent(b[0], b[2]) * _extent(b[1], b[3])
    union = np.add(area_a, area_b, out=scratch)
    union -= inter
    # An empty union implies an empty intersection, so 0 / tiny gives IoU 0.
    np.maximum(union, np.finfo(np.float32).tiny, out=union)
    iou: F32Array = np.divide(inter, union, out=inter)
    return iou


def _extent(low: F32Array, high: F32Array) -> F32Array:
    """Non-negative ``high - low`` (side length of a box, 0 if degenerate)."""
    extent: F32Array = np.maximum(high - low, np.float32(0.0))
    return extent


def _overlap(
    low_a: F32Array,
    high_a: F32Array,
    low_b: F32Array,
    high_b: F32Array,
    *,
    out: F32Array,
    scratch: F32Array,
) -> F32Array:
    """1-D overlap of the intervals ``a`` and ``b`` (broadcast), into ``out``.

    ``scratch`` is a buffer of ``out``'s shape for the intermediate.
    """
    np.minimum(high_a, high_b, out=out)
    out -= np.maximum(low_a, low_b, out=scratch)
    return np.maximum(out, 0.0, out=out)


def iou_distance(
    xyxy_a: npt.ArrayLike, xyxy_b: npt.ArrayLike, pixel_offset: float = 0.0
) -> F32Array:
    """``[M, N]`` float32 cost ``1 - IoU`` (0 = identical boxes, 1 = disjoint).

    ``pixel_offset``: see :func:`iou_matrix`.
    """
    iou = iou_matrix(xyxy_a, xyxy_b, pixel_offset)
    return np.subtract(1.0, iou, out=iou)


def iou_distance_pairs(
    xyxy_a: npt.ArrayLike,
    xyxy_b: npt.ArrayLike,
    rows: npt.ArrayLike,
    cols: npt.ArrayLike,
    pixel_offset: float = 0.0,
) -> F32Array:
    """``[P]`` float32 cost ``1 - IoU`` at the listed entries (see :func:`iou_pairs`)."""
    iou = iou_pairs(xyxy_a, xyxy_b, rows, cols, pixel_offset)
    return np.subtract(1.0, iou, out=iou)


def fuse_score(cost: F32Array, det_scores: npt.ArrayLike) -> F32Array:
    """Fold detection confidence into an IoU cost, as ByteTrack does on MOT17.

    Args:
        cost: ``[M, N]`` IoU distance (tracks x detections), or ``[P]`` for pairs.
        det_scores: ``[N]`` detection confidences in ``[0, 1]`` (``[P]``: the
            score of each pair's detection).

    Returns:
        Cost ``1 - (1 - cost) * score`` of ``cost``'s shape: a confident
        detection is cheaper to match than a doubtful one with the same overlap.
    """
    scores = np.asarray(det_scores, np.float32)
    fused: F32Array = np.subtract(np.float32(1.0), cost)
    fused *= scores
    return np.subtract(np.float32(1.0), fused, out=fused)


def mask_classes(cost: F32Array, row_class: npt.ArrayLike, col_class: npt.ArrayLike) -> F32Array:
    """Return a copy of ``cost`` with ``inf`` where row and column classes differ.

    Args:
        cost: ``[M, N]`` cost matrix.
        row_class: ``[M]`` class ids of the rows (tracks).
        col_class: ``[N]`` class ids of the columns (detections).
    """
    rows = np.asarray(row_class).reshape(-1, 1)
    cols = np.asarray(col_class).reshape(1, -1)
    masked: F32Array = np.where(rows == cols, cost, np.float32(np.inf))
    return masked


def group_pairs(group_a: npt.ArrayLike, group_b: npt.ArrayLike) -> tuple[I64Array, I64Array]:
    """Every pair ``(i, j)`` with ``group_a[i] == group_b[j]``.

    With streams as groups these are the blocks of a block-diagonal
    tracks x detections matrix: the only pairs worth costing.

    Args:
        group_a: ``[M]`` integer group of each row.
        group_b: ``[N]`` integer group of each column.

    Returns:
        ``rows [P]`` and ``cols [P]`` (int64), grouped by group; within a
        group row-major (ascending rows, then ascending columns).
    """
    a = np.asarray(group_a)
    b = np.asarray(group_b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if a.min() == a.max() == b.min() == b.max():
        # One group (one stream): the whole matrix, cheaply.
        return (
            np.repeat(np.arange(len(a), dtype=np.int64), len(b)),
            np.tile(np.arange(len(b), dtype=np.int64), len(a)),
        )
    order_a = np.argsort(a, kind="stable")
    order_b = np.argsort(b, kind="stable")
    sorted_b = b[order_b]
    lo = np.searchsorted(sorted_b, a[order_a], side="left")
    count = np.searchsorted(sorted_b, a[order_a], side="right") - lo
    rows = np.repeat(order_a.astype(np.int64), count)
    # Position of each pair inside its row's run of columns.
    run_start = np.repeat(np.cumsum(count) - count, count)
    within = np.arange(len(rows), dtype=np.int64) - run_start
    cols = order_b.astype(np.int64)[np.repeat(lo, count) + within]
    return rows, cols


def overlap_pairs(
    group_a: npt.ArrayLike,
    xyxy_a: npt.ArrayLike,
    group_b: npt.ArrayLike,
    xyxy_b: npt.ArrayLike,
    pixel_offset: float = 0.0,
) -> tuple[I64Array, I64Array]:
    """The pairs of :func:`group_pairs` whose boxes may intersect, found by a sweep on x.

    Every pair of the same group with a positive intersection in
    :func:`iou_pairs` (same ``pixel_offset``) is included; a few others may be
    (a superset: boxes that overlap in x only nearly). Every pair left out has
    IoU exactly 0. Instead of all ``M x N`` pairs of a group, each row meets
    only the columns whose ``x1`` lies in its window ``(x1 - widest, x2)``:
    ``b`` is sorted once by (group, ``x1``) and each row's window is two
    binary searches.

    Args:
        group_a: ``[M]`` integer group of each row.
        xyxy_a: ``[M, 4]`` boxes of the rows.
        group_b: ``[N]`` integer group of each column.
        xyxy_b: ``[N, 4]`` boxes of the columns.
        pixel_offset: see :func:`iou_matrix`.

    Returns:
        ``rows [P]`` and ``cols [P]`` (int64), grouped by row (ascending).
    """
    ga = np.asarray(group_a, np.int64)
    gb = np.asarray(group_b, np.int64)
    a = _boxes(xyxy_a, pixel_offset).astype(np.float64)
    b = _boxes(xyxy_b, pixel_offset).astype(np.float64)
    if len(ga) == 0 or len(gb) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not (np.isfinite(a[0::2]).all() and np.isfinite(b[0::2]).all()):
        return group_pairs(ga, gb)  # non-finite x: every pair of a group
    # A column can only meet row i if lower[i] < x1 < upper[i]. Windows are
    # widened by 1 px each side, so the rounding of the float64 keys below
    # (at most 2**-12 px, all keys being below 2**40) only adds candidates.
    lower = a[0] - (np.max(b[2] - b[0]) + 1.0)
    upper = a[2] + 1.0
    base = min(float(lower.min()), float(b[0].min()))
    span = max(float(upper.max()), float(b[0].max())) - base + 2.0
    # Key: group rank * span + x - base, so that the groups' ranges are disjoint.
    group = np.concatenate([ga, gb])
    low_group = int(group.min())
    if int(group.max()) - low_group < len(group):
        rank = group - low_group  # stream indices: already small
    else:
        rank = np.unique(group, return_inverse=True)[1]
    if not np.isfinite(span) or abs(base) + span * (int(rank.max()) + 1) > 2.0**40:
        # Astronomically large coordinates: every pair of a group.
        return group_pairs(ga, gb)
    offset = rank.astype(np.float64) * span
    key_b = offset[len(ga) :] + (b[0] - base)
    order = np.argsort(key_b, kind="stable")
    sorted_key = key_b[order]
    row_offset = offset[: len(ga)]
    start = np.searchsorted(sorted_key, row_offset + (lower - base), side="right")
    count = np.searchsorted(sorted_key, row_offset + (upper - base), side="left") - start
    np.maximum(count, 0, out=count)
    rows = np.repeat(np.arange(len(ga), dtype=np.int64), count)
    within = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    cols = order.astype(np.int64)[np.repeat(start, count) + within]
    return rows, cols


def linear_assignment(cost: npt.ArrayLike, threshold: float) -> tuple[I64Array, I64Array, I64Array]:
    """Minimum-cost one-to-one matching that rejects pairs costing more than ``threshold``.

    Costs are clipped at ``threshold`` before solving, so leaving a pair
    unmatched costs the same as matching it at the threshold. This is the
    same optimum as ``lap.lapjv(cost, extend_cost=True, cost_limit=threshold)``
    used by ByteTrack, whereas filtering an unconstrained assignment
    afterwards can lose valid matches. ``inf`` entries are allowed. Solved by
    :func:`sparse_linear_assignment` on the accepted entries.

    Args:
        cost: ``[M, N]`` cost matrix.
        threshold: largest accepted cost (inclusive).

    Returns:
        ``matches [K, 2]`` (row, column) pairs sorted by row, then the
        unmatched row indices and unmatched column indices (sorted, int64).
    """
    c = np.asarray(cost)
    rows, cols = np.nonzero(c <= threshold)
    return sparse_linear_assignment(rows, cols, c[rows, cols], c.shape, threshold)


def sparse_linear_assignment(
    rows: npt.ArrayLike,
    cols: npt.ArrayLike,
    cost: npt.ArrayLike,
    shape: tuple[int, ...],
    threshold: float,
) -> tuple[I64Array, I64Array, I64Array]:
    """:func:`linear_assignment` of an ``[M, N]`` matrix given by its listed entries.

    Entries not listed are infeasible (as ``inf``), so a block-diagonal
    matrix (the tracks and detections of many streams, pairs from
    :func:`group_pairs`) is solved in one call, with each block's result
    exactly the one it gets alone.

    The bipartite graph of accepted pairs (``cost <= threshold``) splits into
    connected components, whose optimal matchings are independent. They are
    resolved without a solver where there is nothing to optimise, vectorised
    over all components: a pair that is each other's only candidate is taken,
    and a component with a single row (or column) takes its cheapest pair
    (ties: lowest column, then row). Only components with several rows *and*
    several columns go to the Hungarian solver, one call each, on their own
    submatrix (rows and columns ascending). A component's result thus depends
    on its own entries only, never on the rest of the matrix.

    Args:
        rows: ``[P]`` row index of each listed entry (pairs unique).
        cols: ``[P]`` column index of each listed entry.
        cost: ``[P]`` its cost (``inf`` / above ``threshold``: infeasible).
        shape: ``(M, N)``.
        threshold: largest accepted cost (inclusive).

    Returns:
        As :func:`linear_assignment`.
    """
    c = np.asarray(cost)
    accepted = c <= threshold
    r = np.asarray(rows, np.int64)[accepted]
    k = np.asarray(cols, np.int64)[accepted]
    c = c[accepted]
    row_degree = np.bincount(r, minlength=shape[0])
    col_degree = np.bincount(k, minlength=shape[1])
    lone = (row_degree[r] == 1) & (col_degree[k] == 1)
    found = [np.stack([r[lone], k[lone]], axis=1)]
    if not lone.all():
        contested = ~lone
        found.append(_solve_components(r[contested], k[contested], c[contested], threshold))
    return _finish(np.concatenate(found), shape)


def _solve_components(
    rows: I64Array, cols: I64Array, cost: npt.NDArray[np.floating], threshold: float
) -> I64Array:
    """Optimal matching of accepted pairs, component by component (see above)."""
    row_node, r = np.unique(rows, return_inverse=True)
    col_node, k = np.unique(cols, return_inverse=True)
    n_rows = len(row_node)
    n_nodes = n_rows + len(col_node)
    graph = coo_matrix((np.ones(len(r), np.int8), (r, k + n_rows)), shape=(n_nodes, n_nodes))
    n_components, label = connected_components(graph, directed=False)
    row_label, col_label = label[:n_rows], label[n_rows:]
    pair_label = row_label[r]
    rows_in = np.bincount(row_label, minlength=n_components)
    cols_in = np.bincount(col_label, minlength=n_components)
    star = (rows_in[pair_label] == 1) | (cols_in[pair_label] == 1)
    # Star components: the cheapest pair of each (ties: lowest column, then row).
    s = np.flatnonzero(star)
    s = s[np.lexsort((rows[s], cols[s], cost[s], pair_label[s]))]
    first = np.ones(len(s), np.bool_)
    first[1:] = pair_label[s[1:]] != pair_label[s[:-1]]
    found = [np.stack([rows[s[first]], cols[s[first]]], axis=1)]
    # The rest: one solver call per component, on its own submatrix.
    g = np.flatnonzero(~star)
    if len(g):
        row_rank, row_order = _rank_within(row_label)
        col_rank, col_order = _rank_within(col_label)
        row_start = np.cumsum(rows_in) - rows_in
        col_start = np.cumsum(cols_in) - cols_in
        g = g[np.argsort(pair_label[g], kind="stable")]
        bounds = np.flatnonzero(np.diff(pair_label[g])) + 1
        for part in np.split(g, bounds):
            comp = pair_label[part[0]]
            # Unlisted entries cost the threshold (in the costs' dtype): leaving
            # a pair out costs as much as the dearest acceptable match.
            sub = np.full((rows_in[comp], cols_in[comp]), threshold, cost.dtype)
            feasible = np.zeros(sub.shape, np.bool_)
            sub[row_rank[r[part]], col_rank[k[part]]] = cost[part]
            feasible[row_rank[r[part]], col_rank[k[part]]] = True
            i, j = linear_sum_assignment(sub)
            keep = feasible[i, j]
            comp_rows = row_node[row_order[row_start[comp] : row_start[comp] + rows_in[comp]]]
            comp_cols = col_node[col_order[col_start[comp] : col_start[comp] + cols_in[comp]]]
            found.append(np.stack([comp_rows[i[keep]], comp_cols[j[keep]]], axis=1))
    return np.concatenate(found).astype(np.int64)


def _rank_within(label: npt.NDArray[np.integer]) -> tuple[I64Array, I64Array]:
    """Rank of each node among the nodes of its label (in node order), and the
    nodes sorted by (label, node)."""
    order = np.argsort(label, kind="stable")
    sorted_label = label[order]
    rank = np.empty(len(label), np.int64)
    rank[order] = np.arange(len(label)) - np.searchsorted(sorted_label, sorted_label, side="left")
    return rank, order.astype(np.int64)


def _finish(matches: I64Array, shape: tuple[int, ...]) -> tuple[I64Array, I64Array, I64Array]:
    """Sort ``matches`` by row and list the unmatched rows and columns."""
    matches = matches[np.argsort(matches[:, 0], kind="stable")]
    free_rows = np.ones(shape[0], np.bool_)
    free_rows[matches[:, 0]] = False
    free_cols = np.ones(shape[1], np.bool_)
    free_cols[matches[:, 1]] = False
    unmatched_rows = np.flatnonzero(free_rows).astype(np.int64)
    unmatched_cols = np.flatnonzero(free_cols).astype(np.int64)
    return matches, unmatched_rows, unmatched_cols


def greedy_assignment(cost: npt.ArrayLike, threshold: float) -> tuple[I64Array, I64Array, I64Array]:
    """Greedy matching: repeatedly take the cheapest remaining pair with cost <= ``threshold``.

    Each round takes every mutual-best pair at once (row ``i``'s cheapest
    column is ``j`` and column ``j``'s cheapest row is ``i``), which yields the
    same pairs as the one-pair-at-a-time greedy for distinct costs. Rounds are
    few in practice (objects rarely form long chains of overlaps).

    Args:
        cost: ``[M, N]`` cost matrix (``inf`` allowed).
        threshold: largest accepted cost (inclusive).

    Returns:
        Same layout as :func:`linear_assignment`.
    """
    c = np.asarray(cost, np.float64)
    c = np.where(c <= threshold, c, np.inf)
    n_rows = c.shape[0]
    found: list[I64Array] = [np.zeros((0, 2), np.int64)]
    while c.size and np.isfinite(c).any():
        best_col = np.argmin(c, axis=1)
        best_row = np.argmin(c, axis=0)
        rows = np.flatnonzero(best_row[best_col] == np.arange(n_rows))
        rows = rows[np.isfinite(c[rows, best_col[rows]])]
        found.append(np.stack([rows, best_col[rows]], axis=1).astype(np.int64))
        c[rows, :] = np.inf
        c[:, best_col[rows]] = np.inf
    return _finish(np.concatenate(found), c.shape)
