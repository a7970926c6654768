"""ZoneCounter and points_in_polygon: synthetic trajectories with exact events."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from _analytics_helpers import Trajectory, boxes_at, frames

from visionflow.analytics import ZoneCounter, points_in_polygon
from visionflow.geometry import Point, Polygon
from visionflow.types import Detections

SQUARE = Polygon((Point(0, 0), Point(100, 0), Point(100, 100), Point(0, 100)))
OUT, IN, BORDER_OUT, BORDER_IN = (-50.0, 50.0), (50.0, 50.0), (101.0, 50.0), (99.0, 50.0)


@dataclass(frozen=True)
class Case:
    trajectories: dict[int, Trajectory]
    entered: list[tuple[int, int]]  # (frame, track_id)
    exited: list[tuple[int, int, int, int]]  # (frame, track_id, dwell_frames, row or -1)
    occupancy: dict[int, int]  # after the last frame
    classes: dict[int, int] = field(default_factory=dict)
    class_ids: frozenset[int] | None = None
    min_frames: int = 2
    forget_frames: int = 60


CASES = {
    "enter": Case({1: [OUT, IN, IN, IN]}, [(2, 1)], [], {0: 1}),
    "first_seen_inside_enters_after_min_frames": Case({1: [IN, IN, IN]}, [(1, 1)], [], {0: 1}),
    "enter_then_exit_with_dwell": Case(
        {1: [OUT, IN, IN, IN, IN, OUT, OUT]}, [(2, 1)], [(6, 1, 4, 0)], {}
    ),
    "one_frame_inside_is_not_an_entry": Case({1: [OUT, IN, OUT, OUT]}, [], [], {}),
    "border_jitter_then_settle_inside": Case(
        {1: [BORDER_OUT, BORDER_IN] * 10 + [IN, IN]}, [(20, 1)], [], {0: 1}
    ),
    "border_jitter_while_inside_never_exits": Case(
        {1: [IN, IN] + [BORDER_OUT, BORDER_IN] * 10}, [(1, 1)], [], {0: 1}
    ),
    "vanishes_inside_exits_after_forget_frames": Case(
        {1: [OUT, IN, IN, IN, *[None] * 5]}, [(2, 1)], [(8, 1, 3, -1)], {}, forget_frames=5
    ),
    "vanishes_before_entry_is_silent": Case(
        {1: [OUT, IN, *[None] * 5]}, [], [], {}, forget_frames=5
    ),
    "occupancy_per_class": Case(
        {1: [IN, IN], 2: [IN, IN], 3: [IN, IN], 4: [OUT, OUT]},
        [(1, 1), (1, 2), (1, 3)],
        [],
        {0: 2, 2: 1},
        classes={3: 2, 4: 2},
    ),
    "class_filter_reports_zero_for_empty_classes": Case(
        {1: [OUT, OUT], 2: [IN, IN]},
        [(1, 2)],
        [],
        {0: 0, 2: 1},
        classes={2: 2},
        class_ids=frozenset({0, 2}),
    ),
    "class_filter_ignores_other_classes": Case(
        {1: [IN, IN]}, [], [], {5: 0}, classes={1: 2}, class_ids=frozenset({5})
    ),
    "min_frames_1": Case({1: [OUT, IN, OUT]}, [(1, 1)], [(2, 1, 1, 0)], {}, min_frames=1),
    "min_frames_3": Case({1: [OUT, IN, IN, OUT, IN, IN, IN]}, [(6, 1)], [], {0: 1}, min_frames=3),
}


def run(case: Case) -> tuple[list[tuple[int, int]], list[tuple[int, int, int, int]], ZoneCounter]:
    zone = ZoneCounter(
        "plaza",
        SQUARE,
        class_ids=case.class_ids,
        min_frames=case.min_frames,
        forget_frames=case.forget_frames,
    )
    entered: list[tuple[int, int]] = []
    exited: list[tuple[int, int, int, int]] = []
    for n, tracks in enumerate(frames(case.trajectories, case.classes)):
        update = zone.update(tracks, n)
        entered += [(n, int(t)) for t in sorted(update.entered.track_id)]
        ex = update.exited
        exited += [
            (n, int(t), int(d), int(r))
            for t, d, r in zip(ex.track_id, ex.dwell_frames, ex.row, strict=True)
        ]
    return entered, exited, zone


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_zone_events(case: Case) -> None:
    entered, exited, zone = run(case)
    assert entered == case.entered
    assert exited == case.exited
    assert zone.occupancy() == case.occupancy


def test_update_reports_rows_classes_and_occupancy() -> None:
    zone = ZoneCounter("plaza", SQUARE, min_frames=1)
    update = zone.update(boxes_at([OUT, IN, IN], [9, 4, 6], [0, 1, 2]), 0)
    order = np.argsort(update.entered.row)
    assert update.entered.row[order].tolist() == [1, 2]
    assert update.entered.track_id[order].tolist() == [4, 6]
    assert update.entered.class_id[order].tolist() == [1, 2]
    assert update.occupancy == {1: 1, 2: 1}
    update = zone.update(boxes_at([IN, OUT], [9, 4], [0, 1]), 1)
    assert update.exited.row.tolist() == [1]
    assert update.exited.class_id.tolist() == [1]
    assert update.occupancy == {0: 1, 2: 1}


def test_forget_frames_bounds_state_and_reset() -> None:
    zone = ZoneCounter("plaza", SQUARE, forget_frames=2)
    zone.update(boxes_at([IN, OUT], [1, 2], [0, 0]), 0)
    assert zone.num_tracks == 2
    zone.update(Detections.empty(), 2)
    assert zone.num_tracks == 0
    zone.update(boxes_at([IN, IN], [1, 2], [0, 0]), 3)
    zone.update(boxes_at([IN, IN], [1, 2], [0, 0]), 4)
    zone.reset()
    assert zone.num_tracks == 0
    assert zone.occupancy() == {}


def test_empty_frame() -> None:
    update = ZoneCounter("plaza", SQUARE).update(Detections.empty(), 0)
    assert (len(update.entered), len(update.exited), update.occupancy) == (0, 0, {})


L_SHAPE = np.array([[0, 0], [100, 0], [100, 40], [40, 40], [40, 100], [0, 100]], np.float64)


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((20, 20), True),
        ((80, 20), True),
        ((20, 80), True),
        ((80, 80), False),  # the notch of the L
        ((-1, 50), False),
        ((101, 20), False),
        ((50, -5), False),
        ((50, 105), False),
        ((40.5, 39.5), True),
        ((40.5, 40.5), False),
    ],
)
def test_points_in_polygon(point: tuple[float, float], inside: bool) -> None:
    got = points_in_polygon(np.array([point], np.float64), L_SHAPE)
    assert got.tolist() == [inside]


def test_points_in_polygon_vectorised_matches_pointwise() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-20, 120, (500, 2))
    together = points_in_polygon(points, L_SHAPE)
    one_by_one = [bool(points_in_polygon(p[None], L_SHAPE)[0]) for p in points]
    assert together.tolist() == one_by_one
    in_l = ((points >= 0) & (points <= 100)).all(axis=1) & ~((points > 40).all(axis=1))
    assert together.tolist() == in_l.tolist()
