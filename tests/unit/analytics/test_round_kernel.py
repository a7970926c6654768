"""The compiled round steps (numba) equal the NumPy code they replace, value for value.

Random banks (units of many streams, class filters, every anchor, dead units)
and random rounds (rows of streams in any order, streams without units, rows
of unwatched classes, empty rounds): the compiled pairs, anchors, keys, table
rows and stale rows must equal ``Units.pairs``, ``Units.points``,
``Pairs.keys``, ``TrackTable.locate`` and ``stale_rows``; a compiled
``Round.of_frames`` must equal the NumPy one and refuse the same input with
the same error.
"""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.analytics import _round_kernel as kernel
from visionflow.analytics._pairs import ANCHORS, Round, Units, stale_rows
from visionflow.analytics._table import TrackTable
from visionflow.types import Detections


def _units(rng: np.random.Generator, n_streams: int) -> Units:
    """Random units of ``n_streams`` streams; some streams removed (their units dead)."""
    units = Units({"forget_frames": np.int64(0)})
    for _ in range(int(rng.integers(0, 12))):
        classes = None
        if rng.random() < 0.5:  # a filter, sometimes with classes the rows never have
            classes = frozenset(rng.integers(-1, 6, int(rng.integers(0, 3))).tolist())
        anchor = ANCHORS[int(rng.integers(len(ANCHORS)))]
        stream = int(rng.integers(0, n_streams))
        units.add(stream, classes, anchor, forget_frames=int(rng.integers(1, 4)))
    if rng.random() < 0.3:
        units.remove_stream(int(rng.integers(0, n_streams)))
    return units


def _round(rng: np.random.Generator, n_streams: int) -> Round:
    """Rows of random streams in random order (float32 boxes with halves and odd ulps)."""
    n = int(rng.integers(0, 25)) if rng.random() > 0.1 else 0
    xy = rng.integers(-50, 2000, (n, 2)).astype(np.float32) / 2
    wh = rng.integers(1, 300, (n, 2)).astype(np.float32) / 3
    xyxy = np.concatenate([xy, xy + wh], axis=1)
    stream = rng.integers(0, n_streams, n).astype(np.int64)
    track_id = np.zeros(n, np.int64)
    for s in np.unique(stream).tolist():  # unique within each stream
        rows = np.flatnonzero(stream == s)
        track_id[rows] = rng.choice(np.arange(1, 60), len(rows), replace=False)
    tracks = Detections(xyxy, np.ones(n), rng.integers(-1, 5, n), track_id=track_id)
    stream_frame = rng.integers(-1, 50, n_streams).astype(np.int64)
    stream_frame[np.unique(stream)] = rng.integers(0, 50, len(np.unique(stream)))
    return Round(tracks, stream, stream_frame[stream], stream_frame)


@pytest.mark.parametrize("seed", range(40))
def test_pairs_points_and_keys_equal_the_numpy_code(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_streams = int(rng.integers(1, 5))
    units = _units(rng, n_streams)
    for _ in range(5):
        rnd = _round(rng, n_streams)
        want = units.pairs(rnd)
        row, unit = kernel.pairs_of(rnd.stream, rnd.tracks.class_id, units.kernel_arrays())
        assert row.dtype == want.row.dtype and np.array_equal(row, want.row)
        assert unit.dtype == want.unit.dtype and np.array_equal(unit, want.unit)
        points = kernel.points_of(rnd.tracks.xyxy, row, unit, units.anchor)
        expected = units.points(rnd, want)
        assert np.array_equal(points.view(np.int64), expected.view(np.int64))  # bit for bit
        keys = kernel.keys_of(row, unit, rnd.tracks.track_id)
        assert np.array_equal(keys, want.keys(rnd))
        frames = kernel.frames_of(row, rnd.frame_number)
        assert np.array_equal(frames, rnd.frame_number[want.row])


def test_every_anchor_of_a_box() -> None:
    box = np.asarray([[1.5, 2.25, 7.0, 10.5]], np.float32)
    units = Units({})
    for anchor in ANCHORS:
        units.add(0, None, anchor)
    rnd = Round.single(Detections(box, [1.0], [0], track_id=[1]), 0, "test")
    row, unit = kernel.pairs_of(rnd.stream, rnd.tracks.class_id, units.kernel_arrays())
    got = kernel.points_of(rnd.tracks.xyxy, row, unit, units.anchor)
    want = [rnd.tracks.anchors(a)[0] for a in ANCHORS]
    assert got.tolist() == [p.tolist() for p in want]


@pytest.mark.parametrize("seed", range(10))
def test_locate_and_stale_rows_equal_the_numpy_code(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = TrackTable({"last_seen": np.int64(0)})
    held = np.unique(rng.integers(0, 1 << 36, int(rng.integers(0, 30)))).astype(np.int64)
    table.locate(held)
    wanted = rng.permutation(held)[: int(rng.integers(0, len(held) + 1))]
    none = np.zeros(0, np.intp)
    index, located = kernel.locate(table.ids, wanted, none)
    assert located and np.array_equal(index, table.locate(wanted))
    new = np.setdiff1d(rng.integers(0, 1 << 36, 3), held)
    keys = rng.permutation(np.concatenate([wanted, new]))
    searched, located = kernel.locate(table.ids, keys, none)
    assert not located and np.array_equal(searched, np.searchsorted(table.ids, keys))
    copy = TrackTable({"last_seen": np.int64(0)})
    copy.locate(held)
    rows = table.locate_searched(keys, searched)  # inserts the new keys
    assert np.array_equal(rows, copy.locate(keys)) and np.array_equal(table.ids, copy.ids)
    assert np.array_equal(table.ids[rows], keys)
    given, located = kernel.locate(table.ids, keys, rows)  # rows known: taken as they are
    assert located and np.array_equal(given, rows)

    n_streams = 3
    units = _units(rng, n_streams)
    if not len(units):
        units.add(0, None, "center", forget_frames=2)
    unit = rng.integers(0, len(units), 20)
    ids = np.unique((unit.astype(np.int64) << 32) | rng.integers(1, 9, 20))
    table = TrackTable({"last_seen": np.int64(0)})
    table.locate(ids)
    table["last_seen"][:] = rng.integers(0, 50, len(table))
    rnd = _round(rng, n_streams)
    forget = units["forget_frames"]
    want = stale_rows(table.ids, table["last_seen"], units, rnd, forget)
    got, count = kernel.stale_rows(
        table.ids, table["last_seen"], units.stream, rnd.stream_frame, forget
    )
    assert np.array_equal(got, want) and count == int(want.sum())


def _of_frames(tracks: Detections, slots: list[int] | None, compiled: bool) -> Round:
    return Round.of_frames(tracks, [2, 0, 3], [10, 11, 12], 5, slots=slots, compiled=compiled)


@pytest.mark.parametrize("slots", [None, [0, 2], [1]])
def test_compiled_round_equals_the_numpy_round(slots: list[int] | None) -> None:
    rng = np.random.default_rng(1)
    frame_index = rng.integers(0, 3, 12) if slots is None else rng.choice(slots, 12)
    track_id = np.arange(1, 13)
    tracks = Detections(np.zeros((12, 4)), np.ones(12), np.zeros(12), frame_index, track_id)
    got, want = _of_frames(tracks, slots, True), _of_frames(tracks, slots, False)
    for name in ("stream", "frame_number", "stream_frame"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert got.tracks is want.tracks is tracks


@pytest.mark.parametrize(
    ("track_id", "error"),
    [
        ([1, 0], "must be positive"),
        ([1, -3], "must be positive"),
        ([1, 1 << 32], "below 2"),
        ([4, 4], "unique within a frame"),
    ],
)
def test_compiled_round_refuses_what_numpy_refuses(track_id: list[int], error: str) -> None:
    tracks = Detections(np.zeros((2, 4)), np.ones(2), np.zeros(2), [1, 1], track_id)
    for compiled in (True, False):
        with pytest.raises(ValueError, match=error):
            _of_frames(tracks, None, compiled)
    tracks.frame_index[:] = [0, 1]  # other streams: the same ids are fine
    if error.startswith("unique"):
        _of_frames(tracks, None, True)


def test_one_signature_for_the_round_rows() -> None:
    tracks = Detections(np.zeros((1, 4)), np.ones(1), np.zeros(1), [0], [1])
    _of_frames(tracks, None, True)
    assert len(kernel.round_rows.signatures) == 1
