"""Vectorised batched NMS equals a plain greedy NMS."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.inference import batched_nms


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _reference_nms(
    xyxy: np.ndarray, scores: np.ndarray, groups: np.ndarray, thr: float
) -> set[int]:
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(groups[j] != groups[i] or _iou(xyxy[i], xyxy[j]) <= thr for j in kept):
            kept.append(int(i))
    return set(kept)


def _random_boxes(rng: np.random.Generator, count: int, extent: float) -> np.ndarray:
    xy = rng.random((count, 2)) * extent
    wh = rng.random((count, 2)) * 40 + 2
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 300))
    xyxy = _random_boxes(rng, count, extent=float(rng.choice([30, 100, 300])))
    scores = rng.random(count).astype(np.float32)
    if seed % 4 == 0:
        scores = np.round(scores, 1)  # many ties: order by input index
    images, classes = rng.integers(0, 3, count), rng.integers(0, 4, count)
    groups = images * 4 + classes
    thr = float(rng.choice([0.3, 0.45, 0.7]))
    kept = batched_nms(xyxy, scores, groups, thr)
    assert set(kept.tolist()) == _reference_nms(xyxy, scores, groups, thr)
    assert len(kept) == len(set(kept.tolist()))


def test_long_suppression_chain() -> None:
    # Each box overlaps only its neighbours: greedy keeps every other box,
    # which needs many fixed-point rounds.
    count = 50
    x1 = np.arange(count, dtype=np.float32) * 6
    xyxy = np.stack([x1, np.zeros(count), x1 + 10, np.full(count, 10)], axis=1).astype(np.float32)
    scores = np.linspace(1, 0.5, count).astype(np.float32)
    groups = np.zeros(count, np.int64)
    kept = batched_nms(xyxy, scores, groups, 0.2)
    assert sorted(kept.tolist()) == list(range(0, count, 2))


def test_groups_do_not_suppress_each_other() -> None:
    xyxy = np.array([[0, 0, 10, 10]] * 3, np.float32)
    kept = batched_nms(xyxy, np.array([0.9, 0.8, 0.7]), np.array([0, 1, 0]), 0.5)
    assert sorted(kept.tolist()) == [0, 1]


def test_empty_input() -> None:
    kept = batched_nms(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, np.int64), 0.5)
    assert kept.shape == (0,)


def test_degenerate_boxes_are_not_errors() -> None:
    xyxy = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 1, 1]], np.float32)
    kept = batched_nms(xyxy, np.array([0.9, 0.8, 0.7]), np.zeros(3, np.int64), 0.5)
    assert sorted(kept.tolist()) == [0, 1, 2]
