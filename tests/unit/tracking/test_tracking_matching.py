"""IoU matrices, score fusion, class masks and thresholded linear assignment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from visionflow.tracking import (
    fuse_score,
    greedy_assignment,
    iou_distance,
    iou_matrix,
    linear_assignment,
    mask_classes,
)
from visionflow.tracking.matching import (
    group_pairs,
    iou_distance_pairs,
    iou_pairs,
    overlap_pairs,
    sparse_linear_assignment,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [0, 0, 5, 5], 25 / 100),
        ([0, 0, 10, 10], [5, 5, 15, 15], 25 / 175),
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate: empty union
    ],
)
def test_iou_pairs(a: list[float], b: list[float], expected: float) -> None:
    assert iou_matrix([a], [b])[0, 0] == pytest.approx(expected)
    assert iou_matrix([b], [a])[0, 0] == pytest.approx(expected)


def test_iou_matrix_shape_and_values() -> None:
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [0, 0, 5, 5], [100, 100, 110, 110]], np.float32)
    expected = np.array([[1.0, 0.25, 0.0], [50 / 150, 0.0, 0.0]])
    np.testing.assert_allclose(iou_matrix(a, b), expected)
    np.testing.assert_allclose(iou_distance(a, b), 1 - expected)


@pytest.mark.parametrize(("m", "n"), [(0, 0), (0, 3), (4, 0)])
def test_iou_matrix_empty(m: int, n: int) -> None:
    assert iou_matrix(np.zeros((m, 4)), np.zeros((n, 4))).shape == (m, n)


def test_fuse_score() -> None:
    cost = np.array([[0.0, 0.5], [1.0, 0.2]])
    np.testing.assert_allclose(fuse_score(cost, [0.5, 1.0]), [[0.5, 0.5], [1.0, 0.2]])


def test_mask_classes() -> None:
    cost = np.full((2, 3), 0.3)
    got = mask_classes(cost, [0, 1], [0, 1, 1])
    np.testing.assert_array_equal(got, [[0.3, np.inf, np.inf], [np.inf, 0.3, 0.3]])


@pytest.mark.parametrize(
    ("cost", "threshold", "matches", "rows_left", "cols_left"),
    [
        pytest.param([[0.1, 0.9], [0.9, 0.2]], 0.5, [[0, 0], [1, 1]], [], [], id="diagonal"),
        pytest.param([[0.1, 0.9], [0.9, 0.6]], 0.5, [[0, 0]], [1], [1], id="one-rejected"),
        pytest.param([[0.5]], 0.5, [[0, 0]], [], [], id="threshold-inclusive"),
        pytest.param([[0.50001]], 0.5, [], [0], [0], id="just-above"),
        pytest.param([[0.9, 0.8]], 0.5, [], [0], [0, 1], id="all-rejected"),
        pytest.param([[0.2], [0.1], [0.3]], 0.5, [[1, 0]], [0, 2], [], id="tall"),
        pytest.param([[np.inf, 0.1]], 0.5, [[0, 1]], [], [0], id="inf-allowed"),
        # Unconstrained optimum pairs (0,1)+(1,0) (0.8 < 10.1) and a post-filter
        # would keep only (1,0); clipping at the threshold keeps the better (0,0).
        pytest.param([[0.1, 0.6], [0.2, 10.0]], 0.5, [[0, 0]], [1], [1], id="clip-not-filter"),
        pytest.param(np.zeros((0, 3)), 0.5, [], [], [0, 1, 2], id="no-rows"),
        pytest.param(np.zeros((2, 0)), 0.5, [], [0, 1], [], id="no-cols"),
    ],
)
def test_linear_assignment(
    cost: list[list[float]],
    threshold: float,
    matches: list[list[int]],
    rows_left: list[int],
    cols_left: list[int],
) -> None:
    got_matches, got_rows, got_cols = linear_assignment(np.asarray(cost, float), threshold)
    np.testing.assert_array_equal(got_matches, np.asarray(matches, np.int64).reshape(-1, 2))
    np.testing.assert_array_equal(got_rows, rows_left)
    np.testing.assert_array_equal(got_cols, cols_left)
    assert got_matches.dtype == got_rows.dtype == got_cols.dtype == np.int64


def _greedy_reference(cost: np.ndarray, threshold: float) -> list[list[int]]:
    """One pair at a time, cheapest first (the textbook greedy)."""
    c = np.where(cost <= threshold, cost, np.inf)
    pairs = []
    while c.size and np.isfinite(c).any():
        i, j = np.unravel_index(np.argmin(c), c.shape)
        pairs.append([int(i), int(j)])
        c[i, :], c[:, j] = np.inf, np.inf
    return sorted(pairs)


@pytest.mark.parametrize(
    ("cost", "threshold", "matches"),
    [
        pytest.param([[0.1, 0.2], [0.15, 0.9]], 0.5, [[0, 0]], id="greedy-not-optimal"),
        pytest.param([[0.1, 0.2], [0.15, 0.3]], 0.5, [[0, 0], [1, 1]], id="second-round"),
        pytest.param([[0.6]], 0.5, [], id="rejected"),
        pytest.param([[0.5]], 0.5, [[0, 0]], id="inclusive"),
        pytest.param(np.zeros((0, 2)), 0.5, [], id="empty"),
    ],
)
def test_greedy_assignment_cases(
    cost: list[list[float]], threshold: float, matches: list[list[int]]
) -> None:
    got, _, _ = greedy_assignment(np.asarray(cost, float), threshold)
    np.testing.assert_array_equal(got, np.asarray(matches, np.int64).reshape(-1, 2))


@pytest.mark.parametrize("seed", range(20))
def test_greedy_assignment_equals_one_pair_at_a_time(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0, 1, (rng.integers(1, 12), rng.integers(1, 12)))
    got, rows_left, cols_left = greedy_assignment(cost, 0.7)
    assert got.tolist() == _greedy_reference(cost, 0.7)
    assert sorted([*got[:, 0], *rows_left]) == list(range(cost.shape[0]))
    assert sorted([*got[:, 1], *cols_left]) == list(range(cost.shape[1]))


def _lapjv_objective(cost: np.ndarray, threshold: float) -> float:
    """Optimum of ByteTrack's ``lapjv(extend_cost=True, cost_limit=threshold)`` problem.

    Built as the explicit (M+N) x (N+M) extended matrix: leaving a row or a
    column unmatched costs ``threshold / 2``.
    """
    m, n = cost.shape
    big = 1e9
    ext = np.zeros((m + n, n + m))
    ext[:m, :n] = np.where(cost <= threshold, cost, big)
    ext[:m, n:] = np.where(np.eye(m, dtype=bool), threshold / 2, big)
    ext[m:, :n] = np.where(np.eye(n, dtype=bool), threshold / 2, big)
    rows, cols = linear_sum_assignment(ext)
    return float(ext[rows, cols].sum())


@pytest.mark.parametrize("seed", range(30))
def test_linear_assignment_reaches_the_lapjv_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = rng.integers(0, 15, size=2)
    cost = np.where(rng.random((m, n)) < 0.25, rng.random((m, n)), 1.0)  # sparse, like IoU
    threshold = 0.8
    matches, rows_left, cols_left = linear_assignment(cost, threshold)
    n_left = len(rows_left) + len(cols_left)
    got = cost[matches[:, 0], matches[:, 1]].sum() + threshold / 2 * n_left
    assert got == pytest.approx(_lapjv_objective(cost, threshold))
    assert (cost[matches[:, 0], matches[:, 1]] <= threshold).all()
    assert len(set(matches[:, 0])) == len(set(matches[:, 1])) == len(matches)


# -- pairs: block-diagonal costs of many streams ----------------------------------


def _random_boxes(rng: np.random.Generator, n: int, canvas: float = 200.0) -> np.ndarray:
    xy = np.round(rng.uniform(0, canvas, (n, 2)))
    wh = rng.choice([0.0, 10.0, 30.0, 60.0], (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


@pytest.mark.parametrize("seed", range(10))
def test_group_pairs_are_exactly_the_same_group_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 5, rng.integers(0, 30)), rng.integers(0, 5, rng.integers(0, 30))
    rows, cols = group_pairs(a, b)
    expected = {(i, j) for i in range(len(a)) for j in range(len(b)) if a[i] == b[j]}
    assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == expected
    assert len(rows) == len(expected)


@pytest.mark.parametrize("pixel_offset", [0.0, 1.0])
@pytest.mark.parametrize("seed", range(10))
def test_overlap_pairs_hold_every_intersecting_pair(seed: int, pixel_offset: float) -> None:
    rng = np.random.default_rng(seed)
    m, n = rng.integers(0, 60, 2)
    a, b = _random_boxes(rng, m), _random_boxes(rng, n)
    ga, gb = rng.integers(0, 4, m), rng.integers(0, 4, n)
    rows, cols = overlap_pairs(ga, a, gb, b, pixel_offset)
    found = set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert len(found) == len(rows)
    assert (ga[rows] == gb[cols]).all()
    iou = iou_matrix(a, b, pixel_offset)
    must = {(i, j) for i, j in zip(*np.nonzero(iou > 0), strict=True) if ga[i] == gb[j]}
    assert must <= found


@pytest.mark.parametrize("pixel_offset", [0.0, 1.0])
def test_iou_pairs_are_the_matrix_entries_bit_for_bit(pixel_offset: float) -> None:
    rng = np.random.default_rng(3)
    a, b = _random_boxes(rng, 40).astype(np.float64) + 0.3, _random_boxes(rng, 50)
    rows, cols = np.nonzero(np.ones((40, 50), bool))
    np.testing.assert_array_equal(
        iou_pairs(a, b, rows, cols, pixel_offset), iou_matrix(a, b, pixel_offset)[rows, cols]
    )
    np.testing.assert_array_equal(
        iou_distance_pairs(a, b, rows, cols, pixel_offset),
        iou_distance(a, b, pixel_offset)[rows, cols],
    )
    assert iou_pairs(a, b, [], []).shape == (0,)


@pytest.mark.parametrize(
    ("cost", "matches"),
    [
        pytest.param([[0.3, 0.3, 0.5]], [[0, 0]], id="row-star-tie-lowest-column"),
        pytest.param([[0.5, 0.3, 0.3]], [[0, 1]], id="row-star-cheapest"),
        pytest.param([[0.3], [0.3], [0.1]], [[2, 0]], id="column-star-cheapest"),
        pytest.param([[0.3], [0.3]], [[0, 0]], id="column-star-tie-lowest-row"),
    ],
)
def test_components_with_one_row_or_column_take_the_cheapest_pair(
    cost: list[list[float]], matches: list[list[int]]
) -> None:
    got, _, _ = linear_assignment(np.asarray(cost), 0.8)
    np.testing.assert_array_equal(got, matches)


@pytest.mark.parametrize("seed", range(20))
def test_block_diagonal_solve_equals_each_block_alone(seed: int) -> None:
    """Blocks of whole-number costs (many exact ties) solved at once: each
    block's pairs are exactly those it gets as its own problem."""
    rng = np.random.default_rng(seed)
    shapes = [tuple(rng.integers(0, 7, 2)) for _ in range(int(rng.integers(1, 9)))]
    blocks = [np.where(rng.random(s) < 0.5, rng.integers(1, 4, s) / 4, 1.0) for s in shapes]
    row_off = np.cumsum([0] + [s[0] for s in shapes])
    col_off = np.cumsum([0] + [s[1] for s in shapes])
    rows, cols, costs = [], [], []
    for block, r0, c0 in zip(blocks, row_off, col_off, strict=False):
        i, j = np.nonzero(np.ones(block.shape, bool))
        rows.append(i + r0)
        cols.append(j + c0)
        costs.append(block[i, j])
    shape = (int(row_off[-1]), int(col_off[-1]))
    order = rng.permutation(sum(len(r) for r in rows))  # listing order must not matter
    matches, rows_left, cols_left = sparse_linear_assignment(
        np.concatenate(rows)[order],
        np.concatenate(cols)[order],
        np.concatenate(costs)[order],
        shape,
        0.7,
    )
    expected = [
        linear_assignment(block, 0.7)[0] + [r0, c0]
        for block, r0, c0 in zip(blocks, row_off, col_off, strict=False)
    ]
    np.testing.assert_array_equal(matches, np.concatenate([np.zeros((0, 2), int), *expected]))
    assert sorted([*matches[:, 0], *rows_left]) == list(range(shape[0]))
    assert sorted([*matches[:, 1], *cols_left]) == list(range(shape[1]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e15])
def test_overlap_pairs_with_non_finite_or_huge_boxes(bad: float) -> None:
    rng = np.random.default_rng(1)
    a, b = _random_boxes(rng, 20), _random_boxes(rng, 25)
    a[3, 0], b[5, 2] = bad, bad
    ga, gb = rng.integers(0, 3, 20), rng.integers(0, 3, 25)
    rows, cols = overlap_pairs(ga, a, gb, b)
    found = set(zip(rows.tolist(), cols.tolist(), strict=True))
    with np.errstate(invalid="ignore"):
        iou = iou_matrix(a, b)
    must = {(i, j) for i, j in zip(*np.nonzero(iou > 0), strict=True) if ga[i] == gb[j]}
    assert must <= found
