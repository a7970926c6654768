"""LineCounter: synthetic trajectories with exact expected counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from _analytics_helpers import Trajectory, boxes_at, frames, vertical

from visionflow.analytics import LineCounter
from visionflow.geometry import Line, Point
from visionflow.types import Detections

# Horizontal segment drawn left → right: y grows downwards, so moving DOWN is "in".
GATE = Line(Point(0, 100), Point(200, 100))
JITTER = [(100.0, 95.0 if i % 2 == 0 else 105.0) for i in range(30)]


@dataclass(frozen=True)
class Case:
    trajectories: dict[int, Trajectory]
    expected_in: int
    expected_out: int
    classes: dict[int, int] = field(default_factory=dict)
    class_ids: frozenset[int] | None = None
    min_frames: int = 2
    forget_frames: int = 60
    line: Line = GATE


CASES = {
    "straight_in": Case({1: vertical(100, 50, 70, 90, 110, 130, 150)}, 1, 0),
    "straight_out": Case({1: vertical(100, 150, 130, 110, 90, 70, 50)}, 0, 1),
    "diagonal_in": Case({1: [(20 + 20 * i, 40 + 15 * i) for i in range(9)]}, 1, 0),
    "parallel_above_never_crosses": Case({1: [(x, 90.0) for x in range(-50, 260, 10)]}, 0, 0),
    "parallel_below_never_crosses": Case({1: [(x, 120.0) for x in range(260, -50, -10)]}, 0, 0),
    "beyond_end_does_not_count": Case({1: vertical(250, 50, 80, 120, 150)}, 0, 0),
    "beyond_start_does_not_count": Case({1: vertical(-30, 150, 120, 80, 50)}, 0, 0),
    "lands_exactly_on_endpoint": Case({1: [(180, 80), (200, 100), (220, 120), (240, 140)]}, 1, 0),
    "passes_through_endpoint": Case({1: [(170, 70), (190, 90), (210, 110), (230, 130)]}, 1, 0),
    "jitter_30_frames_then_settle": Case(
        {1: [(100, 50), *JITTER, (100, 110), (100, 120), (100, 130)]}, 1, 0
    ),
    "stop_on_line_20_frames": Case({1: vertical(100, 50, 80, *[100] * 20, 120, 140)}, 1, 0),
    "cross_and_come_back": Case({1: vertical(100, 50, 80, 120, 140, 120, 80, 50)}, 1, 1),
    "class_filtered_out": Case(
        {1: vertical(100, 50, 80, 120, 140)}, 0, 0, classes={1: 2}, class_ids=frozenset({0})
    ),
    "class_kept_by_filter": Case(
        {1: vertical(100, 50, 80, 120, 140), 2: vertical(60, 50, 80, 120, 140)},
        1,
        0,
        classes={1: 2, 2: 0},
        class_ids=frozenset({0}),
    ),
    "two_objects_same_frame": Case(
        {1: vertical(50, 50, 80, 120, 140), 2: vertical(150, 50, 80, 120, 140)}, 2, 0
    ),
    "min_frames_1_counts_every_flip": Case(
        {1: vertical(100, 95, 105, 95, 105, 95, 105, 95, 105, 95, 105)}, 5, 4, min_frames=1
    ),
    "min_frames_2_two_frame_excursion": Case({1: vertical(100, 50, 110, 120, 80, 60)}, 1, 1),
    "min_frames_3_ignores_two_frame_excursion": Case(
        {1: vertical(100, 50, 110, 120, 80, 60)}, 0, 0, min_frames=3
    ),
    "min_frames_3_counts_three_frames": Case(
        {1: vertical(100, 50, 110, 120, 130)}, 1, 0, min_frames=3
    ),
    "disappears_before_settling": Case({1: vertical(100, 50, 80, 110)}, 0, 0),
    "first_seen_on_a_side_settles": Case({1: vertical(100, 120, 140, 160)}, 0, 0),
    "first_seen_on_the_line_settles": Case({1: vertical(100, 100, 120, 140)}, 0, 0),
    "missing_frames_keep_the_run": Case(
        {1: [(100, 50), (100, 80), (100, 110), None, (100, 130)]}, 1, 0
    ),
    "forget_frames_frees_state": Case(
        {1: [(100, 50), (100, 80), *[None] * 5, (100, 120), (100, 140)]}, 0, 0, forget_frames=5
    ),
    "gap_shorter_than_forget_frames": Case(
        {1: [(100, 50), (100, 80), *[None] * 4, (100, 120), (100, 140)]}, 1, 0, forget_frames=5
    ),
    # Vertical segment drawn top → bottom: its right-hand side is screen-left.
    "vertical_line_leftwards_is_in": Case(
        {1: [(150, 50), (120, 50), (80, 50), (50, 50)]},
        1,
        0,
        line=Line(Point(100, 0), Point(100, 100)),
    ),
    "reversed_line_swaps_directions": Case(
        {1: vertical(100, 50, 70, 90, 110, 130, 150)},
        0,
        1,
        line=Line(Point(200, 100), Point(0, 100)),
    ),
}


def run(case: Case) -> LineCounter:
    counter = LineCounter(
        "gate",
        case.line,
        class_ids=case.class_ids,
        min_frames=case.min_frames,
        forget_frames=case.forget_frames,
    )
    for frame_number, tracks in enumerate(frames(case.trajectories, case.classes)):
        counter.update(tracks, frame_number)
    return counter


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_line_counts(case: Case) -> None:
    counts = run(case).counts()
    assert sum(counts["in"].values()) == case.expected_in
    assert sum(counts["out"].values()) == case.expected_out


def test_counts_are_keyed_by_direction_name_and_class() -> None:
    counter = LineCounter("gate", GATE, in_name="enter", out_name="leave")
    trajectories = {1: vertical(50, 50, 80, 120, 140), 2: vertical(150, 150, 120, 80, 50)}
    for n, tracks in enumerate(frames(trajectories, {1: 0, 2: 2})):
        counter.update(tracks, n)
    assert counter.counts() == {"enter": {0: 1}, "leave": {2: 1}}


def test_crossings_report_rows_of_the_input() -> None:
    counter = LineCounter("gate", GATE, min_frames=1)
    counter.update(boxes_at([(10, 50), (50, 50), (90, 150)], [7, 3, 5], [0, 1, 2]), 0)
    got = counter.update(boxes_at([(10, 150), (50, 50), (90, 50)], [7, 3, 5], [0, 1, 2]), 1)
    order = np.argsort(got.row)
    assert got.row[order].tolist() == [0, 2]
    assert got.track_id[order].tolist() == [7, 5]
    assert got.class_id[order].tolist() == [0, 2]
    assert got.direction_in[order].tolist() == [True, False]


def test_forget_frames_bounds_state() -> None:
    counter = LineCounter("gate", GATE, forget_frames=3)
    counter.update(boxes_at([(10, 50), (20, 50)], [1, 2], [0, 0]), 0)
    counter.update(boxes_at([(10, 50)], [1], [0]), 2)
    assert counter.num_tracks == 2
    counter.update(Detections.empty(), 3)
    assert counter.num_tracks == 1
    counter.update(Detections.empty(), 5)
    assert counter.num_tracks == 0


def test_reset_clears_state_and_counts() -> None:
    counter = run(CASES["straight_in"])
    counter.reset()
    assert counter.counts() == {"in": {}, "out": {}}
    assert counter.num_tracks == 0


def test_empty_frame_gives_empty_crossings() -> None:
    got = LineCounter("gate", GATE).update(Detections.empty(), 0)
    assert len(got) == 0
    assert got.row.dtype == np.int64
    assert got.direction_in.dtype == np.bool_


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_frames": 0}, "min_frames"),
        ({"forget_frames": 0}, "forget_frames"),
        ({"anchor": "middle"}, "anchor"),
        ({"in_name": "x", "out_name": "x"}, "in_name"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LineCounter("gate", GATE, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("track_ids", "match"), [([1, 1], "unique"), ([0, 2], "positive"), ([-1, 2], "positive")]
)
def test_bad_track_ids(track_ids: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LineCounter("gate", GATE).update(boxes_at([(1, 1), (2, 2)], track_ids, [0, 0]), 0)
