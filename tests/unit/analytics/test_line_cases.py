"""Line crossing: a table of synthetic trajectories with exact expected events.

Every case gives the anchor (bottom-centre) position of each track per frame
(``None`` = not seen) and the exact crossing events ``(frame, track, direction)``
expected, derived by hand from the geometry in the case's comment. Counts are
checked against the same events. Conventions (see ``visionflow.analytics.lines``):
``GATE`` runs (0,100) → (200,100), its right (in) side is y > 100, so moving
down is *in*; a crossing is confirmed on the ``min_frames``-th (default 2nd)
consecutive observation on the new side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from _analytics_helpers import Trajectory, frames, vertical

from visionflow.analytics import LineCounter
from visionflow.geometry import Line, Point, Polyline

GATE = Line(Point(0, 100), Point(200, 100))
# A "V" dipping down to (100,150): right (in) side is below it.
VEE = Polyline((Point(0, 100), Point(100, 150), Point(200, 100)))
# An "L" turning up at (200,100): right (in) side is outside the corner
# (below the first leg, right of the second); left is the inside x<200, y<100.
ELL = Polyline((Point(0, 100), Point(200, 100), Point(200, 0)))

Event = tuple[int, int, str]  # frame, track id, direction name


@dataclass(frozen=True)
class Case:
    trajectories: dict[int, Trajectory]
    events: list[Event]
    classes: dict[int, int] = field(default_factory=dict)
    line: Line | Polyline = GATE
    kwargs: dict[str, object] = field(default_factory=dict)


def off(x: float, n: int, *ys: float) -> list[tuple[float, float] | None]:
    """``n`` frames unseen, then positions at constant ``x``."""
    return [None] * n + [(x, y) for y in ys]


JITTER = [(100.0, 95.0 if i % 2 == 0 else 105.0) for i in range(30)]
RECOUNT = {"recount_window_frames": 30, "recount_radius_px": 50.0}  # the defaults

CASES: dict[str, Case] = {
    # f3 (y=110) is the first frame below, f4 the second: confirmed at f4.
    "straight_in": Case({1: vertical(100, 50, 70, 90, 110, 130, 150)}, [(4, 1, "in")]),
    # Mirror image: f3 (y=90) first above, f4 confirms.
    "straight_out": Case({1: vertical(100, 150, 130, 110, 90, 70, 50)}, [(4, 1, "out")]),
    # min_frames=1: the first frame below (f3) confirms.
    "min_frames_1": Case(
        {1: vertical(100, 50, 70, 90, 110, 130)}, [(3, 1, "in")], kwargs={"min_frames": 1}
    ),
    # x=250 is beyond the end (x<=200): the path never touches the segment.
    "beyond_end": Case({1: vertical(250, 50, 80, 120, 150)}, []),
    # The path (0,80)→(0,120) touches the start point (0,100): counts, at f3.
    "through_start_point": Case({1: vertical(0, 50, 80, 120, 140)}, [(3, 1, "in")]),
    # (190,90)→(210,110) passes exactly through the end point (200,100); f3 confirms.
    "through_end_point": Case({1: [(170, 70), (190, 90), (210, 110), (230, 130)]}, [(3, 1, "in")]),
    # Shifted by 1 px: (191,90)→(211,110) meets y=100 at x=201, beyond the end.
    "misses_end_by_1px": Case({1: [(171, 70), (191, 90), (211, 110), (231, 130)]}, []),
    # Lands on the end point at f1 (keeps the old side, becomes the settled point),
    # (200,100)→(220,120) touches the end: f2 first below, f3 confirms.
    "lands_on_end_point": Case(
        {1: [(180, 80), (200, 100), (220, 120), (240, 140)]}, [(3, 1, "in")]
    ),
    # 95/105 alternate: never 2 frames in a row below. The last jitter frame
    # (f30, y=105) starts a run, f31 (y=110) confirms it: one crossing.
    "jitter_then_settle": Case({1: [(100, 50), *JITTER, (100, 110), (100, 120)]}, [(31, 1, "in")]),
    "jitter_only": Case({1: [(100, 50), *JITTER, (100, 95), (100, 80)]}, []),
    # On the line f2..f21 (keeps "above"); f22 below, f23 confirms.
    "stop_on_line_then_go": Case(
        {1: vertical(100, 50, 80, *[100] * 20, 120, 140)}, [(23, 1, "in")]
    ),
    # Touches the line and goes back: never below.
    "touch_and_back": Case({1: vertical(100, 50, 80, 100, 80, 50)}, []),
    # Stop-and-go across: a 1-frame dip to 101 (f3) is undone at f4; f6 (101)
    # starts a run that f7 (110) confirms.
    "stop_and_go_across": Case(
        {1: vertical(100, 50, 90, 99, 101, 99, 99, 101, 110, 130)}, [(7, 1, "in")]
    ),
    # In at f3 (f2+f3 below), back out at f6 (f5+f6 above).
    "cross_and_come_back": Case(
        {1: vertical(100, 50, 80, 120, 140, 120, 80, 50)}, [(3, 1, "in"), (6, 1, "out")]
    ),
    # First seen already across (entered from the frame edge): nobody saw it cross.
    "enters_frame_across_the_line": Case({1: vertical(100, 120, 140, 160)}, []),
    # First seen on the line: it settles below at f1 without counting.
    "first_seen_on_the_line": Case({1: vertical(100, 100, 120, 140)}, []),
    # Seen every 3rd frame (inference interval 2): first below at f6, next sighting f9.
    "every_third_frame": Case(
        {1: [(100, 40), None, None, (100, 80), None, None, (100, 120), None, None, (100, 160)]},
        [(9, 1, "in")],
    ),
    # One huge jump (0 → 300) crosses; the next frame below confirms.
    "jump_across": Case({1: vertical(100, 0, 300, 310)}, [(2, 1, "in")]),
    # (150,50)→(210,130) meets y=100 at x=187.5 (on the segment) though the
    # later positions are beyond the end.
    "diagonal_jump_near_end": Case({1: [(150, 50), (210, 130), (220, 140)]}, [(2, 1, "in")]),
    # Missing 4 frames mid-crossing (forget_frames 60): the run continues.
    "occluded_mid_crossing": Case(
        {1: [(100, 60), (100, 90), None, None, None, None, (100, 110), (100, 130)]},
        [(7, 1, "in")],
    ),
    "class_filtered_out": Case(
        {1: vertical(100, 50, 80, 120, 140)},
        [],
        classes={1: 2},
        kwargs={"class_ids": frozenset({0})},
    ),
    # Both cross in at f3; counted per class (see test_counts_per_class).
    "two_classes_same_frame": Case(
        {1: vertical(50, 50, 80, 120, 140), 2: vertical(150, 50, 80, 120, 140)},
        [(3, 1, "in"), (3, 2, "in")],
        classes={1: 0, 2: 2},
    ),
    # Anchors: boxes are 20 px tall above the given bottom point. bottom_center
    # is first below at f2 (105), confirmed f3 (108).
    "anchor_bottom_center": Case({1: vertical(100, 50, 80, 105, 108, 115, 120)}, [(3, 1, "in")]),
    # center = bottom - 10: 40, 70, 95, 98, 105, 110: first below f4, confirmed f5.
    "anchor_center": Case(
        {1: vertical(100, 50, 80, 105, 108, 115, 120)}, [(5, 1, "in")], kwargs={"anchor": "center"}
    ),
    # top_center = bottom - 20: 30, 60, 85, 88, 95, 100: never below.
    "anchor_top_center": Case(
        {1: vertical(100, 50, 80, 105, 108, 115, 120)}, [], kwargs={"anchor": "top_center"}
    ),
    # Reversing the line's points swaps in and out.
    "reversed_line": Case(
        {1: vertical(100, 50, 70, 90, 110, 130)},
        [(4, 1, "out")],
        line=Line(Point(200, 100), Point(0, 100)),
    ),
    # --- modes: movement = settled point → confirming point; reference = normal (0,1).
    # Grazing: (60,98)→(140,104) = (80,6): cos = 6/80.2 = 0.075 (85.7°).
    "grazing_loose": Case({1: [(20, 96), (60, 98), (100, 102), (140, 104)]}, [(3, 1, "in")]),
    "grazing_balanced": Case(
        {1: [(20, 96), (60, 98), (100, 102), (140, 104)]}, [], kwargs={"mode": "balanced"}
    ),
    # 45°: (70,90)→(110,130) = (40,40): within 60° (balanced), not within 30° (strict).
    "diagonal_45_balanced": Case(
        {1: [(50, 70), (70, 90), (90, 110), (110, 130)]},
        [(3, 1, "in")],
        kwargs={"mode": "balanced"},
    ),
    "diagonal_45_strict": Case(
        {1: [(50, 70), (70, 90), (90, 110), (110, 130)]}, [], kwargs={"mode": "strict"}
    ),
    "perpendicular_strict": Case(
        {1: vertical(100, 50, 80, 120, 140)}, [(3, 1, "in")], kwargs={"mode": "strict"}
    ),
    # A mode-rejected crossing still moves the side: the 45° crossing in (f3) is
    # rejected by strict, then straight back up (110,130)→(110,50) counts out at f5.
    "rejected_then_back_strict": Case(
        {1: [(50, 70), (70, 90), (90, 110), (110, 130), (110, 80), (110, 50)]},
        [(5, 1, "out")],
        kwargs={"mode": "strict"},
    ),
    # --- direction vector (DeepStream's x1d;y1d;x2d;y2d): only moving along it counts.
    "direction_down_counts_in": Case(
        {1: vertical(100, 50, 80, 120, 140, 120, 80, 50)},
        [(3, 1, "in")],
        kwargs={"direction": (0.0, 1.0)},
    ),
    "direction_up_counts_out_only": Case(
        {1: vertical(100, 50, 80, 120, 140, 120, 80, 50)},
        [(6, 1, "out")],
        kwargs={"direction": (0.0, -1.0)},
    ),
    # Straight down is 45° off (1,1): balanced accepts, strict rejects.
    "direction_diagonal_balanced": Case(
        {1: vertical(100, 50, 80, 120, 140)},
        [(3, 1, "in")],
        kwargs={"direction": (1.0, 1.0), "mode": "balanced"},
    ),
    "direction_diagonal_strict": Case(
        {1: vertical(100, 50, 80, 120, 140)},
        [],
        kwargs={"direction": (1.0, 1.0), "mode": "strict"},
    ),
    # --- polylines
    # x=50 meets the V's first leg at y=125: f2 (150) first below, f3 confirms.
    "vee_through_leg": Case({1: vertical(50, 50, 100, 150, 170)}, [(3, 1, "in")], line=VEE),
    # x=100 passes exactly through the shared vertex (100,150): both legs are
    # touched but the polyline is crossed once (pseudo-normal (0,1) at the vertex).
    "vee_through_vertex": Case({1: vertical(100, 100, 140, 160, 180)}, [(3, 1, "in")], line=VEE),
    "vee_through_vertex_upwards": Case(
        {1: vertical(100, 180, 160, 140, 100)}, [(3, 1, "out")], line=VEE
    ),
    # Passing under the V's bottom, all on the right side: nothing.
    "vee_passes_under_vertex": Case({1: [(60, 170), (100, 170), (140, 170)]}, [], line=VEE),
    # x=250 is beyond the V's end (200,100): the side flips across the last
    # leg's extension (at y=75) but the path never touches the polyline.
    "vee_beyond_end": Case({1: vertical(250, 50, 70, 90, 110)}, [], line=VEE),
    # Rightwards across the L's second leg (x=200): from inside to outside = in.
    "ell_across_second_leg": Case(
        {1: [(150, 50), (190, 50), (210, 50), (230, 50)]}, [(3, 1, "in")], line=ELL
    ),
    # (120,150)→(300,0) enters the corner at (180,100) and leaves at (200,83.3)
    # in one step: right side before and after, net nothing.
    "ell_cut_corner_in_and_out": Case(
        {1: [(120, 170), (120, 150), (300, 0), (320, -10)]}, [], line=ELL
    ),
    # --- re-acquisition / id switch (window 30 frames, radius 50 px)
    # Track 1 crosses at (100,100) at f3 and is lost; track 2 (new, first seen
    # f5 just above the line) crosses at (100,100) at f7: the same object.
    "reacquired_not_recounted": Case(
        {1: vertical(100, 50, 80, 110, 120), 2: off(100, 5, 95, 115, 125)},
        [(3, 1, "in")],
        kwargs=RECOUNT,
    ),
    "reacquired_counted_when_window_off": Case(
        {1: vertical(100, 50, 80, 110, 120), 2: off(100, 5, 95, 115, 125)},
        [(3, 1, "in"), (7, 2, "in")],
        kwargs={"recount_window_frames": 0},
    ),
    # Track 3 re-acquires track 2 again: the record moved to track 2 at f7, so
    # track 3's crossing (f11) repeats it too.
    "reacquired_twice": Case(
        {
            1: vertical(100, 50, 80, 110, 120),
            2: off(100, 5, 95, 115, 125),
            3: off(100, 9, 95, 112, 125),
        },
        [(3, 1, "in")],
        kwargs=RECOUNT,
    ),
    # Second crossing at f42: 39 frames after f3, outside the 30-frame window.
    "reacquired_after_window": Case(
        {1: vertical(100, 50, 80, 110, 120), 2: off(100, 40, 95, 115, 125)},
        [(3, 1, "in"), (42, 2, "in")],
        kwargs=RECOUNT,
    ),
    # Crossing point (180,100) is 80 px from (100,100): another object.
    "new_track_far_away": Case(
        {1: vertical(100, 50, 80, 110, 120), 2: off(180, 5, 95, 115, 125)},
        [(3, 1, "in"), (7, 2, "in")],
        kwargs=RECOUNT,
    ),
    # Track 1 still in the frame when track 2 crosses: two objects.
    "first_track_still_present": Case(
        {1: vertical(100, 50, 80, 110, 120, 130, 140, 150, 160), 2: off(110, 5, 95, 115, 125)},
        [(3, 1, "in"), (7, 2, "in")],
        kwargs=RECOUNT,
    ),
    # Track 2 was seen (f0) before track 1's crossing: not a re-acquisition.
    "older_track_not_a_reacquisition": Case(
        {
            1: vertical(100, 50, 80, 110, 120),
            2: [(110, 60), *[None] * 4, (110, 95), (110, 115), (110, 125)],
        },
        [(3, 1, "in"), (7, 2, "in")],
        kwargs=RECOUNT,
    ),
    # Track 1 went in (f3) and back out (f5) before it was lost: its latest
    # crossing is "out", so track 2 crossing in at f9 is not a repeat.
    "reentry_after_going_back_out": Case(
        {1: vertical(100, 50, 80, 110, 120, 90, 80), 2: off(100, 7, 95, 115, 125)},
        [(3, 1, "in"), (5, 1, "out"), (9, 2, "in")],
        kwargs=RECOUNT,
    ),
    # Opposite direction is never suppressed.
    "new_track_opposite_direction": Case(
        {1: vertical(100, 50, 80, 110, 120), 2: off(100, 5, 120, 90, 80)},
        [(3, 1, "in"), (7, 2, "out")],
        kwargs=RECOUNT,
    ),
}


def run(case: Case) -> tuple[LineCounter, list[Event]]:
    counter = LineCounter("gate", case.line, **case.kwargs)  # type: ignore[arg-type]
    names = {True: counter.in_name, False: counter.out_name}
    events: list[Event] = []
    for frame_number, tracks in enumerate(frames(case.trajectories, case.classes)):
        got = counter.update(tracks, frame_number)
        events += [
            (frame_number, int(t), names[bool(d)])
            for t, d in zip(got.track_id, got.direction_in, strict=True)
        ]
    return counter, events


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_line_case(case: Case) -> None:
    counter, events = run(case)
    assert sorted(events) == sorted(case.events)
    expected: dict[str, dict[int, int]] = {"in": {}, "out": {}}
    for _, track, direction in case.events:
        cls = case.classes.get(track, 0)
        expected[direction][cls] = expected[direction].get(cls, 0) + 1
    assert counter.counts() == expected


def test_counts_per_class() -> None:
    counter, _ = run(CASES["two_classes_same_frame"])
    assert counter.counts() == {"in": {0: 1, 2: 1}, "out": {}}


def test_suppressed_recounts_are_counted() -> None:
    counter, _ = run(CASES["reacquired_twice"])
    assert counter.suppressed_recounts == 2


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "tight"}, "mode"),
        ({"direction": (0.0, 0.0)}, "non-zero"),
        ({"direction": (5.0, 0.0)}, "parallel"),
        ({"recount_window_frames": -1}, "recount_window_frames"),
        ({"recount_radius_px": 0.0}, "recount_radius_px"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LineCounter("gate", GATE, **kwargs)  # type: ignore[arg-type]


def test_direction_parallel_to_one_leg_of_a_polyline_is_fine() -> None:
    # (1, 0) runs along the L's first leg but crosses its second: crossings can follow it.
    counter = LineCounter("ell", ELL, direction=(1.0, 0.0))
    for n, tracks in enumerate(frames({1: [(150, 50), (190, 50), (210, 50), (230, 50)]})):
        counter.update(tracks, n)
    assert counter.counts() == {"in": {0: 1}, "out": {}}


@pytest.mark.parametrize("points", [(Point(0, 0),), (Point(0, 0), Point(5, 5), Point(5, 5))])
def test_bad_polylines(points: tuple[Point, ...]) -> None:
    with pytest.raises(ValueError, match="Polyline"):
        Polyline(points)
