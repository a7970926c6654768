"""Linear sum assignment as compiled code, with the choices of SciPy's solver.

:func:`solve_lsap` is the shortest-augmenting-path algorithm of Crouse
(2016) that ``scipy.optimize.linear_sum_assignment`` runs, written for numba
so that the compiled tracker step (:mod:`visionflow.tracking._bytetrack_kernel`)
can solve its contested groups without leaving compiled code. It follows the
same order of rows, the same scan of columns and the same tie rule (among
equally short paths, prefer one that ends at a free column), so on equal-cost
alternatives it picks the assignment SciPy picks: tests compare the two on
matrices full of ties.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]


@njit(cache=True, nogil=True)
def solve_lsap(cost: F64Array) -> I64Array:
    """Minimum-cost assignment of a finite ``[R, C]`` matrix.

    Returns:
        ``[R]`` int64: the column of each row, ``-1`` for rows left out
        (only when ``R > C``; every column is then assigned).
    """
    n_rows, n_cols = cost.shape
    if n_cols < n_rows:
        # Tall matrix: solve the transpose (every row of it is assigned).
        col_of_row = np.full(n_rows, -1, np.int64)
        row_of_col = _solve_wide(np.ascontiguousarray(cost.T))
        for col in range(n_cols):
            col_of_row[row_of_col[col]] = col
        return col_of_row
    return _solve_wide(cost)


@njit(cache=True, nogil=True)
def _solve_wide(cost):
    """:func:`solve_lsap` for ``R <= C``: every row gets a column."""
    n_rows, n_cols = cost.shape
    u = np.zeros(n_rows)
    v = np.zeros(n_cols)
    path_cost = np.empty(n_cols)
    path = np.full(n_cols, -1, np.int64)
    col_of_row = np.full(n_rows, -1, np.int64)
    row_of_col = np.full(n_cols, -1, np.int64)
    row_seen = np.zeros(n_rows, np.bool_)
    col_seen = np.zeros(n_cols, np.bool_)
    for current in range(n_rows):
        sink, min_val = _augmenting_path(
            cost, u, v, current, path, path_cost, row_of_col, row_seen, col_seen
        )
        # Dual update, then flip the path.
        u[current] += min_val
        for r in range(n_rows):
            if row_seen[r] and r != current:
                u[r] += min_val - path_cost[col_of_row[r]]
        for c in range(n_cols):
            if col_seen[c]:
                v[c] -= min_val - path_cost[c]
        col = sink
        while True:
            r = path[col]
            row_of_col[col] = r
            col, col_of_row[r] = col_of_row[r], col
            if r == current:
                break
    return col_of_row


@njit(cache=True, nogil=True)
def _augmenting_path(cost, u, v, row, path, path_cost, row_of_col, row_seen, col_seen):
    """Shortest augmenting path from ``row`` to a free column: ``(sink, its length)``.

    Columns are scanned from a list filled in reverse and shrunk by swapping
    the taken one with the last (SciPy's order); among equally short paths the
    first one found that ends at a free column wins.
    """
    n_cols = cost.shape[1]
    remaining = np.arange(n_cols - 1, -1, -1)
    n_remaining = n_cols
    row_seen[:] = False
    col_seen[:] = False
    path_cost[:] = np.inf
    min_val = 0.0
    sink = -1
    while sink == -1:
        best = -1
        lowest = np.inf
        row_seen[row] = True
        for k in range(n_remaining):
            col = remaining[k]
            reduced = min_val + cost[row, col] - u[row] - v[col]
            if reduced < path_cost[col]:
                path[col] = row
                path_cost[col] = reduced
            if path_cost[col] < lowest or (path_cost[col] == lowest and row_of_col[col] == -1):
                lowest = path_cost[col]
                best = k
        min_val = lowest
        col = remaining[best]
        if row_of_col[col] == -1:
            sink = col
        else:
            row = row_of_col[col]
        col_seen[col] = True
        n_remaining -= 1
        remaining[best] = remaining[n_remaining]
    return sink, min_val
