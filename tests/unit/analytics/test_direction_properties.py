"""Invariants of direction detection, checked with hypothesis on random trajectories."""

from __future__ import annotations

from _analytics_helpers import Trajectory, frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionflow.analytics import DirectionDetector

COMPASS = {"E": (1.0, 0.0), "S": (0.0, 1.0), "W": (-1.0, 0.0), "N": (0.0, -1.0)}
XY = tuple[int, int]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
coords = st.tuples(st.integers(-200, 200), st.integers(-200, 200))
tracks_st = st.lists(st.lists(coords, min_size=1, max_size=25), min_size=1, max_size=4)
modes = st.sampled_from(["loose", "balanced", "strict"])


def run(
    trajectories: dict[int, Trajectory], directions: dict[str, tuple[float, float]], mode: str
) -> list[tuple[int, int, str, float]]:
    detector = DirectionDetector("d", directions, mode=mode, min_frames=2)  # type: ignore[arg-type]
    events = []
    for n, dets in enumerate(frames(trajectories)):
        got = detector.update(dets, n)
        events += [
            (n, int(t), detector.labels[int(d)], float(h))
            for t, d, h in zip(got.track_id, got.direction, got.heading_deg, strict=True)
        ]
    return events


@SETTINGS
@given(tracks=tracks_st, shift=coords, mode=modes)
def test_translation_changes_nothing(tracks: list[list[XY]], shift: XY, mode: str) -> None:
    before = {i + 1: list(p) for i, p in enumerate(tracks)}
    after = {i + 1: [(x + shift[0], y + shift[1]) for x, y in p] for i, p in enumerate(tracks)}
    assert run(after, COMPASS, mode) == run(before, COMPASS, mode)  # type: ignore[arg-type]


@SETTINGS
@given(tracks=tracks_st, mode=modes)
def test_rotating_tracks_and_directions_by_90_degrees_keeps_labels(
    tracks: list[list[XY]], mode: str
) -> None:
    # (x, y) -> (-y, x) turns E into S, S into W...: relabelled, the events are the same,
    # headings turned by +90 degrees.
    before = run({i + 1: list(p) for i, p in enumerate(tracks)}, COMPASS, mode)  # type: ignore[arg-type]
    rotated_dirs = {k: (-v[1], v[0]) for k, v in COMPASS.items()}
    rotated = {i + 1: [(-y, x) for x, y in p] for i, p in enumerate(tracks)}
    after = run(rotated, rotated_dirs, mode)  # type: ignore[arg-type]
    assert [e[:3] for e in after] == [e[:3] for e in before]
    for a, b in zip(after, before, strict=True):
        assert abs((a[3] - b[3] - 90.0 + 180.0) % 360.0 - 180.0) < 1e-9


@SETTINGS
@given(tracks=tracks_st, mode=modes)
def test_a_track_never_repeats_its_current_direction(tracks: list[list[XY]], mode: str) -> None:
    events = run({i + 1: list(p) for i, p in enumerate(tracks)}, COMPASS, mode)
    last: dict[int, str] = {}
    for _, track, label, _ in events:
        assert last.get(track) != label
        last[track] = label
