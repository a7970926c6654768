"""RoiBank: every stream's ROIs in one pass, identical to one RoiFilter per stream."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.analytics import Roi, RoiFilter
from visionflow.analytics._polygon import points_in_polygon
from visionflow.analytics.roi_bank import RoiBank
from visionflow.geometry import Point, Polygon
from visionflow.types import Detections

ANCHORS = ("bottom_center", "center", "top_left", "bottom_right")


def poly(*xy: tuple[float, float]) -> Polygon:
    return Polygon(tuple(Point(x, y) for x, y in xy))


SQUARE = poly((0, 0), (100, 0), (100, 100), (0, 100))
# Concave: a U open at the top (the notch x 40..60, y 0..70 is outside).
U_SHAPE = poly((0, 0), (40, 0), (40, 70), (60, 70), (60, 0), (100, 0), (100, 100), (0, 100))
STAR = poly((50, 0), (61, 35), (98, 35), (68, 57), (79, 91), (50, 70), (21, 91), (32, 57))
STREAM_ROIS: dict[int, list[Roi]] = {
    0: [Roi("sq", SQUARE), Roi("u", U_SHAPE, inverse=True, class_ids=frozenset({1}))],
    1: [
        Roi("u", U_SHAPE, anchor="center"),
        Roi("star", STAR, class_ids=frozenset({0, 2})),
        Roi("hole", poly((20, 20), (50, 20), (50, 50)), inverse=True, anchor="top_left"),
    ],
    2: [],  # a stream without ROIs keeps everything
    3: [Roi("star", STAR, inverse=True), Roi("sq", SQUARE, class_ids=frozenset({2}))],
    4: [Roi("big", poly(*((50 + 60 * np.cos(a), 50 + 60 * np.sin(a)) for a in range(0, 360, 9))))],
}


def random_tracks(rng: np.random.Generator, n: int, streams: int) -> tuple[Detections, np.ndarray]:
    """Integer boxes around the polygons (many anchors exactly on edges and vertices)."""
    xy = rng.integers(-20, 121, (n, 2)).astype(np.float32)
    wh = rng.integers(0, 21, (n, 2)).astype(np.float32)
    tracks = Detections(
        np.concatenate([xy, xy + wh], axis=1),
        np.ones(n, np.float32),
        rng.integers(0, 3, n).astype(np.int32),
        np.zeros(n, np.int32),
        np.arange(1, n + 1, dtype=np.int64),
    )
    return tracks, rng.integers(0, streams, n).astype(np.int64)


def reference_mask(rois: list[Roi], tracks: Detections) -> np.ndarray:
    """The ROI rule written out per ROI with the public point-in-polygon test."""
    regular, regular_inside = np.zeros(len(tracks), bool), np.zeros(len(tracks), bool)
    removed = np.zeros(len(tracks), bool)
    for roi in rois:
        applies = np.ones(len(tracks), bool)
        if roi.class_ids is not None:
            applies = np.isin(tracks.class_id, list(roi.class_ids))
        points = tracks.anchors(roi.anchor)
        inside = applies & points_in_polygon(points, roi.polygon.as_array())
        if roi.inverse:
            removed |= inside
        else:
            regular |= applies
            regular_inside |= inside
    return ~removed & (~regular | regular_inside)


def bank_of(stream_rois: dict[int, list[Roi]]) -> RoiBank:
    bank = RoiBank()
    for stream, rois in stream_rois.items():
        bank.add(stream, RoiFilter(rois))
    return bank


@pytest.mark.parametrize("seed", range(8))
def test_bank_equals_one_filter_per_stream(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tracks, stream = random_tracks(rng, 400, len(STREAM_ROIS))
    got = bank_of(STREAM_ROIS).keep_mask(tracks, stream)
    for s, rois in STREAM_ROIS.items():
        rows = np.flatnonzero(stream == s)
        expected = RoiFilter(rois).keep_mask(tracks[rows])
        assert got[rows].tolist() == expected.tolist()
        assert expected.tolist() == reference_mask(rois, tracks[rows]).tolist()
    assert not got.all() and got.any()  # the cases exercise both outcomes


@pytest.mark.parametrize("seed", range(4))
def test_random_rois_match_the_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    stream_rois: dict[int, list[Roi]] = {}
    for s in range(6):
        stream_rois[s] = [
            Roi(
                f"r{i}",
                poly(*(tuple(p) for p in rng.integers(-10, 111, (int(rng.integers(3, 12)), 2)))),
                inverse=bool(rng.random() < 0.4),
                class_ids=None if rng.random() < 0.5 else frozenset(rng.integers(0, 3, 2).tolist()),
                anchor=ANCHORS[int(rng.integers(len(ANCHORS)))],
            )
            for i in range(int(rng.integers(0, 4)))
        ]
    tracks, stream = random_tracks(rng, 300, 6)
    got = bank_of(stream_rois).keep_mask(tracks, stream)
    for s, rois in stream_rois.items():
        rows = np.flatnonzero(stream == s)
        assert got[rows].tolist() == reference_mask(rois, tracks[rows]).tolist()


def test_rows_of_streams_without_rois_are_kept() -> None:
    tracks, _ = random_tracks(np.random.default_rng(0), 50, 1)
    bank = bank_of({0: [Roi("tiny", poly((0, 0), (1, 0), (0, 1)))]})
    stream = np.asarray([-1, 2, 7, 1] * 12 + [-1, 9], np.int64)
    assert bank.keep_mask(tracks, stream).all()
    assert not bank.keep_mask(tracks, np.zeros(50, np.int64)).all()


def test_remove_stream_keeps_its_rows_from_then_on() -> None:
    bank = bank_of({0: [Roi("tiny", poly((0, 0), (1, 0), (0, 1)))], 1: []})
    tracks, _ = random_tracks(np.random.default_rng(1), 20, 1)
    stream = np.zeros(20, np.int64)
    assert bank.has(0) and not bank.has(1) and not bank.has(5)
    assert not bank.keep_mask(tracks, stream).any()
    bank.remove_stream(0)
    assert not bank.has(0)
    assert bank.keep_mask(tracks, stream).all()
    bank.add(2, RoiFilter([Roi("tiny", poly((0, 0), (1, 0), (0, 1)))]))
    assert not bank.keep_mask(tracks, stream + 2).any()


def test_empty_batch_and_bad_stream_shape() -> None:
    bank = bank_of(STREAM_ROIS)
    assert bank.keep_mask(Detections.empty(), np.zeros(0, np.int64)).tolist() == []
    tracks, _ = random_tracks(np.random.default_rng(2), 3, 1)
    with pytest.raises(ValueError, match=r"stream must have shape \(3,\)"):
        bank.keep_mask(tracks, np.zeros(2, np.int64))
