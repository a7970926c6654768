"""LineBank: every line of every stream in one pass, identical to independent LineCounters.

The equivalence tests feed a bank of several streams × several lines with
rounds built by ``Round.of_frames`` from random trajectories (streams missing
from rounds, tracks appearing, vanishing and switching ids, the same ids in
every stream) and compare each unit, crossing by crossing, with a standalone
:class:`LineCounter` per (stream, line) fed that stream's frames alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from _analytics_helpers import boxes_at, vertical

from visionflow.analytics import LineCounter, LineCrossings
from visionflow.analytics._pairs import Round
from visionflow.analytics.line_bank import LineBank
from visionflow.geometry import Line, Point, Polyline
from visionflow.types import Detections

GATE = Line(Point(0, 100), Point(200, 100))
ANCHORS = ["bottom_center", "center", "top_left"]
MODES = ["loose", "balanced", "strict"]
Crossing = tuple[int, int, int, bool]  # row, track id, class id, direction_in


def _random_line(rng: np.random.Generator) -> Line | Polyline:
    n = int(rng.choice([2, 2, 3, 4, 5]))
    while True:
        pts = rng.integers(0, 201, (n, 2)) if rng.random() < 0.5 else rng.uniform(0, 200, (n, 2))
        if (np.abs(np.diff(pts, axis=0)).sum(axis=1) > 0).all():
            break
    points = tuple(Point(float(x), float(y)) for x, y in pts.tolist())
    return Line(*points) if n == 2 and rng.random() < 0.5 else Polyline(points)


def _random_counter(rng: np.random.Generator, name: str) -> LineCounter:
    while True:
        kwargs: dict[str, object] = {
            "min_frames": int(rng.integers(1, 4)),
            "forget_frames": int(rng.choice([2, 5, 60])),
            "mode": str(rng.choice(MODES)),
            "anchor": str(rng.choice(ANCHORS)),
            "recount_window_frames": int(rng.choice([0, 10, 30])),
            "recount_radius_px": float(rng.choice([20.0, 50.0, 150.0])),
        }
        if rng.random() < 0.3:
            kwargs["direction"] = tuple(rng.normal(size=2).tolist())
        if rng.random() < 0.3:
            kwargs["class_ids"] = frozenset(rng.choice([0, 1, 2], int(rng.integers(1, 3))).tolist())
        try:
            return LineCounter(name, _random_line(rng), **kwargs)  # type: ignore[arg-type]
        except ValueError:  # a direction parallel to a single segment
            continue


@dataclass
class _Stream:
    """Random walkers of one stream, ids from 1 (the same ids in every stream)."""

    rng: np.random.Generator
    xy: np.ndarray = field(init=False)
    velocity: np.ndarray = field(init=False)
    ids: np.ndarray = field(init=False)
    classes: np.ndarray = field(init=False)
    frame: int = -1

    def __post_init__(self) -> None:
        n = int(self.rng.integers(1, 9))
        self.xy = self.rng.uniform(0, 200, (n, 2))
        self.velocity = self.rng.normal(0, 12, (n, 2))
        self.ids = np.arange(1, n + 1)
        self.classes = self.rng.integers(0, 3, n)

    def next_frame(self) -> Detections:
        rng = self.rng
        self.frame += int(rng.integers(1, 3))  # an inference interval now and then
        self.xy += self.velocity + rng.normal(0, 4, self.xy.shape)
        self.velocity[(self.xy < -20) | (self.xy > 220)] *= -1
        switch = rng.random(len(self.ids)) < 0.05  # id switch / re-acquisition
        self.ids[switch] = self.ids.max() + 1 + np.arange(int(switch.sum()))
        seen = rng.random(len(self.ids)) < 0.85
        xy = np.round(self.xy[seen]) if rng.random() < 0.5 else self.xy[seen]
        order = rng.permutation(int(seen.sum()))
        return boxes_at(
            [tuple(p) for p in xy[order].tolist()],
            self.ids[seen][order].tolist(),
            self.classes[seen][order].tolist(),
        )


def _rows(crossings: LineCrossings, offset: int = 0) -> list[Crossing]:
    return [
        (int(r) - offset, int(t), int(c), bool(d))
        for r, t, c, d in zip(
            crossings.row,
            crossings.track_id,
            crossings.class_id,
            crossings.direction_in,
            strict=True,
        )
    ]


def _round(frames: dict[int, tuple[int, Detections]], num_streams: int) -> Round:
    streams = list(frames)
    tracks = [frames[s][1] for s in streams]
    slots = np.concatenate([np.full(len(t), i, np.int32) for i, t in enumerate(tracks)])
    merged = Detections(
        np.concatenate([t.xyxy for t in tracks]),
        np.concatenate([t.confidence for t in tracks]),
        np.concatenate([t.class_id for t in tracks]),
        slots,
        np.concatenate([t.track_id for t in tracks]),
    )
    return Round.of_frames(merged, streams, [frames[s][0] for s in streams], num_streams)


@pytest.mark.parametrize("seed", range(16))
def test_bank_matches_independent_counters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_streams = 5
    streams = [_Stream(np.random.default_rng([seed, s])) for s in range(num_streams)]
    bank = LineBank()
    units: dict[int, tuple[int, LineCounter]] = {}  # unit → (stream, its twin)
    for s in range(num_streams):
        for j in range(int(rng.integers(1, 4))):
            units[bank.add(s, _random_counter(np.random.default_rng([seed, s, j]), "l"))] = (
                s,
                _random_counter(np.random.default_rng([seed, s, j]), "l"),
            )
    seen = 0
    for _ in range(120):
        present = [s for s in rng.permutation(num_streams).tolist() if rng.random() < 0.8]
        frames: dict[int, tuple[int, Detections]] = {}
        for s in present:
            tracks = streams[s].next_frame()
            frames[s] = (streams[s].frame, tracks)
        rnd = _round(frames, num_streams)
        got = bank.update(rnd)
        sizes = [len(frames[s][1]) for s in present]
        offsets = dict(zip(present, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        for unit, (s, twin) in units.items():
            if s not in frames:
                assert unit not in got
                continue
            expected = _rows(twin.update(frames[s][1], frames[s][0]))
            assert _rows(got.get(unit, LineCrossings.empty()), offsets[s]) == expected
            assert unit not in got or len(got[unit])  # only units with crossings
            seen += len(expected)
    for unit, (_, twin) in units.items():
        assert bank.counts(unit) == twin.counts()
        assert bank.num_tracks(unit) == twin.num_tracks
        assert bank.suppressed_recounts(unit) == twin.suppressed_recounts
    assert seen > 0


def _two_streams() -> tuple[LineBank, LineCounter, LineCounter]:
    bank = LineBank()
    a, b = LineCounter("a", GATE, min_frames=1), LineCounter("b", GATE, min_frames=1)
    assert (bank.add(0, a), bank.add(1, b)) == (0, 1)
    return bank, a, b


def _step(
    bank: LineBank, frame: int, per_stream: dict[int, Detections]
) -> dict[int, LineCrossings]:
    return bank.update(_round({s: (frame, t) for s, t in per_stream.items()}, 2))


def test_adopted_counter_is_a_view_of_its_unit() -> None:
    bank, a, b = _two_streams()
    for frame, y in enumerate((80, 120)):
        got = _step(bank, frame, {0: boxes_at([(100, y)], [1], [3]), 1: boxes_at([], [], [])})
    assert list(got) == [0]
    assert a.counts() == bank.counts(0) == {"in": {3: 1}, "out": {}}
    assert b.counts() == {"in": {}, "out": {}}
    assert a.num_tracks == 1
    a.reset()
    assert a.counts() == {"in": {}, "out": {}} and a.num_tracks == 0


def test_updating_an_adopted_counter_raises() -> None:
    _, a, _ = _two_streams()
    with pytest.raises(RuntimeError, match="LineBank"):
        a.update(Detections.empty(), 0)


def test_adopting_a_used_or_adopted_counter_raises() -> None:
    used = LineCounter("used", GATE)
    used.update(boxes_at([(100, 80)], [1], [0]), 0)
    with pytest.raises(ValueError, match="has state"):
        LineBank().add(0, used)
    used.reset()
    assert LineBank().add(0, used) == 0  # reset: fresh again
    with pytest.raises(ValueError, match="already belongs"):
        LineBank().add(0, used)


def test_remove_stream_forgets_its_units() -> None:
    bank, a, b = _two_streams()
    _step(bank, 0, {0: boxes_at([(100, 80)], [1], [0]), 1: boxes_at([(100, 80)], [1], [0])})
    _step(bank, 1, {0: boxes_at([(100, 120)], [1], [0]), 1: boxes_at([(100, 120)], [1], [0])})
    _step(bank, 2, {0: boxes_at([(100, 80)], [1], [0]), 1: boxes_at([(100, 80)], [1], [0])})
    bank.remove_stream(0)
    assert a.counts() == {"in": {}, "out": {}} and a.num_tracks == 0
    assert b.counts() == {"in": {0: 1}, "out": {0: 1}} and b.num_tracks == 1
    fresh = LineCounter("a2", GATE, min_frames=1)
    assert bank.add(0, fresh) == 2
    # Track 1 of stream 0 is new to the new unit: first seen below, it settles there.
    got = _step(bank, 3, {0: boxes_at([(100, 120)], [1], [0]), 1: boxes_at([(100, 120)], [1], [0])})
    assert list(got) == [1]
    assert fresh.num_tracks == 1 and fresh.counts() == {"in": {}, "out": {}}


def test_absent_stream_neither_advances_nor_forgets() -> None:
    bank = LineBank()
    counter = LineCounter("a", GATE, min_frames=1, forget_frames=2)
    bank.add(0, counter)
    bank.add(1, LineCounter("b", GATE))
    _step(bank, 0, {0: boxes_at([(100, 80)], [1], [0])})
    for frame in range(1, 10):  # stream 0 has no frame in these rounds
        _step(bank, frame, {1: boxes_at([(50, 50)], [1], [0])})
    assert counter.num_tracks == 1
    got = _step(bank, 1, {0: boxes_at([(100, 120)], [1], [0])})  # its next frame
    assert _rows(got[0]) == [(0, 1, 0, True)]


def test_reacquisition_looks_at_the_same_streams_frame_only() -> None:
    # Stream 0: track 1 crosses at (100,100) and is lost; track 2 (new) crosses
    # at the same spot: a re-acquisition, though stream 1 still shows a track 1.
    # Stream 1: the same crossing by its track 5 is its own line's: counted.
    bank, a, b = _two_streams()
    s0 = {1: vertical(100, 50, 80, 110, 120), 2: [None] * 5 + vertical(100, 95, 115, 125)}
    s1 = {1: [(30.0, 30.0)] * 8, 5: [None] * 5 + vertical(100, 95, 115, 125)}
    for frame in range(8):
        per_stream = {}
        for stream, trajectories in ((0, s0), (1, s1)):
            alive = {t: p[frame] for t, p in trajectories.items() if frame < len(p) and p[frame]}
            per_stream[stream] = boxes_at(list(alive.values()), list(alive), [0] * len(alive))
        _step(bank, frame, per_stream)
    assert a.counts() == {"in": {0: 1}, "out": {}}
    assert a.suppressed_recounts == 1
    assert b.counts() == {"in": {0: 1}, "out": {}}
    assert b.suppressed_recounts == 0
