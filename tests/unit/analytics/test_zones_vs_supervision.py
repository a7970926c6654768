"""Our zones side by side with supervision's ``PolygonZone`` on the same tracks.

How PolygonZone works (supervision 0.31, read from its source): it rasterises
the polygon into a boolean mask with ``cv2.fillPoly`` after casting the
vertices to int, rounds each anchor to the nearest pixel (``np.rint``) and
looks it up in the mask; anchors outside the mask's bounds (negative, or past
the polygon's largest x/y) are outside. ``trigger`` is stateless: it answers
"which boxes are inside *in this frame*" and ``current_count`` is their number.
It has no tracks, entries, exits, dwell or hysteresis.

Where they agree: an anchor clearly inside or outside (not within a pixel of
the border), frame by frame, and so the per-frame count when every object is
visible and ``min_frames`` is 1. Where they differ, each test below says which
answer is right and why.
"""

from __future__ import annotations

import numpy as np
import pytest
from _analytics_helpers import boxes_at, frames

from visionflow.analytics import ZoneCounter, points_in_polygon
from visionflow.geometry import Point, Polygon

sv = pytest.importorskip("supervision")

SQUARE = [(0, 0), (100, 0), (100, 100), (0, 100)]


def sv_zone(vertices: list[tuple[float, float]]) -> object:
    return sv.PolygonZone(np.array(vertices))


def sv_inside(vertices: list[tuple[float, float]], points: list[tuple[float, float]]) -> list[bool]:
    """PolygonZone's answer for boxes whose bottom-centre is each point."""
    boxes = boxes_at(points, list(range(1, len(points) + 1)), [0] * len(points))
    result = sv_zone(vertices).trigger(sv.Detections(xyxy=boxes.xyxy.astype(np.float64)))
    return [bool(v) for v in result]


def our_inside(
    vertices: list[tuple[float, float]], points: list[tuple[float, float]]
) -> list[bool]:
    inside = points_in_polygon(np.array(points, np.float64), np.array(vertices, np.float64))
    return [bool(v) for v in inside]


def polygon(vertices: list[tuple[float, float]]) -> Polygon:
    return Polygon(tuple(Point(x, y) for x, y in vertices))


# --- where they agree ----------------------------------------------------------

ZONES = {
    "square": SQUARE,
    "l_shape": [(0, 0), (60, 0), (60, 20), (20, 20), (20, 60), (0, 60)],
    "triangle": [(10, 10), (90, 30), (30, 90)],
}


@pytest.mark.parametrize("name", ZONES)
def test_agree_away_from_the_border(name: str) -> None:
    vertices = ZONES[name]
    rng = np.random.default_rng(7)
    points = rng.uniform(1, 99, (400, 2)).round(1)
    # Keep points at least 1.5 px from every edge: there rounding to a pixel
    # cannot change the answer.
    arr = np.array(vertices, np.float64)
    a, b = arr, np.roll(arr, -1, axis=0)
    ab, ap = b - a, points[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    dist = np.linalg.norm(ap - t[..., None] * ab[None], axis=-1).min(axis=1)
    pts = [tuple(p) for p in points[dist > 1.5]]
    assert len(pts) > 200
    assert our_inside(vertices, pts) == sv_inside(vertices, pts)


def test_agree_on_per_frame_count_when_every_track_is_visible() -> None:
    # min_frames=1 and no missing frames: our occupancy is the number inside in
    # this frame, which is exactly PolygonZone.current_count.
    rng = np.random.default_rng(3)
    walks = np.cumsum(rng.normal(0, 6, (6, 40, 2)), axis=1) + 50
    walks = 2 * np.round(walks / 2) + 1  # odd integers: never on the border x, y = 0, 100
    trajectories = {tid + 1: [tuple(p) for p in walk] for tid, walk in enumerate(walks)}
    ours = ZoneCounter("z", polygon(SQUARE), min_frames=1)
    theirs = sv_zone(SQUARE)
    seen = set()
    for n, tracks in enumerate(frames(trajectories)):
        occupancy = sum(ours.update(tracks, n).occupancy.values())
        theirs.trigger(sv.Detections(xyxy=tracks.xyxy.astype(np.float64)))
        assert occupancy == theirs.current_count
        seen.add(occupancy)
    assert len(seen) >= 3  # the walks do go in and out


# --- where they differ -----------------------------------------------------------


def test_point_on_a_shared_edge_is_in_exactly_one_zone() -> None:
    # Two zones side by side share the edge x = 100; an object stands on it.
    # PolygonZone fills edge pixels of both masks, so it counts the object in both
    # zones (2 objects for 1). Ours is half-open: inside exactly one. Right: ours —
    # the zones partition the floor, so their counts must add up to the objects.
    left, right = SQUARE, [(100, 0), (200, 0), (200, 100), (100, 100)]
    on_edge = [(100.0, 50.0)]
    assert sv_inside(left, on_edge) + sv_inside(right, on_edge) == [True, True]
    assert our_inside(left, on_edge) + our_inside(right, on_edge) == [False, True]


@pytest.mark.parametrize("x", [100.3, 100.4])
def test_subpixel_anchor_just_outside(x: float) -> None:
    # The anchor is 0.3-0.4 px right of the zone's edge x = 100. PolygonZone rounds
    # it to pixel 100, an edge pixel of the mask: inside. Right: ours (outside) —
    # boxes and zones are in sub-pixel coordinates; quantising the anchor moves
    # the border by up to half a pixel in either direction.
    assert sv_inside(SQUARE, [(x, 50.0)]) == [True]
    assert our_inside(SQUARE, [(x, 50.0)]) == [False]


def test_fractional_vertices_are_not_truncated() -> None:
    # A zone drawn to x = 10.9; the anchor at x = 10.7 is inside it. PolygonZone
    # casts vertices to int (10) and rounds the anchor to 11: outside. Right:
    # ours — the polygon the user configured is the one we test against.
    zone = [(0, 0), (10.9, 0), (10.9, 10), (0, 10)]
    assert sv_inside(zone, [(10.7, 5.0)]) == [False]
    assert our_inside(zone, [(10.7, 5.0)]) == [True]


def test_zone_reaching_past_the_frame_edge() -> None:
    # A zone drawn past the left frame edge (x from -50) for objects coming in
    # from outside the frame; an anchor at x = -10 (box partly out of frame).
    # PolygonZone's mask starts at pixel 0, so negative anchors are outside.
    # Right: ours (inside) — the configured zone covers x = -10.
    zone = [(-50, 0), (50, 0), (50, 100), (-50, 100)]
    assert sv_inside(zone, [(-10.0, 50.0)]) == [False]
    assert our_inside(zone, [(-10.0, 50.0)]) == [True]


def test_border_jitter_is_one_state_change_not_many() -> None:
    # A person standing on the border, the detector's box jittering 1 px across it
    # for 10 frames, then stepping inside. Counting entries as PolygonZone
    # False→True transitions per tracker id (what a user builds on its stateless
    # trigger) gives 5 entries; ours (min_frames=2) gives 1, when the person is
    # really inside. Right: ours — one person entered once.
    path = [(101.0, 50.0), (99.0, 50.0)] * 5 + [(50.0, 50.0)] * 2
    theirs, was_inside, sv_entries = sv_zone(SQUARE), False, 0
    ours, our_entries = ZoneCounter("z", polygon(SQUARE)), 0
    for n, tracks in enumerate(frames({1: path})):
        inside = bool(theirs.trigger(sv.Detections(xyxy=tracks.xyxy.astype(np.float64)))[0])
        sv_entries += inside and not was_inside
        was_inside = inside
        our_entries += len(ours.update(tracks, n).entered)
    assert (sv_entries, our_entries) == (5, 1)


def test_occluded_object_stays_in_the_occupancy() -> None:
    # A person inside is not detected for 3 frames (occluded), then seen again.
    # PolygonZone's count drops to 0 for those frames; ours keeps 1 (the track is
    # held until forget_frames). Right: ours — the person never left; the count
    # would otherwise flicker with every missed detection.
    path = [(50.0, 50.0)] * 3 + [None] * 3 + [(50.0, 50.0)] * 2
    theirs, ours = sv_zone(SQUARE), ZoneCounter("z", polygon(SQUARE), min_frames=1)
    sv_counts, our_counts = [], []
    for n, tracks in enumerate(frames({1: path})):
        theirs.trigger(sv.Detections(xyxy=tracks.xyxy.astype(np.float64)))
        sv_counts.append(theirs.current_count)
        our_counts.append(sum(ours.update(tracks, n).occupancy.values()))
    assert sv_counts == [1, 1, 1, 0, 0, 0, 1, 1]
    assert our_counts == [1, 1, 1, 1, 1, 1, 1, 1]
