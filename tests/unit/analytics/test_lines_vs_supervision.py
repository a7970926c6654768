"""Our LineCounter side by side with supervision's LineZone on the same tracks.

supervision (test-only dependency) counts with ``LineZone.trigger``. Reading
its source (0.31): a detection's state is "all triggering anchors have
``cross(line, anchor - start) < 0``"; observations with an anchor outside the
strip perpendicular to the segment, or with anchors on both sides, are
skipped; the first observation seeds the reference side; a change is counted
after ``minimum_crossing_threshold`` consecutive observations on the new side;
a track absent for ``max(2, threshold + 1)`` calls is forgotten. Its *in* is
moving to the side where that cross product is negative, which is our *out*
side (our in side has a positive cross product), so below every supervision
count is reported in OUR naming: ``(ours_in, ours_out) = (sv.out, sv.in)``.

Each scenario states both results; where they differ, ``why`` says which is
right and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import supervision as sv
from _analytics_helpers import Trajectory, frames, vertical

from visionflow.analytics import LineCounter
from visionflow.geometry import Line, Point
from visionflow.types import Detections

START, END = (0, 100), (200, 100)
JITTER = [(100.0, 95.0 if i % 2 == 0 else 105.0) for i in range(30)]


@dataclass(frozen=True)
class Scenario:
    trajectories: dict[int, Trajectory]
    ours: tuple[int, int]  # (in, out)
    theirs: tuple[int, int]  # supervision's, in our naming
    why: str = ""  # where they differ: which is right, and why
    min_frames: int = 2
    bottom_center_only: bool = True  # else supervision's default four corners
    ours_kwargs: dict[str, object] = field(default_factory=dict)
    classes: dict[int, int] = field(default_factory=dict)


SCENARIOS = {
    # --- agreement
    "straight_down": Scenario({1: vertical(100, 50, 70, 90, 110, 130, 150)}, (1, 0), (1, 0)),
    "straight_up": Scenario({1: vertical(100, 150, 130, 110, 90, 70, 50)}, (0, 1), (0, 1)),
    "cross_and_come_back": Scenario(
        {1: vertical(100, 50, 80, 120, 140, 120, 80, 50)}, (1, 1), (1, 1)
    ),
    "jitter_then_settle": Scenario(
        {1: [(100, 50), *JITTER, (100, 110), (100, 120)]}, (1, 0), (1, 0)
    ),
    "enters_frame_across": Scenario({1: vertical(100, 120, 140, 160)}, (0, 0), (0, 0)),
    "beyond_end": Scenario({1: vertical(250, 50, 80, 120, 150)}, (0, 0), (0, 0)),
    "threshold_3_short_excursion": Scenario(
        {1: vertical(100, 50, 110, 120, 80, 60)}, (0, 0), (0, 0), min_frames=3
    ),
    "two_objects": Scenario(
        {1: vertical(50, 50, 80, 120, 140), 2: vertical(150, 150, 120, 80, 50)},
        (1, 1),
        (1, 1),
        classes={1: 0, 2: 2},
    ),
    # Whole box passes: supervision's four corners count it one frame later
    # (while the box straddles the line it is skipped), same count.
    "whole_box_default_anchors": Scenario(
        {1: vertical(100, 50, 70, 90, 110, 130, 150)}, (1, 0), (1, 0), bottom_center_only=False
    ),
    # --- disagreement
    "around_the_end": Scenario(
        {1: [(100, 50), (150, 50), (250, 50), (250, 150), (150, 150), (100, 150)]},
        (0, 0),
        (1, 0),
        why="ours is right: the anchor walked around the segment's end and never crossed "
        "it; supervision skips the out-of-strip positions and compares the sides "
        "before and after, as if the line were infinite between them",
    ),
    "diagonal_jump_near_end": Scenario(
        {1: [(150, 50), (210, 130), (220, 140), (230, 150)]},
        (1, 0),
        (0, 0),
        why="ours is right: the step (150,50)→(210,130) crosses y=100 at x=187.5, on the "
        "segment; supervision ignores every later position (x > 200 is outside its "
        "strip), a miss with skipped inference frames or fast objects",
    ),
    "touch_the_line_and_back": Scenario(
        {1: vertical(100, 50, 80, 100, 100, 100, 80, 50)},
        (0, 0),
        (1, 1),
        why="ours is right: the anchor stopped exactly on the line and went back; "
        "supervision treats cross == 0 as the far side and counts in and out",
        min_frames=1,
    ),
    "occluded_mid_crossing": Scenario(
        {1: [(100, 60), (100, 90), None, None, None, (100, 110), (100, 130)]},
        (1, 0),
        (0, 0),
        why="ours is right: the tracker kept the id through a 3-frame occlusion in which "
        "the object crossed; supervision forgets a track after max(2, threshold+1) "
        "absent frames and re-seeds it on the far side",
    ),
    "partial_box_excursion_default_anchors": Scenario(
        {1: vertical(100, 50, 80, 110, 115, 90, 60)},
        (1, 1),
        (0, 0),
        why="different questions: our (and DeepStream's) rule follows one anchor, the "
        "bottom centre, which went 15 px past the line for 2 frames and came back; "
        "supervision's default needs all four corners across, and the box only straddled",
        bottom_center_only=False,
    ),
    "id_switch_same_object": Scenario(
        {
            1: vertical(100, 50, 80, 110, 120),
            2: [None] * 5 + [(100, 95), (100, 115), (100, 125)],
        },
        (1, 0),
        (2, 0),
        why="ours is right for this scene: one object, its track lost after crossing and "
        "re-acquired as a new id just behind the line; our re-acquisition window "
        "suppresses the repeat, supervision counts the new id again",
        ours_kwargs={"recount_window_frames": 30, "recount_radius_px": 50.0},
    ),
}


def _sv_detections(tracks: Detections) -> sv.Detections:
    if not len(tracks):
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=tracks.xyxy.astype(np.float64),
        confidence=tracks.confidence,
        class_id=tracks.class_id,
        tracker_id=tracks.track_id,
    )


def run_both(s: Scenario) -> tuple[LineCounter, sv.LineZone]:
    ours = LineCounter(
        "gate", Line(Point(*START), Point(*END)), min_frames=s.min_frames, **s.ours_kwargs
    )  # type: ignore[arg-type]
    anchors = [sv.Position.BOTTOM_CENTER] if s.bottom_center_only else None
    kwargs = {"triggering_anchors": anchors} if anchors else {}
    theirs = sv.LineZone(
        sv.Point(*START), sv.Point(*END), minimum_crossing_threshold=s.min_frames, **kwargs
    )
    for n, tracks in enumerate(frames(s.trajectories, s.classes)):
        ours.update(tracks, n)
        theirs.trigger(_sv_detections(tracks))
    return ours, theirs


@pytest.mark.parametrize("s", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_side_by_side(s: Scenario) -> None:
    ours, theirs = run_both(s)
    counts = ours.counts()
    assert (sum(counts["in"].values()), sum(counts["out"].values())) == s.ours
    assert (theirs.out_count, theirs.in_count) == s.theirs
    assert (s.ours == s.theirs) == (not s.why), "explain every disagreement, only those"


def test_per_class_counts_agree() -> None:
    ours, theirs = run_both(SCENARIOS["two_objects"])
    assert ours.counts() == {
        "in": dict(theirs.out_count_per_class),
        "out": dict(theirs.in_count_per_class),
    }
