"""Rounds, units and pairs: the expansion every analytics bank computes on."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.analytics._pairs import Round, Units, key_tracks, key_units
from visionflow.types import Detections


def _tracks(slots: list[int], ids: list[int], classes: list[int]) -> Detections:
    n = len(ids)
    xyxy = np.arange(n * 4, dtype=np.float32).reshape(n, 4) * 10
    return Detections(xyxy, np.ones(n, np.float32), classes, slots, ids)


def _units() -> Units:
    units = Units({"min_frames": np.int32(0)})
    units.add(0, None, "bottom_center", min_frames=1)  # unit 0: stream 0, all classes
    units.add(1, frozenset({2}), "center", min_frames=2)  # unit 1: stream 1, class 2
    units.add(0, frozenset({0, 5}), "top_left", min_frames=3)  # unit 2: stream 0
    return units


def test_pairs_cover_each_row_with_its_streams_units_that_watch_its_class() -> None:
    tracks = _tracks([0, 0, 1, 1], [1, 2, 1, 7], [0, 3, 2, 0])
    rnd = Round.of_frames(tracks, slot_stream=[1, 0], slot_frame=[40, 9], num_streams=2)
    # slot 0 is stream 1, slot 1 is stream 0
    assert rnd.stream.tolist() == [1, 1, 0, 0]
    assert rnd.frame_number.tolist() == [40, 40, 9, 9]
    pairs = _units().pairs(rnd)
    got = list(zip(pairs.unit.tolist(), pairs.row.tolist(), strict=True))
    # unit 0 (stream 0, all): rows 2, 3; unit 1 (stream 1, class 2): none of rows 0-1
    # (classes 0 and 3); unit 2 (stream 0, classes 0/5): row 3 (class 0), not row 2 (2)
    assert got == [(0, 2), (0, 3), (2, 3)]
    keys = pairs.keys(rnd)
    assert key_units(keys).tolist() == [0, 0, 2]
    assert key_tracks(keys).tolist() == [1, 7, 7]


def test_pair_points_use_each_units_anchor() -> None:
    tracks = _tracks([0], [4], [0])
    rnd = Round.single(tracks, 5, "test")
    units = Units({"min_frames": np.int32(0)})
    units.add(0, None, "bottom_center", min_frames=1)
    units.add(0, None, "top_left", min_frames=1)
    pairs = units.pairs(rnd)
    assert units.points(rnd, pairs).tolist() == [[10.0, 30.0], [0.0, 10.0]]


def test_removed_streams_units_pair_with_nothing_and_keep_their_indices() -> None:
    units = _units()
    assert units.remove_stream(0).tolist() == [0, 2]
    tracks = _tracks([0, 1], [1, 1], [0, 2])
    rnd = Round.of_frames(tracks, [0, 1], [3, 3], num_streams=2)
    pairs = units.pairs(rnd)
    assert pairs.unit.tolist() == [1] and pairs.row.tolist() == [1]
    assert units.add(0, None, "center", min_frames=1) == 3


def test_frame_of_is_minus_one_for_streams_not_in_the_round() -> None:
    rnd = Round.of_frames(_tracks([0], [1], [0]), [1], [12], num_streams=3)
    assert rnd.frame_of(np.asarray([0, 1, 2, 5, -1])).tolist() == [-1, 12, -1, -1, -1]


@pytest.mark.parametrize(
    ("ids", "slots", "message"),
    [([0, 1], [0, 1], "must be positive"), ([3, 3], [0, 0], "repeats \\[3\\]")],
)
def test_bad_track_ids_are_refused(ids: list[int], slots: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Round.of_frames(_tracks(slots, ids, [0, 0]), [0, 1], [0, 0], num_streams=2)


def test_the_same_id_in_two_streams_is_fine() -> None:
    rnd = Round.of_frames(_tracks([0, 1], [3, 3], [0, 0]), [0, 1], [0, 0], num_streams=2)
    assert len(rnd) == 2


def test_unknown_anchor_and_missing_parameter_are_refused() -> None:
    units = Units({"min_frames": np.int32(0)})
    with pytest.raises(ValueError, match="anchor="):
        units.add(0, None, "middle", min_frames=1)
    with pytest.raises(ValueError, match="unit parameters"):
        units.add(0, None, "center")


def test_a_round_of_some_slots_only_advances_their_streams() -> None:
    # slots 0 and 2 are frames 4 and 5 of stream 0: the second round holds slot 2
    tracks = _tracks([2], [1], [0])
    rnd = Round.of_frames(tracks, [0, 1, 0], [4, 9, 5], num_streams=2, slots=[2])
    assert rnd.stream_frame.tolist() == [5, -1]
    assert rnd.frame_number.tolist() == [5]
