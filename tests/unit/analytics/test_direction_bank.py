"""DirectionBank: every stream's detectors in one pass, identical to standalone detectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from _analytics_helpers import boxes_at

from visionflow.analytics import DirectionChanges, DirectionDetector
from visionflow.analytics._pairs import Round
from visionflow.analytics.direction_bank import DirectionBank
from visionflow.types import Detections

COMPASS = {"E": (1.0, 0.0), "S": (0.0, 1.0), "W": (-1.0, 0.0), "N": (0.0, -1.0)}
DIAGONALS = {"SE": (1.0, 1.0), "NW": (-1.0, -1.0)}
EIGHT = {**COMPASS, **DIAGONALS, "NE": (3.0, -3.0), "SW": (-2.0, 2.0)}
# Per stream: the keyword arguments of each of its detectors (labels under "directions").
STREAMS: list[list[dict[str, Any]]] = [
    [{}, {"directions": DIAGONALS, "mode": "loose", "min_frames": 1}],
    [{"directions": EIGHT, "mode": "strict", "history_frames": 3, "forget_frames": 2}],
    [
        {"max_angle_deg": 75.0, "history_frames": 1, "min_displacement_px": 0.0},
        {"class_ids": frozenset({1}), "anchor": "center", "min_frames": 2},
        {"directions": {"S": (0.0, 5.0)}, "mode": "loose", "forget_frames": 1},
    ],
    [],  # a stream without detectors
    [{"history_frames": 6, "min_frames": 4, "class_ids": frozenset({0, 2}), "anchor": "top_left"}],
]
LATE = {"history_frames": 15, "min_frames": 2}  # added mid-run: widens the history column


def detector(i: int, kwargs: dict[str, Any]) -> DirectionDetector:
    kwargs = dict(kwargs)
    directions = kwargs.pop("directions", COMPASS)
    return DirectionDetector(f"d{i}", directions, **kwargs)


@dataclass
class World:
    """Random walks of 6 tracks per stream; ids 1-6 in every stream."""

    rng: np.random.Generator
    streams: int

    def __post_init__(self) -> None:
        self.pos = self.rng.uniform(0, 500, (self.streams, 6, 2))
        self.vel = self.rng.normal(0, 6, (self.streams, 6, 2))
        self.cls = self.rng.integers(0, 3, (self.streams, 6))

    def frame(self, stream: int) -> Detections:
        """The stream's next frame: its tracks move; some are not seen, in random order."""
        self.vel[stream] += self.rng.normal(0, 2, (6, 2))
        self.pos[stream] += self.vel[stream]
        seen = np.flatnonzero(self.rng.random(6) < 0.8)
        seen = self.rng.permutation(seen)
        return boxes_at(
            self.pos[stream, seen], (seen + 1).tolist(), self.cls[stream, seen].tolist()
        )


def as_tuples(changes: DirectionChanges, tracks: Detections) -> list[tuple[Any, ...]]:
    fields = (changes.direction, changes.previous, changes.heading_deg, changes.class_id)
    ids = tracks.track_id[changes.row].tolist()
    assert ids == changes.track_id.tolist()
    return list(zip(ids, *(f.tolist() for f in fields), strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_bank_equals_one_standalone_detector_per_unit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    world = World(rng, len(STREAMS) + 1)
    bank = DirectionBank()
    # unit → (standalone twin, the bank's view of the unit, stream)
    units: dict[int, tuple[DirectionDetector, DirectionDetector, int]] = {}

    def add(stream: int, i: int, kwargs: dict[str, Any]) -> None:
        view = detector(i, kwargs)
        units[bank.add(stream, view)] = (detector(i, kwargs), view, stream)

    for s, specs in enumerate(STREAMS):
        for i, kwargs in enumerate(specs):
            add(s, i, kwargs)
    offsets = rng.integers(0, 1000, len(STREAMS) + 1)
    changes_seen = 0
    for tick in range(120):
        if tick == 40:  # a new stream whose history is longer than any so far
            add(len(STREAMS), 9, LATE)
        streams = [s for s in range(world.streams) if rng.random() < 0.75]
        streams = rng.permutation(streams).tolist()  # slots in any stream order
        parts = [world.frame(s) for s in streams]
        for slot, part in enumerate(parts):
            part.frame_index = np.full(len(part), slot, np.int32)
        tracks = Detections.concatenate(parts) if parts else Detections.empty()
        frame_of = {s: int(tick + offsets[s]) for s in streams}
        rnd = Round.of_frames(tracks, streams, [frame_of[s] for s in streams], world.streams)
        got = bank.update(rnd)
        for unit, (alone, view, stream) in units.items():
            if stream not in frame_of:
                assert unit not in got
                continue
            slot = streams.index(stream)
            expected = alone.update(parts[slot], frame_of[stream])
            result = got.get(unit)
            assert (result is None) == (len(expected) == 0)
            if result is not None:
                assert (tracks.frame_index[result.row] == slot).all()
                assert as_tuples(result, tracks) == as_tuples(expected, parts[slot])
                changes_seen += len(result)
            states, want = view.states(), alone.states()
            assert states.track_id.tolist() == want.track_id.tolist()
            assert states.direction.tolist() == want.direction.tolist()
            assert view.num_tracks == alone.num_tracks
    assert changes_seen > 50


def test_remove_stream_forgets_its_detectors() -> None:
    bank = DirectionBank()
    a, b = detector(0, {"min_frames": 1}), detector(1, {"min_frames": 1})
    bank.add(0, a)
    unit_b = bank.add(1, b)
    for f in range(4):  # track 1 walks East in both streams
        both = boxes_at([(10.0 * f, 0.0), (10.0 * f, 0.0)], [1, 1], [0, 0])
        both.frame_index = np.asarray([0, 1], np.int32)
        bank.update(Round.of_frames(both, [0, 1], [f, f], 2))
    assert a.num_tracks == b.num_tracks == 1
    bank.remove_stream(0)
    assert a.num_tracks == 0 and len(a.states().track_id) == 0
    assert b.states().direction.tolist() == [0]
    # Stream 0 has no detector any more: its tracks are ignored, stream 1 goes on.
    both = boxes_at([(0.0, 0.0), (40.0, 0.0)], [1, 1], [0, 0])
    both.frame_index = np.asarray([0, 1], np.int32)
    assert bank.update(Round.of_frames(both, [0, 1], [4, 4], 2)) == {}
    assert a.num_tracks == 0 and b.num_tracks == 1
    bank.remove_stream(1)
    assert b.num_tracks == 0 and unit_b == 1


def test_adopting_a_detector_with_state_or_a_bank_is_refused() -> None:
    used = detector(0, {})
    used.update(boxes_at([(0.0, 0.0)], [1], [0]), 0)
    with pytest.raises(ValueError, match="holds 1 tracks"):
        DirectionBank().add(0, used)
    used.reset()
    adopted = DirectionBank()
    adopted.add(0, used)  # fresh again after reset()
    with pytest.raises(ValueError, match="already belongs to a DirectionBank"):
        DirectionBank().add(1, used)


def test_updating_an_adopted_detector_is_refused() -> None:
    adopted = detector(0, {})
    DirectionBank().add(0, adopted)
    with pytest.raises(RuntimeError, match=r"belongs to a DirectionBank.*update"):
        adopted.update(boxes_at([(0.0, 0.0)], [1], [0]), 0)


def test_reset_of_a_view_forgets_only_its_unit() -> None:
    bank = DirectionBank()
    a, b = detector(0, {}), detector(1, {})
    bank.add(0, a)
    bank.add(0, b)
    bank.update(Round.of_frames(boxes_at([(0.0, 0.0), (5.0, 5.0)], [1, 2], [0, 0]), [0], [0], 1))
    assert a.num_tracks == b.num_tracks == 2
    a.reset()
    assert a.num_tracks == 0 and b.states().track_id.tolist() == [1, 2]


def test_a_round_without_units_or_tracks_changes_nothing() -> None:
    bank = DirectionBank()
    assert bank.update(Round.of_frames(Detections.empty(), [0], [0], 1)) == {}
    bank.add(0, detector(0, {}))
    rnd = Round.of_frames(boxes_at([(0.0, 0.0)], [1], [0]), [0], [0], 2)
    assert bank.update(rnd) == {}
    assert bank.update(Round.of_frames(Detections.empty(), [1], [5], 2)) == {}
