"""Zones, ROI, loitering and overcrowding: synthetic trajectories with exact results.

Every case runs the real per-stream analytics (ROI filter → ZoneCounter →
events) over hand-made trajectories and compares, frame by frame, the total
occupancy, the cumulative entries per class and every event. The zone is the
square (0,0)-(100,100); ``OUT`` is left of it, ``IN`` in its middle;
``BORDER_OUT``/``BORDER_IN`` straddle its right edge by one pixel. The stream
runs at 1 fps so seconds in events equal frames, and the expected values are
derived by hand in each case's comment with these rules:

- enter/exit after ``min_frames`` consecutive observations inside/outside;
  the run's first frame is the entry frame; missing frames don't break a run;
- dwell = last frame seen inside − entry frame + 1 (frame numbers);
- a track unseen for ``forget_frames`` frames (frame − last_seen ≥ forget)
  exits with ``bbox: None`` (written ``exit_gone``);
- loitering once per visit at the first frame seen inside with
  dwell ≥ ``loitering_frames``;
- with ``recount_window_frames`` on, a new track first seen at most that many
  frames after a lost track inside was last seen, within ``recount_radius_px``
  of it, continues its visit (no entry, the lost one leaves without an exit,
  the new one's exit names the entry's id: ``("exit", f, new, dwell, old)``);
- overcrowding starts after ``overcrowding_frames`` consecutive frames with
  occupancy ≥ threshold (start frame = first of them) and ends after as many
  frames below; duration = last crowded frame − start frame + 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from _analytics_helpers import Trajectory, frames

from visionflow.analytics import Roi, RoiFilter, ZoneCounter
from visionflow.events import (
    Event,
    LoiteringEvent,
    OvercrowdingEvent,
    ZoneEnteredEvent,
    ZoneExitedEvent,
)
from visionflow.geometry import Point, Polygon
from visionflow.pipeline.stream_analytics import StreamAnalytics
from visionflow.types import Frame

NAMES = ["person", "bicycle", "car"]
PERSON, CAR = 0, 2


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon((Point(x0, y0), Point(x1, y0), Point(x1, y1), Point(x0, y1)))


SQUARE = rect(0, 0, 100, 100)
OUT, IN = (-50.0, 50.0), (50.0, 50.0)
BORDER_OUT, BORDER_IN = (101.0, 50.0), (99.0, 50.0)
LEFT, RIGHT = (25.0, 50.0), (75.0, 50.0)  # both inside the zone
NONE: list[tuple[float, float] | None] = [None]
LEFT_HALF = Roi("left", rect(-100, -100, 50, 200))  # x < 50 (contains LEFT, not RIGHT)
IMAGE = np.zeros((2, 2, 3), np.uint8)


@dataclass(frozen=True)
class Case:
    trajectories: dict[int, Trajectory]
    events: list[tuple[Any, ...]]
    occupancy: list[int]  # total inside after each frame
    entered: dict[str, int]  # cumulative entries per class name at the end
    classes: dict[int, int] = field(default_factory=dict)  # track → class (default person)
    zone: dict[str, Any] = field(default_factory=dict)  # ZoneCounter keyword arguments
    rois: tuple[Roi, ...] = ()
    frame_step: int = 1  # analytics sees every frame_step-th frame (skipped frames)
    final_occupancy: dict[str, int] | None = None


CASES: dict[str, Case] = {
    # Enters at f2 (run f1-f2), exits at f5 (run f4-f5); dwell f1..f3 = 3.
    "walk_through": Case(
        {1: [OUT, IN, IN, IN, OUT, OUT]},
        [("enter", 2, 1), ("exit", 5, 1, 3)],
        [0, 0, 1, 1, 1, 0],
        {"person": 1},
    ),
    # First seen inside (came in over the frame edge): run f0-f1 → enters f1.
    "first_seen_inside_enters_after_min_frames": Case(
        {1: [IN, IN, IN]}, [("enter", 1, 1)], [0, 1, 1], {"person": 1}
    ),
    # Never two consecutive frames on one side of the border: nothing happens.
    "border_jitter_never_enters": Case(
        {1: [BORDER_OUT, BORDER_IN] * 5}, [], [0] * 10, {}, final_occupancy={}
    ),
    # Settled inside at f1; one-frame excursions never make an exit.
    "border_jitter_while_inside_never_exits": Case(
        {1: [IN, IN] + [BORDER_OUT, BORDER_IN] * 4},
        [("enter", 1, 1)],
        [0] + [1] * 9,
        {"person": 1},
    ),
    # Enters f2; last seen f3; f7 - 3 >= forget 4 → gone at f7, dwell f1..f3 = 3.
    "vanishes_inside_exits_after_forget_window": Case(
        {1: [OUT, IN, IN, IN, *NONE * 4]},
        [("enter", 2, 1), ("exit_gone", 7, 1, 3)],
        [0, 0, 1, 1, 1, 1, 1, 0],
        {"person": 1},
        zone={"forget_frames": 4},
    ),
    # Occluded f3-f4 (< forget): same visit, one entry; exit f8, dwell f1..f6 = 6.
    "occlusion_shorter_than_forget_is_one_visit": Case(
        {1: [OUT, IN, IN, None, None, IN, IN, OUT, OUT]},
        [("enter", 2, 1), ("exit", 8, 1, 6)],
        [0, 0, 1, 1, 1, 1, 1, 1, 0],
        {"person": 1},
        zone={"forget_frames": 4},
    ),
    # Id switch inside: 1 is lost after f2, 2 appears f3 (enters f4). 1 exits when
    # forgotten (f5 - 2 >= 3) with dwell f1..f2 = 2. For f4 both are held: the zone
    # cannot tell an id switch from a newcomer, the forget window bounds the overlap.
    "id_switch_inside_old_id_exits_after_forget": Case(
        {1: [OUT, IN, IN, None, None, None], 2: [None, None, None, IN, IN, IN]},
        [("enter", 2, 1), ("enter", 4, 2), ("exit_gone", 5, 1, 2)],
        [0, 0, 1, 1, 2, 1],
        {"person": 2},
        zone={"forget_frames": 3},
    ),
    # Regression: an exit (5, outside f3-f4, dwell f0..f2 = 3) in the same frame as
    # another track being forgotten (1, last seen f1, 4 - 1 >= 3, dwell 2).
    "exit_and_forget_in_the_same_frame": Case(
        {1: [IN, IN, None, None, None], 5: [IN, IN, IN, OUT, OUT]},
        [("enter", 1, 1), ("enter", 1, 5), ("exit_gone", 4, 1, 2), ("exit", 4, 5, 3)],
        [0, 2, 2, 2, 0],
        {"person": 2},
        zone={"forget_frames": 3},
    ),
    # The same id switch with the recount window on: 2 first appears at f3, one
    # frame after 1 was last seen (gap 1 <= 5) at the same spot (0 px <= 50): its
    # entry at f4 continues 1's visit — no second entry, 1 leaves silently, the
    # occupancy stays 1, and 2's exit (f7) has the whole dwell f1..f5 = 5 and
    # names 1 as the id the visit entered under.
    "id_switch_inside_continues_the_visit": Case(
        {1: [OUT, IN, IN, *NONE * 5], 2: [*NONE * 3, IN, IN, IN, OUT, OUT]},
        [("enter", 2, 1), ("exit", 7, 2, 5, 1)],
        [0, 0, 1, 1, 1, 1, 1, 0],
        {"person": 1},
        zone={"forget_frames": 10, "recount_window_frames": 5},
    ),
    # Too far from where 1 was lost (LEFT→RIGHT is 50 px > 30): a newcomer.
    "new_track_far_from_the_lost_one_is_a_new_entry": Case(
        {1: [OUT, LEFT, LEFT, *NONE * 3], 2: [*NONE * 3, RIGHT, RIGHT, RIGHT]},
        [("enter", 2, 1), ("enter", 4, 2)],
        [0, 0, 1, 1, 2, 2],
        {"person": 2},
        zone={"forget_frames": 10, "recount_window_frames": 5, "recount_radius_px": 30.0},
    ),
    # 2 was already seen (outside) while 1 was still there: two objects, not an
    # id switch, even though 2 enters right where 1 vanished.
    "track_seen_together_with_the_lost_one_is_a_new_entry": Case(
        {1: [OUT, IN, IN, *NONE * 3], 2: [OUT, OUT, OUT, IN, IN, IN]},
        [("enter", 2, 1), ("enter", 4, 2)],
        [0, 0, 1, 1, 2, 2],
        {"person": 2},
        zone={"forget_frames": 10, "recount_window_frames": 5},
    ),
    # Appears 6 frames after 1 was last seen (f2 → f8), window 5: a new entry.
    "reappearing_after_the_recount_window_is_a_new_entry": Case(
        {1: [OUT, IN, IN, *NONE * 7], 2: [*NONE * 8, IN, IN]},
        [("enter", 2, 1), ("enter", 9, 2)],
        [0, 0, 1, 1, 1, 1, 1, 1, 1, 2],
        {"person": 2},
        zone={"forget_frames": 10, "recount_window_frames": 5},
    ),
    # A loitering alert already raised for 1 is not raised again for 2 (same visit).
    "id_switch_does_not_repeat_the_loitering_alert": Case(
        {1: [IN, IN, IN, None], 2: [None, None, None, None, IN, IN, IN]},
        [("enter", 1, 1), ("loiter", 2, 1, 3)],
        [0, 1, 1, 1, 1, 1, 1],
        {"person": 1},
        zone={"forget_frames": 10, "recount_window_frames": 5, "loitering_frames": 3},
    ),
    # Analytics every 3rd frame (interval 2): frames 0,3,...,15. Enters at frame 6
    # (run from 3), exits at 15 (run 12-15), dwell = 9 - 3 + 1 = 7 frames.
    "skipped_frames_dwell_in_frame_numbers": Case(
        {1: [OUT, IN, IN, IN, OUT, OUT]},
        [("enter", 6, 1), ("exit", 15, 1, 7)],
        [0, 0, 1, 1, 1, 0],
        {"person": 1},
        frame_step=3,
    ),
    # Skipped frames and the forget window: last seen at 3, unseen at 6 and 9;
    # 12 - 3 >= forget 8 → gone at 12, dwell 3 - 0 + 1 = 4 (the entry run began at 0).
    "skipped_frames_forget_counts_frame_numbers": Case(
        {1: [IN, IN, None, None, None]},
        [("enter", 3, 1), ("exit_gone", 12, 1, 4)],
        [0, 1, 1, 1, 0],
        {"person": 1},
        zone={"forget_frames": 8},
        frame_step=3,
    ),
    # Only persons are watched: the car inside never counts.
    "class_filter": Case(
        {1: [IN, IN], 2: [IN, IN]},
        [("enter", 1, 1)],
        [0, 1],
        {"person": 1},
        classes={2: CAR},
        zone={"class_ids": frozenset({PERSON})},
        final_occupancy={"person": 1},
    ),
    # One person, two cars inside from f0: all enter f1, occupancy per class.
    "occupancy_per_class": Case(
        {1: [IN, IN], 2: [IN, IN], 3: [LEFT, LEFT], 4: [OUT, OUT]},
        [("enter", 1, 1), ("enter", 1, 2), ("enter", 1, 3)],
        [0, 3],
        {"person": 1, "car": 2},
        classes={2: CAR, 3: CAR},
        final_occupancy={"person": 1, "car": 2},
    ),
    # Entry f2 (run from f1): dwell at frame f is f. Alert once at f4 (dwell 4),
    # not again at f5, f6; exit f8 with dwell f1..f6 = 6.
    "loitering_once_per_visit": Case(
        {1: [OUT, *[IN] * 6, OUT, OUT]},
        [("enter", 2, 1), ("loiter", 4, 1, 4), ("exit", 8, 1, 6)],
        [0, 0, 1, 1, 1, 1, 1, 1, 0],
        {"person": 1},
        zone={"loitering_frames": 4},
    ),
    # Two visits, each long enough: one alert per visit (dwell 3 at f3 and f8).
    "loitering_again_after_a_new_entry": Case(
        {1: [OUT, IN, IN, IN, OUT, OUT, IN, IN, IN, OUT, OUT]},
        [
            ("enter", 2, 1),
            ("loiter", 3, 1, 3),
            ("exit", 5, 1, 3),
            ("enter", 7, 1),
            ("loiter", 8, 1, 3),
            ("exit", 10, 1, 3),
        ],
        [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0],
        {"person": 2},
        zone={"loitering_frames": 3},
    ),
    # Dwell reaches 3 only: below the threshold of 5, no alert.
    "loitering_not_reached": Case(
        {1: [OUT, IN, IN, IN, OUT, OUT]},
        [("enter", 2, 1), ("exit", 5, 1, 3)],
        [0, 0, 1, 1, 1, 0],
        {"person": 1},
        zone={"loitering_frames": 5},
    ),
    # Occlusion f3-f4 keeps the visit: seen again at f5 with dwell 5 → alert then.
    "loitering_counts_occluded_time": Case(
        {1: [OUT, IN, IN, None, None, IN, IN]},
        [("enter", 2, 1), ("loiter", 5, 1, 5)],
        [0, 0, 1, 1, 1, 1, 1],
        {"person": 1},
        zone={"loitering_frames": 5},
    ),
    # f4 is seen outside (a pending exit): no alert from there; f5 is inside again
    # (the pending exit is cancelled) and alerts with dwell 5.
    "loitering_not_raised_while_seen_outside": Case(
        {1: [OUT, IN, IN, IN, OUT, IN]},
        [("enter", 2, 1), ("loiter", 5, 1, 5)],
        [0, 0, 1, 1, 1, 1],
        {"person": 1},
        zone={"loitering_frames": 4},
    ),
    # Threshold reached at the entry itself (min_frames 1, threshold 1): same frame.
    "loitering_at_entry_frame": Case(
        {1: [OUT, IN]},
        [("enter", 1, 1), ("loiter", 1, 1, 1)],
        [0, 1],
        {"person": 1},
        zone={"min_frames": 1, "loitering_frames": 1},
    ),
    # min_frames 1: occupancy 1,2,2,2,1,1. Crowded (>= 2) f1-f3: starts at f2 (2nd
    # frame, from f1); below f4, f5 → ends f5, duration f1..f3 = 3.
    "overcrowding_start_and_end": Case(
        {1: [IN] * 6, 2: [OUT, IN, IN, IN, OUT, OUT]},
        [
            ("enter", 0, 1),
            ("enter", 1, 2),
            ("crowd", 2, "start", 2, 0),
            ("exit", 4, 2, 3),
            ("crowd", 5, "end", 1, 3),
        ],
        [1, 2, 2, 2, 1, 1],
        {"person": 2},
        zone={"min_frames": 1, "overcrowding_threshold": 2, "overcrowding_frames": 2},
    ),
    # Occupancy 2,2,1,2,2,1,2,2,1: never 3 crowded frames in a row → no alert.
    "overcrowding_flicker_suppressed_by_hysteresis": Case(
        {1: [IN] * 9, 2: [IN, IN, OUT] * 3},
        [
            ("enter", 0, 1),
            ("enter", 0, 2),
            ("exit", 2, 2, 2),
            ("enter", 3, 2),
            ("exit", 5, 2, 2),
            ("enter", 6, 2),
            ("exit", 8, 2, 2),
        ],
        [2, 2, 1, 2, 2, 1, 2, 2, 1],
        {"person": 4},
        zone={"min_frames": 1, "overcrowding_threshold": 2, "overcrowding_frames": 3},
    ),
    # The same counts without hysteresis: an alert per crowded run (what it prevents).
    "overcrowding_without_hysteresis_alerts_every_run": Case(
        {1: [IN] * 9, 2: [IN, IN, OUT] * 3},
        [
            ("enter", 0, 1),
            ("enter", 0, 2),
            ("crowd", 0, "start", 2, 0),
            ("exit", 2, 2, 2),
            ("crowd", 2, "end", 1, 2),
            ("enter", 3, 2),
            ("crowd", 3, "start", 2, 0),
            ("exit", 5, 2, 2),
            ("crowd", 5, "end", 1, 2),
            ("enter", 6, 2),
            ("crowd", 6, "start", 2, 0),
            ("exit", 8, 2, 2),
            ("crowd", 8, "end", 1, 2),
        ],
        [2, 2, 1, 2, 2, 1, 2, 2, 1],
        {"person": 4},
        zone={"min_frames": 1, "overcrowding_threshold": 2, "overcrowding_frames": 1},
    ),
    # Both vanish after f1; they still count (maybe occluded) until forgotten at
    # f4 (4 - 1 >= 3): both exit, dwell 2, and the alert ends; crowded f0..f3 = 4.
    "overcrowding_ends_when_tracks_are_forgotten": Case(
        {1: [IN, IN, *NONE * 3], 2: [LEFT, LEFT, *NONE * 3]},
        [
            ("enter", 0, 1),
            ("enter", 0, 2),
            ("crowd", 0, "start", 2, 0),
            ("exit_gone", 4, 1, 2),
            ("exit_gone", 4, 2, 2),
            ("crowd", 4, "end", 0, 4),
        ],
        [2, 2, 2, 2, 0],
        {"person": 2},
        zone={
            "min_frames": 1,
            "forget_frames": 3,
            "overcrowding_threshold": 2,
            "overcrowding_frames": 1,
        },
    ),
    # ROI x < 50: track 2 (RIGHT) is filtered out and never reaches the zone.
    "roi_keeps_inside": Case(
        {1: [LEFT, LEFT], 2: [RIGHT, RIGHT]},
        [("enter", 1, 1)],
        [0, 1],
        {"person": 1},
        rois=(LEFT_HALF,),
    ),
    # The same ROI inverted: only track 2 (outside it) remains.
    "roi_inverse_keeps_outside": Case(
        {1: [LEFT, LEFT], 2: [RIGHT, RIGHT]},
        [("enter", 1, 2)],
        [0, 1],
        {"person": 1},
        rois=(Roi("left", LEFT_HALF.polygon, inverse=True),),
    ),
    # ROI for cars only: the person outside it (1) stays, the car outside it (2)
    # is dropped, the car inside it (3) stays.
    "roi_applies_to_its_classes_only": Case(
        {1: [RIGHT, RIGHT], 2: [RIGHT, RIGHT], 3: [LEFT, LEFT]},
        [("enter", 1, 1), ("enter", 1, 3)],
        [0, 2],
        {"person": 1, "car": 1},
        classes={2: CAR, 3: CAR},
        rois=(Roi("cars", LEFT_HALF.polygon, class_ids=frozenset({CAR})),),
        final_occupancy={"person": 1, "car": 1},
    ),
    # Two regular ROIs keep their union: x < 30 or x > 70; the middle one is dropped.
    "roi_union_of_regular_rois": Case(
        {1: [(20.0, 50.0)] * 2, 2: [IN, IN], 3: [(80.0, 50.0)] * 2},
        [("enter", 1, 1), ("enter", 1, 3)],
        [0, 2],
        {"person": 2},
        rois=(Roi("a", rect(-10, -10, 30, 110)), Roi("b", rect(70, -10, 110, 110))),
    ),
    # Regular ROI = whole zone, inverse ROI = a hole around the centre: centre dropped.
    "roi_inverse_hole_in_regular_roi": Case(
        {1: [IN, IN], 2: [(20.0, 20.0)] * 2},
        [("enter", 1, 2)],
        [0, 1],
        {"person": 1},
        rois=(
            Roi("all", rect(-10, -10, 110, 110)),
            Roi("hole", rect(40, 40, 60, 60), inverse=True),
        ),
    ),
    # Walking out of the ROI (still inside the zone) is leaving the analytics: the
    # zone stops seeing it after f2 and forgets it at f5 (5 - 2 >= 3), dwell 3.
    "roi_leaving_the_roi_is_leaving_the_scene": Case(
        {1: [LEFT, LEFT, LEFT, RIGHT, RIGHT, RIGHT]},
        [("enter", 1, 1), ("exit_gone", 5, 1, 3)],
        [0, 1, 1, 1, 1, 0],
        {"person": 1},
        zone={"forget_frames": 3},
        rois=(LEFT_HALF,),
    ),
}


def _event_tuple(event: Event) -> tuple[Any, ...]:
    n = event.frame_number
    if isinstance(event, ZoneEnteredEvent):
        return ("enter", n, event.track_id)
    if isinstance(event, ZoneExitedEvent):
        kind = "exit" if event.bbox_xyxy is not None else "exit_gone"
        handed_over = () if event.entry_track_id is None else (event.entry_track_id,)
        return (kind, n, event.track_id, event.dwell_seconds, *handed_over)
    if isinstance(event, LoiteringEvent):
        return ("loiter", n, event.track_id, event.dwell_seconds)
    assert isinstance(event, OvercrowdingEvent)
    return ("crowd", n, event.state, event.occupancy, event.duration_seconds)


_KIND_ORDER = {"enter": 0, "loiter": 1, "exit": 2, "exit_gone": 2, "crowd": 3}


def _order(event: tuple[Any, ...]) -> tuple[int, Any]:
    return (_KIND_ORDER[event[0]], event[2])


def run(case: Case) -> tuple[list[tuple[Any, ...]], list[int], StreamAnalytics]:
    zone = ZoneCounter("plaza", SQUARE, **case.zone)
    analytics = StreamAnalytics(
        "cam", [], [(zone, SQUARE.as_array())], NAMES, 1.0, 0.0, roi=RoiFilter(case.rois)
    )
    events: list[tuple[Any, ...]] = []
    occupancy: list[int] = []
    for i, tracks in enumerate(frames(case.trajectories, case.classes)):
        n = i * case.frame_step
        frame_events = analytics.update(Frame("cam", n, float(n), 0, IMAGE), tracks)
        # Within a frame: entries, loitering, exits, overcrowding; by track id.
        events += sorted((_event_tuple(e) for e in frame_events), key=_order)
        occupancy.append(sum(zone.occupancy().values()))
    return events, occupancy, analytics


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_zone_case(case: Case) -> None:
    events, occupancy, analytics = run(case)
    assert events == case.events
    assert occupancy == case.occupancy
    counts = analytics.zone_counts()["plaza"]
    assert counts["entered"] == case.entered
    if case.final_occupancy is not None:
        assert counts["occupancy"] == case.final_occupancy


def test_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


def test_alert_events_carry_their_fields() -> None:
    # 2 persons and a car in the zone from f0, fps 4: with min_frames 1 they enter
    # at f0; loitering at 2 frames = 0.5 s → alerts at f1 with dwell 0.5 s; the
    # overcrowding threshold 3 is met from f0 → starts at f0 (1 frame hysteresis).
    zone = ZoneCounter("plaza", SQUARE, min_frames=1, loitering_frames=2, overcrowding_threshold=3)
    analytics = StreamAnalytics("cam", [], [(zone, SQUARE.as_array())], NAMES, 4.0, 0.0)
    trajectories: dict[int, Trajectory] = {1: [IN, IN], 2: [LEFT, LEFT], 3: [RIGHT, RIGHT]}
    out: list[Event] = []
    for n, tracks in enumerate(frames(trajectories, {3: CAR})):
        out += analytics.update(Frame("cam", n, n / 4, 0, IMAGE), tracks)
    crowd = [e for e in out if isinstance(e, OvercrowdingEvent)]
    assert [(e.frame_number, e.state, e.occupancy, e.threshold, e.counts) for e in crowd] == [
        (0, "start", 3, 3, {"person": 2, "car": 1})
    ]
    loiter = sorted((e for e in out if isinstance(e, LoiteringEvent)), key=lambda e: e.track_id)
    assert [(e.frame_number, e.track_id, e.class_name) for e in loiter] == [
        (1, 1, "person"),
        (1, 2, "person"),
        (1, 3, "car"),
    ]
    assert {(e.dwell_seconds, e.threshold_seconds) for e in loiter} == {(0.5, 0.5)}
    assert loiter[0].bbox_xyxy == [45.0, 30.0, 55.0, 50.0]  # 10x20 box above (50, 50)
    assert analytics.overlays()[1][0].text == "plaza: 3 OVERCROWDED"
