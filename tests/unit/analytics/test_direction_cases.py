"""Direction detection: synthetic trajectories with exact expected events.

Defaults unless a case says otherwise: history_frames=10, min_displacement_px=10,
min_frames=3, mode balanced (60°). Heading at frame i = p_i - p_{i-h} with
h = min(i, 10) observations back. Events are ``(frame, track, direction,
previous, heading_deg rounded to 2 decimals)``; screen angles, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from _analytics_helpers import Trajectory, frames

from visionflow.analytics import DirectionDetector

COMPASS = {"East": (1.0, 0.0), "South": (0.0, 1.0), "West": (-1.0, 0.0), "North": (0.0, -1.0)}
Event = tuple[int, int, str, str | None, float]


@dataclass(frozen=True)
class Case:
    trajectories: dict[int, Trajectory]
    events: list[Event]
    classes: dict[int, int] = field(default_factory=dict)
    kwargs: dict[str, object] = field(default_factory=dict)


def walk(
    start: tuple[float, float], step: tuple[float, float], n: int
) -> list[tuple[float, float]]:
    return [(start[0] + step[0] * i, start[1] + step[1] * i) for i in range(n)]


EAST_THEN_SOUTH = walk((0, 0), (5, 0), 20) + walk((95, 5), (0, 5), 12)
EAST_THEN_WEST = walk((0, 0), (5, 0), 15) + walk((65, 0), (-5, 0), 10)
EAST_STOP_EAST = walk((0, 0), (5, 0), 6) + [(25.0, 0.0)] * 20 + walk((30, 0), (5, 0), 6)

CASES: dict[str, Case] = {
    # 5 px/frame: displacement 0 (f0), 5 (f1) < 10, 10 at f2 → East streak 1 at f2,
    # 3 at f4 → established at f4, heading 0°.
    "east": Case({1: walk((0, 50), (5, 0), 8)}, [(4, 1, "East", None, 0.0)]),
    # 2 px/frame reaches 10 px at f5; streak 3 at f7; heading 90° (down).
    "south_slow": Case({1: walk((0, 0), (0, 2), 9)}, [(7, 1, "South", None, 90.0)]),
    # East until f19, then down from (95,5). p_i - p_{i-10}: dx=145-5i, dy=5i-95 for
    # 20<=i<=29: East while dx>=dy (i<=24, tie goes to the first label), South from
    # f25; confirmed f27 with heading (10,40) → atan2(40,10) = 75.96°.
    "east_then_south": Case(
        {1: EAST_THEN_SOUTH}, [(4, 1, "East", None, 0.0), (27, 1, "South", "East", 75.96)]
    ),
    # Reversal: dx = 190-10i for 15<=i<=24: East to f18 (dx=10), none at f19 (0 px),
    # West from f20 (10 px); confirmed f22 with dx=-30 → 180°.
    "east_then_west": Case(
        {1: EAST_THEN_WEST}, [(4, 1, "East", None, 0.0), (22, 1, "West", "East", 180.0)]
    ),
    # Standing still keeps the direction and makes no event.
    "stop_and_go_keeps_direction": Case({1: EAST_STOP_EAST}, [(4, 1, "East", None, 0.0)]),
    # (5,3)/frame: 30.96° from East. 5.83 px/frame: 11.7 px at f2, confirmed f4.
    "shallow_diagonal_balanced": Case({1: walk((0, 0), (5, 3), 6)}, [(4, 1, "East", None, 30.96)]),
    "shallow_diagonal_strict": Case({1: walk((0, 0), (5, 3), 6)}, [], kwargs={"mode": "strict"}),
    "shallow_diagonal_loose": Case(
        {1: walk((0, 0), (5, 3), 6)}, [(4, 1, "East", None, 30.96)], kwargs={"mode": "loose"}
    ),
    # Exactly between East and South (45°): outside strict's 30°.
    "diagonal_45_strict": Case({1: walk((0, 0), (5, 5), 8)}, [], kwargs={"mode": "strict"}),
    # max_angle_deg=31 overrides strict: 30.96° now matches.
    "max_angle_override": Case(
        {1: walk((0, 0), (5, 3), 6)},
        [(4, 1, "East", None, 30.96)],
        kwargs={"mode": "strict", "max_angle_deg": 31.0},
    ),
    # ±2 px jitter never moves 10 px: no heading.
    "jitter_below_min_displacement": Case(
        {1: [(50.0 + (2 if i % 2 else -2), 50.0) for i in range(20)]}, []
    ),
    # Only one named direction (South), heading East is 90° away: no match.
    "no_matching_direction": Case(
        {1: walk((0, 0), (5, 0), 8)}, [], kwargs={"directions": {"South": (0.0, 1.0)}}
    ),
    # min_frames=1: the first frame with a heading (f2) establishes it.
    "min_frames_1": Case(
        {1: walk((0, 0), (5, 0), 4)}, [(2, 1, "East", None, 0.0)], kwargs={"min_frames": 1}
    ),
    # history_frames=1: heading = last step (10 px) from f1; streak 3 at f3.
    "history_1": Case(
        {1: walk((0, 0), (10, 0), 5)}, [(3, 1, "East", None, 0.0)], kwargs={"history_frames": 1}
    ),
    # Every other frame missing: observations, not frames, make the history.
    # Observations at f0,2,4,6,8 (5 px apart): 10 px at the 3rd (f4), streak 3 at f8.
    "skipped_frames": Case(
        {1: [(5.0 * (i // 2), 0.0) if i % 2 == 0 else None for i in range(9)]},
        [(8, 1, "East", None, 0.0)],
    ),
    # Track 1 (seen f0-f2) is forgotten at f4 (forget_frames=2), the frame in
    # which track 2's East is established: state rows shift under the update.
    "other_track_forgotten_same_frame": Case(
        {1: [(500.0, 500.0)] * 3, 2: walk((0, 50), (5, 0), 6)},
        [(4, 2, "East", None, 0.0)],
        kwargs={"forget_frames": 2},
    ),
    "class_filtered_out": Case(
        {1: walk((0, 0), (5, 0), 8)}, [], classes={1: 2}, kwargs={"class_ids": frozenset({0})}
    ),
    # Two tracks in the same frames, opposite directions.
    "two_tracks": Case(
        {1: walk((0, 0), (0, -5), 6), 2: walk((100, 0), (-5, 0), 6)},
        [(4, 1, "North", None, -90.0), (4, 2, "West", None, 180.0)],
    ),
}


def run(case: Case) -> tuple[DirectionDetector, list[Event]]:
    kwargs = dict(case.kwargs)
    directions = kwargs.pop("directions", COMPASS)
    detector = DirectionDetector("compass", directions, **kwargs)  # type: ignore[arg-type]
    events: list[Event] = []
    for frame_number, tracks in enumerate(frames(case.trajectories, case.classes)):
        got = detector.update(tracks, frame_number)
        for t, d, p, h in zip(
            got.track_id, got.direction, got.previous, got.heading_deg, strict=True
        ):
            prev = detector.labels[int(p)] if p >= 0 else None
            events.append((frame_number, int(t), detector.labels[int(d)], prev, round(float(h), 2)))
    return detector, events


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_direction_case(case: Case) -> None:
    _, events = run(case)
    assert sorted(events, key=str) == sorted(case.events, key=str)


def test_states_expose_current_direction_per_track() -> None:
    detector, _ = run(CASES["two_tracks"])
    states = detector.states()
    assert states.track_id.tolist() == [1, 2]
    labels = [detector.labels[i] for i in states.direction]
    assert labels == ["North", "West"]


def test_state_is_none_until_established() -> None:
    detector, _ = run(Case({1: walk((0, 0), (5, 0), 3)}, []))
    assert detector.states().direction.tolist() == [-1]


def test_reset_forgets_tracks() -> None:
    detector, _ = run(CASES["east"])
    detector.reset()
    assert detector.num_tracks == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"directions": {}}, "at least one"),
        ({"directions": {"x": (0.0, 0.0)}}, "zero"),
        ({"mode": "tight"}, "mode"),
        ({"max_angle_deg": 0.0}, "max_angle_deg"),
        ({"history_frames": 0}, "history_frames"),
        ({"min_frames": 0}, "min_frames"),
        ({"anchor": "middle"}, "anchor"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    directions = kwargs.pop("directions", COMPASS)
    with pytest.raises(ValueError, match=match):
        DirectionDetector("d", directions, **kwargs)  # type: ignore[arg-type]


def test_heading_is_vectorised_over_many_tracks() -> None:
    # 300 tracks in 4 compass directions at once: each gets its own label at f4.
    steps = np.array(list(COMPASS.values())) * 5
    trajectories = {i + 1: walk((1000.0 + i, 1000.0), tuple(steps[i % 4]), 6) for i in range(300)}
    _, events = run(Case(trajectories, []))  # type: ignore[arg-type]
    assert len(events) == 300
    assert all(e[0] == 4 and e[2] == list(COMPASS)[(e[1] - 1) % 4] for e in events)
