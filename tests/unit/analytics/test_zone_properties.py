"""Invariants of zones and ROIs on random trajectories (hypothesis).

- entries − exits = occupancy after every frame;
- translating the zone and every track together changes nothing;
- point-in-polygon agrees with matplotlib's independent ``Path.contains_points``
  away from the border;
- reversing time swaps entries and exits (per track);
- an ROI and its inverse split the tracks in two (each kept by exactly one).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from _analytics_helpers import Point, Trajectory, boxes_at, frames
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from matplotlib.path import Path

from visionflow.analytics import Roi, RoiFilter, ZoneCounter, points_in_polygon
from visionflow.geometry import Point as GeoPoint
from visionflow.geometry import Polygon

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# An L-shaped (non-convex) zone on the integer grid.
L_ZONE = ((0, 0), (60, 0), (60, 20), (20, 20), (20, 60), (0, 60))

coord = st.integers(-20, 80)
point = st.tuples(coord, coord).map(lambda p: (float(p[0]), float(p[1])))
maybe_point = st.one_of(point, point, point, st.none())  # a quarter missing
trajectory = st.lists(maybe_point, min_size=1, max_size=25)
trajectories = st.dictionaries(st.integers(1, 40), trajectory, min_size=1, max_size=6)


def polygon(vertices: tuple[tuple[int, int], ...], dx: float = 0, dy: float = 0) -> Polygon:
    return Polygon(tuple(GeoPoint(x + dx, y + dy) for x, y in vertices))


def on_border(p: Point, vertices: tuple[tuple[int, int], ...]) -> bool:
    """Exactly on an edge (integer arithmetic, so no rounding)."""
    n = len(vertices)
    for i in range(n):
        (ax, ay), (bx, by) = vertices[i], vertices[(i + 1) % n]
        cross = (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)
        if cross == 0 and min(ax, bx) <= p[0] <= max(ax, bx) and min(ay, by) <= p[1] <= max(ay, by):
            return True
    return False


def run(
    zone: ZoneCounter, trajs: dict[int, Trajectory]
) -> tuple[list[Counter[int]], list[Counter[int]], list[int]]:
    """Per frame: entries per track, exits per track, and total occupancy."""
    entries, exits, occupancy = [], [], []
    for n, tracks in enumerate(frames(trajs)):
        update = zone.update(tracks, n)
        entries.append(Counter(update.entered.track_id.tolist()))
        exits.append(Counter(update.exited.track_id.tolist()))
        occupancy.append(sum(update.occupancy.values()))
    return entries, exits, occupancy


@SETTINGS
@given(trajectories, st.integers(1, 4), st.integers(1, 8), st.integers(0, 6))
def test_entries_minus_exits_is_occupancy(
    trajs: dict[int, Trajectory], min_frames: int, forget_frames: int, recount_window: int
) -> None:
    # Holds with id-switch handovers too (a handover is neither an entry nor an exit).
    zone = ZoneCounter(
        "z",
        polygon(L_ZONE),
        min_frames=min_frames,
        forget_frames=forget_frames,
        recount_window_frames=recount_window,
        recount_radius_px=30.0,
    )
    entries, exits, occupancy = run(zone, trajs)
    inside = 0
    for entered, exited, occ in zip(entries, exits, occupancy, strict=True):
        inside += sum(entered.values()) - sum(exited.values())
        assert inside == occ >= 0


@SETTINGS
@given(trajectories, st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(1, 3))
def test_translating_zone_and_tracks_changes_nothing(
    trajs: dict[int, Trajectory], dx: int, dy: int, min_frames: int
) -> None:
    # Points exactly on an edge may fall either way after float rounding; the
    # invariant is about everything else (integers keep the rest exact).
    assume(not any(p and on_border(p, L_ZONE) for t in trajs.values() for p in t))
    moved = {
        tid: [None if p is None else (p[0] + dx, p[1] + dy) for p in t] for tid, t in trajs.items()
    }
    a = run(ZoneCounter("z", polygon(L_ZONE), min_frames=min_frames, forget_frames=5), trajs)
    b = run(
        ZoneCounter("z", polygon(L_ZONE, dx, dy), min_frames=min_frames, forget_frames=5), moved
    )
    assert a == b


star = st.lists(
    st.tuples(st.floats(0, 2 * np.pi), st.floats(5, 50)),
    min_size=3,
    max_size=12,
    unique_by=lambda t: round(t[0], 3),
)


def _distance_to_border(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    a, b = vertices, np.roll(vertices, -1, axis=0)
    ab = b - a  # [V, 2]
    ap = points[:, None, :] - a[None]  # [N, V, 2]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    nearest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - nearest, axis=-1).min(axis=1)


@SETTINGS
@given(star, st.lists(st.tuples(st.floats(-60, 60), st.floats(-60, 60)), min_size=1, max_size=50))
def test_point_in_polygon_agrees_with_matplotlib(
    polar: list[tuple[float, float]], pts: list[tuple[float, float]]
) -> None:
    # Vertices sorted by angle around the origin, with every angular gap < pi,
    # make a polygon star-shaped around the origin, hence simple.
    polar.sort()
    angles = [a for a, _ in polar]
    gaps = np.diff([*angles, angles[0] + 2 * np.pi])
    assume(gaps.max() < np.pi - 1e-3 and gaps.min() > 1e-3)
    vertices = np.array([[r * np.cos(a), r * np.sin(a)] for a, r in polar])
    points = np.array(pts, np.float64)
    away = _distance_to_border(points, vertices) > 1e-6
    ours = points_in_polygon(points, vertices)
    theirs = Path(vertices).contains_points(points)
    assert ours[away].tolist() == theirs[away].tolist()


def _padded(trajs: dict[int, Trajectory], k: int) -> dict[int, Trajectory]:
    """Start and end every track with k observations outside the zone."""
    outside: list[Point | None] = [(-100.0, -100.0)] * k
    return {tid: [*outside, *t, *outside] for tid, t in trajs.items()}


@SETTINGS
@given(trajectories, st.integers(1, 4))
def test_reversing_time_swaps_entries_and_exits(
    trajs: dict[int, Trajectory], min_frames: int
) -> None:
    # Tracks start and end settled outside, and are never forgotten, so every
    # visit is a run of >= min_frames observations inside between two such runs
    # outside: the same runs, read backwards, are exits where entries were.
    n_frames = max(len(t) for t in trajs.values())
    padded = _padded(
        {tid: t + [None] * (n_frames - len(t)) for tid, t in trajs.items()}, min_frames
    )
    backwards = {tid: t[::-1] for tid, t in padded.items()}

    def totals(t: dict[int, Trajectory]) -> tuple[Counter[int], Counter[int]]:
        zone = ZoneCounter("z", polygon(L_ZONE), min_frames=min_frames, forget_frames=10**6)
        entries, exits, _ = run(zone, t)
        return sum(entries, Counter()), sum(exits, Counter())

    fwd_in, fwd_out = totals(padded)
    back_in, back_out = totals(backwards)
    assert fwd_in == back_out
    assert fwd_out == back_in
    assert fwd_in == fwd_out  # ends outside: every entry has its exit


@SETTINGS
@given(
    st.lists(point, min_size=1, max_size=30), st.lists(st.integers(0, 2), min_size=30, max_size=30)
)
def test_roi_and_inverse_roi_split_the_tracks(points: list[Point], classes: list[int]) -> None:
    tracks = boxes_at(points, list(range(1, len(points) + 1)), classes[: len(points)])
    area = polygon(L_ZONE)
    cars = frozenset({2})
    keep = RoiFilter([Roi("r", area, class_ids=cars)]).keep_mask(tracks)
    drop = RoiFilter([Roi("r", area, inverse=True, class_ids=cars)]).keep_mask(tracks)
    is_car = tracks.class_id == 2
    assert (keep ^ drop)[is_car].all()  # each car kept by exactly one of the two
    assert (keep & drop)[~is_car].all()  # other classes untouched by both
    inside = points_in_polygon(tracks.anchors(), area.as_array())
    assert keep.tolist() == (inside | ~is_car).tolist()


@SETTINGS
@given(
    st.tuples(st.integers(-50, -1), st.integers(-50, 50)),
    st.tuples(st.integers(1, 50), st.integers(-50, 50)),
    st.integers(1, 50),
    st.integers(1, 50),
    st.lists(st.floats(0.01, 0.99), min_size=1, max_size=20),
)
def test_points_on_a_shared_edge_are_in_exactly_one_zone(
    a: tuple[int, int], c: tuple[int, int], up: int, down: int, ts: list[float]
) -> None:
    # The quad a-b-c-d (b above, d below the diagonal a-c) is split along a-c
    # into two zones sharing that edge. Points on the diagonal (as close as
    # floats get) must land in exactly one zone: the half-open rule, with each
    # edge evaluated from the same endpoint in both polygons.
    mid_x = (a[0] + c[0]) // 2
    b = (mid_x, max(a[1], c[1]) + up)
    d = (mid_x, min(a[1], c[1]) - down)
    upper = np.array([a, b, c], np.float64)
    lower = np.array([a, c, d], np.float64)
    t = np.array(ts)[:, None]
    points = np.asarray(a, np.float64) + t * (np.asarray(c, np.float64) - np.asarray(a))
    both = points_in_polygon(points, upper).astype(int) + points_in_polygon(points, lower)
    assert both.tolist() == [1] * len(ts)
