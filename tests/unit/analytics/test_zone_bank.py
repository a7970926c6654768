"""ZoneBank: every zone of every stream in one pass, identical to one ZoneCounter per zone.

The equivalence tests run random scenes: 5 streams with 1-3 zones each (square,
concave L, triangle, concave star; random class filters, anchors, min_frames,
forget_frames, loitering, overcrowding with hysteresis, id-switch recount),
the same track ids in every stream, tracks that appear, vanish and switch ids,
and streams that skip rounds and frames. Each round goes to one ZoneBank
(``Round.of_frames``, slots in random order) and each stream's frame to an
independent standalone ZoneCounter per zone; every result must be the same.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from _analytics_helpers import boxes_at

from visionflow.analytics import ZoneCounter, ZoneUpdate
from visionflow.analytics._pairs import Round
from visionflow.analytics._polygon import (
    inside_polygon,
    inside_polygons,
    polygon_edges,
    stack_edges,
)
from visionflow.analytics.zone_bank import ZoneBank
from visionflow.geometry import Point, Polygon
from visionflow.types import Detections

VERTICES = {
    "square": [(0, 0), (100, 0), (100, 100), (0, 100)],
    "l_shape": [(0, 0), (60, 0), (60, 20), (20, 20), (20, 60), (0, 60)],
    "triangle": [(10, 10), (90, 30), (30, 90)],
    "star": [
        *[(50, 0), (60, 35), (100, 40), (65, 60), (80, 100)],
        *[(50, 75), (20, 100), (35, 60), (0, 40), (40, 35)],
    ],
}
ANCHORS = ["bottom_center", "center", "top_left"]
NUM_STREAMS, ROUNDS = 5, 40


def polygon(name: str) -> Polygon:
    return Polygon(tuple(Point(x, y) for x, y in VERTICES[name]))


def random_zone(rng: np.random.Generator, i: int) -> tuple[str, dict[str, Any]]:
    """A zone name and its ZoneCounter keyword arguments."""
    pick = lambda *options: options[int(rng.integers(len(options)))]  # noqa: E731
    kwargs = {
        "class_ids": pick(None, None, frozenset({0}), frozenset({0, 2})),
        "anchor": pick(*ANCHORS),
        "min_frames": int(rng.integers(1, 4)),
        "forget_frames": int(rng.integers(1, 8)),
        "loitering_frames": pick(None, 1, 3, 6),
        "overcrowding_threshold": pick(None, 1, 2, 3),
        "overcrowding_frames": int(rng.integers(1, 4)),
        "recount_window_frames": pick(0, 2, 5),
        "recount_radius_px": pick(5.0, 30.0),
    }
    return f"z{i}", {"polygon": polygon(pick(*VERTICES)), **kwargs}


class Scene:
    """Random tracks of several streams; ids 1, 2, … in every stream."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.tracks = [int(rng.integers(1, 9)) for _ in range(NUM_STREAMS)]
        self.pos = [rng.integers(-20, 121, (k, 2)).astype(float) for k in self.tracks]
        self.ids = [np.arange(1, k + 1) for k in self.tracks]
        self.next_id = [k + 1 for k in self.tracks]
        self.frame = [-1] * NUM_STREAMS

    def frame_of(self, s: int) -> tuple[Detections, int]:
        """The next frame of stream ``s``: its tracks (rows in random order) and number."""
        rng, k = self.rng, self.tracks[s]
        self.pos[s] += rng.integers(-15, 16, (k, 2))
        switch = rng.random(k) < 0.04  # id switches: a new id at the same spot
        self.ids[s][switch] = self.next_id[s] + np.arange(int(switch.sum()))
        self.next_id[s] += int(switch.sum())
        visible = np.flatnonzero(rng.random(k) < (0.0 if rng.random() < 0.05 else 0.8))
        rng.shuffle(visible)
        self.frame[s] += int(rng.integers(1, 3))  # skipped frames too
        points = [(float(x), float(y)) for x, y in self.pos[s][visible]]
        classes = (self.ids[s][visible] % 3).tolist()
        return boxes_at(points, self.ids[s][visible].tolist(), classes), self.frame[s]


def round_of(frames: dict[int, tuple[Detections, int]], order: list[int]) -> Round:
    parts = [frames[s][0] for s in order]
    for slot, part in enumerate(parts):
        part.frame_index[:] = slot
    tracks = Detections.concatenate(parts)
    return Round.of_frames(tracks, order, [frames[s][1] for s in order], NUM_STREAMS)


def summary(update: ZoneUpdate, offset: int) -> tuple[Any, ...]:
    """Everything an update reports, rows made local to the stream's frame."""
    local = lambda rows: [r - offset if r >= 0 else -1 for r in rows.tolist()]  # noqa: E731
    e, x, lo = update.entered, update.exited, update.loitering
    c = update.crowding
    return (
        (local(e.row), e.track_id.tolist(), e.class_id.tolist()),
        (local(x.row), x.track_id.tolist(), x.class_id.tolist(), x.dwell_frames.tolist()),
        x.entry_track_id.tolist(),
        (local(lo.row), lo.track_id.tolist(), lo.class_id.tolist(), lo.dwell_frames.tolist()),
        None if c is None else (c.state, c.occupancy, c.start_frame, c.duration_frames),
        list(update.occupancy.items()),
    )


def reports(update: ZoneUpdate) -> bool:
    return bool(
        len(update.entered) or len(update.exited) or len(update.loitering) or update.crowding
    )


def run_scene(seed: int) -> Counter[str]:
    """One random scene through a bank and through standalone counters; assert equal."""
    rng = np.random.default_rng(seed)
    bank = ZoneBank()
    units: list[tuple[int, ZoneCounter, ZoneCounter]] = []  # (stream, adopted, reference)
    for s in range(NUM_STREAMS):
        for i in range(int(rng.integers(1, 4))):
            name, kwargs = random_zone(rng, i)
            adopted, reference = ZoneCounter(name, **kwargs), ZoneCounter(name, **kwargs)
            assert bank.add(s, adopted) == len(units)
            units.append((s, adopted, reference))
    scene, seen = Scene(rng), Counter[str]()
    for _ in range(ROUNDS):
        present = [s for s in range(NUM_STREAMS) if rng.random() < 0.75]
        rng.shuffle(present)
        frames = {s: scene.frame_of(s) for s in present}
        results = bank.update(round_of(frames, present))
        sizes = [len(frames[s][0]) for s in present]
        offsets = dict(zip(present, (np.cumsum(sizes, dtype=int) - sizes).tolist(), strict=True))
        for unit, (s, adopted, reference) in enumerate(units):
            if s in frames:
                want = reference.update(*frames[s])
                got = results.get(unit)
                assert (got is not None) == reports(want), (seed, unit)
                if got is not None:
                    assert summary(got, offsets[s]) == summary(want, 0), (seed, unit)
                    seen.update(_kinds(want))
            else:
                assert unit not in results
            assert bank.occupancy(unit) == adopted.occupancy() == reference.occupancy()
            assert adopted.num_tracks == reference.num_tracks
            assert adopted.handovers == reference.handovers
            assert _active(adopted) == _active(reference)
    seen["handovers"] += sum(r.handovers for _, _, r in units)
    return seen


def _kinds(update: ZoneUpdate) -> list[str]:
    kinds = ["entry"] * len(update.entered) + ["loitering"] * len(update.loitering)
    kinds += ["exit" if row >= 0 else "forgotten" for row in update.exited.row.tolist()]
    return kinds + ([f"crowding_{update.crowding.state}"] if update.crowding else [])


def _active(counter: ZoneCounter) -> bool | None:
    return None if counter.crowding is None else counter.crowding.active


@pytest.mark.parametrize("seeds", [range(0, 15), range(15, 30), range(30, 45)])
def test_bank_equals_one_counter_per_zone(seeds: range) -> None:
    seen = sum((run_scene(seed) for seed in seeds), Counter[str]())
    # The scenes exercise every rule, not only the quiet path.
    kinds = ("entry", "exit", "forgotten", "loitering", "crowding_start", "crowding_end")
    assert all(seen[k] > 0 for k in (*kinds, "handovers")), seen


def _square_counter(**kwargs: Any) -> ZoneCounter:
    return ZoneCounter("plaza", polygon("square"), min_frames=1, **kwargs)


def _round(streams: list[int], frame: int, inside: int, num_streams: int = 2) -> Round:
    """Each stream's frame holds ``inside`` tracks in the square, ids 1…"""
    parts = []
    for slot in range(len(streams)):
        part = boxes_at([(50.0, 50.0)] * inside, list(range(1, inside + 1)), [0] * inside)
        part.frame_index[:] = slot
        parts.append(part)
    tracks = Detections.concatenate(parts)
    return Round.of_frames(tracks, streams, [frame] * len(streams), num_streams)


def test_results_only_for_units_with_something_to_report() -> None:
    bank = ZoneBank()
    a, b = _square_counter(), _square_counter(overcrowding_threshold=2)
    assert (bank.add(0, a), bank.add(1, b)) == (0, 1)
    results = bank.update(_round([0, 1], 0, 2))
    assert sorted(results) == [0, 1]
    assert results[1].crowding is not None and results[1].crowding.state == "start"
    assert results[1].entered.row.tolist() == [2, 3]  # rows of the round's tracks
    assert bank.update(_round([0, 1], 1, 2)) == {}  # nothing new: nothing reported
    assert a.occupancy() == b.occupancy() == {0: 2}
    assert b.crowding is not None and b.crowding.active
    assert (b.crowding.threshold, b.crowding.min_frames) == (2, 1)


def test_remove_stream_forgets_its_units_silently() -> None:
    bank = ZoneBank()
    gone, kept = _square_counter(overcrowding_threshold=1), _square_counter()
    bank.add(0, gone)
    bank.add(1, kept)
    bank.update(_round([0, 1], 0, 2))
    bank.remove_stream(0)
    assert (gone.num_tracks, gone.occupancy(), gone.crowding is not None) == (0, {}, True)
    assert gone.crowding is not None and not gone.crowding.active
    results = bank.update(_round([0, 1], 1, 0))  # stream 0's rows would be ignored
    assert (sorted(results), kept.num_tracks, kept.occupancy()) == ([], 2, {0: 2})
    late = _square_counter()
    assert bank.add(2, late) == 2  # indices of removed units stay taken
    assert sorted(bank.update(_round([0, 1, 2], 2, 1, num_streams=3))) == [2]


def test_reset_of_an_adopted_counter_forgets_only_its_unit() -> None:
    bank = ZoneBank()
    first, second = _square_counter(), _square_counter()
    bank.add(0, first)
    bank.add(0, second)
    bank.update(_round([0], 0, 3, num_streams=1))
    first.reset()
    assert (first.num_tracks, second.num_tracks) == (0, 3)
    assert (bank.num_tracks(0), bank.occupancy(1)) == (0, {0: 3})


def test_adopting_a_used_counter_is_refused_until_reset() -> None:
    counter = _square_counter()
    counter.update(boxes_at([(50.0, 50.0)], [1], [0]), 0)
    bank = ZoneBank()
    with pytest.raises(ValueError, match="ZoneCounter 'plaza' has state"):
        bank.add(0, counter)
    counter.reset()
    assert bank.add(0, counter) == 0


def test_adopting_a_counter_of_a_bank_is_refused() -> None:
    counter = _square_counter()
    ZoneBank().add(0, counter)
    with pytest.raises(ValueError, match="already belongs to a ZoneBank"):
        ZoneBank().add(0, counter)


@pytest.mark.parametrize("stream", [-1, True, 1.0])
def test_bad_stream_index_is_refused(stream: Any) -> None:
    with pytest.raises(ValueError, match="stream must be an int >= 0"):
        ZoneBank().add(stream, _square_counter())


def test_updating_an_adopted_counter_is_refused() -> None:
    counter = _square_counter()
    ZoneBank().add(3, counter)
    with pytest.raises(RuntimeError, match="update the bank"):
        counter.update(Detections.empty(), 0)


def test_mixed_polygons_are_bit_identical_to_one_polygon_at_a_time() -> None:
    # Padded edges must not change a single answer, on edges and vertices too.
    rng = np.random.default_rng(1)
    edges = [polygon_edges(np.asarray(v, np.float64)) for v in VERTICES.values()]
    which = rng.integers(0, len(edges), 4000).astype(np.intp)
    points = rng.integers(-5, 106, (4000, 2)).astype(np.float64)
    points[:500] += rng.uniform(-1e-9, 1e-9, (500, 2))
    got = inside_polygons(points, stack_edges(edges), which)
    for i, e in enumerate(edges):
        assert got[which == i].tolist() == inside_polygon(points[which == i], e).tolist()
