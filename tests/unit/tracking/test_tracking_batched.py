"""BatchedByteTrack gives exactly MultiStreamTracker(ByteTrack)'s output, batch by batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.errors import ConfigError
from visionflow.tracking import ByteTrack, MultiStreamTracker
from visionflow.tracking.batched import BatchedByteTrack
from visionflow.types import Detections

F64 = npt.NDArray[np.float64]


def stream_clip(seed: int, n_frames: int, n_objects: int) -> list[Detections]:
    """A noisy scene: objects at constant velocity with misses, low scores,
    two classes, jitter and false positives; seeded."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(50, 600, (n_objects, 2))
    vel = rng.uniform(-6, 6, (n_objects, 2))
    size = np.stack([rng.uniform(30, 60, n_objects), rng.uniform(60, 140, n_objects)], 1)
    classes = rng.integers(0, 2, n_objects)
    frames = []
    for t in range(n_frames):
        keep = rng.random(n_objects) > 0.1
        c = start[keep] + t * vel[keep] + rng.normal(0, 1.5, (int(keep.sum()), 2))
        half = size[keep] / 2
        xyxy = np.concatenate([c - half, c + half], 1)
        score = np.where(
            rng.random(len(c)) < 0.2, rng.uniform(0.15, 0.5, len(c)), rng.uniform(0.6, 0.95, len(c))
        )
        n_false = rng.poisson(0.7)
        fp = rng.uniform(0, 600, (n_false, 2))
        xyxy = np.concatenate([xyxy, np.concatenate([fp, fp + 50], 1)])
        score = np.concatenate([score, rng.uniform(0.1, 0.8, n_false)])
        cls = np.concatenate([classes[keep], rng.integers(0, 2, n_false)])
        order = rng.permutation(len(score))
        frames.append(Detections(xyxy[order], score[order], cls[order]))
    return frames


def batch(parts: list[Detections], shuffle: bool = True) -> Detections:
    """Put ``parts[i]`` in slot ``i`` (rows shuffled across slots unless told not to)."""
    placed = []
    for slot, part in enumerate(parts):
        copy = part[np.arange(len(part))]
        copy.frame_index = np.full(len(part), slot, np.int32)
        placed.append(copy)
    shuffled = Detections.concatenate(placed)
    if not shuffle:
        return shuffled
    return shuffled[np.random.default_rng(len(shuffled)).permutation(len(shuffled))]


def schedule_fixed(n_streams: int, n_batches: int) -> list[list[int]]:
    return [list(range(n_streams))] * n_batches


def schedule_irregular(n_streams: int, n_batches: int) -> list[list[int]]:
    """Streams join late, skip batches, and appear twice in a batch."""
    rng = np.random.default_rng(7)
    out = []
    for b in range(n_batches):
        live = [s for s in range(n_streams) if b >= 3 * s]
        slots = [s for s in live if rng.random() > 0.2]
        if slots and rng.random() < 0.3:
            slots.insert(int(rng.integers(0, len(slots) + 1)), slots[0])
        out.append(slots)
    return out


PARAMS = {
    "defaults": {},
    "like_reference": {
        "class_aware": False,
        "assign_ids": "on_creation",
        "confirm_first_frame": True,
        "predict_tentative": False,
        "remove_duplicates": True,
        "iou_pixel_offset": 1.0,
        "lost_buffer_frames": 8,
    },
    "min_hits_1": {"min_hits": 1, "lost_buffer_frames": 3},
}


@pytest.mark.parametrize("schedule", [schedule_fixed, schedule_irregular])
@pytest.mark.parametrize("params", PARAMS.values(), ids=PARAMS.keys())
def test_identical_to_one_bytetrack_per_stream(
    params: dict[str, object], schedule: Callable[[int, int], list[list[int]]]
) -> None:
    n_streams, n_batches = 5, 60
    clips = [stream_clip(seed, 2 * n_batches, 3 + 2 * seed) for seed in range(n_streams)]
    cursor = [0] * n_streams
    reference = MultiStreamTracker(lambda: ByteTrack(**params))  # type: ignore[arg-type]
    batched = BatchedByteTrack(**params)  # type: ignore[arg-type]
    outputs = 0
    for slots in schedule(n_streams, n_batches):
        parts = []
        for s in slots:
            parts.append(clips[s][cursor[s]])
            cursor[s] += 1
        stream_ids = [f"cam{s}" for s in slots]
        expected = reference.update(batch(parts), stream_ids)
        got = batched.update(batch(parts), stream_ids)
        np.testing.assert_array_equal(got.frame_index, expected.frame_index)
        np.testing.assert_array_equal(got.xyxy, expected.xyxy)
        np.testing.assert_array_equal(got.track_id, expected.track_id)
        outputs += len(got)
    assert outputs > 500
    assert batched.stream_ids == reference.stream_ids


def test_remove_restarts_a_stream_and_predict_matches_bytetrack() -> None:
    clip = stream_clip(3, 30, 6)
    batched, single = BatchedByteTrack(), ByteTrack()
    for f in clip[:10]:
        batched.update(batch([f, f], shuffle=False), ["a", "b"])
        single.update(f)
    predicted = batched.predict(["b", "a"])
    expected = single.predict()
    for slot in (0, 1):
        part = predicted.for_frame(slot)
        np.testing.assert_allclose(part.xyxy, expected.xyxy, rtol=1e-6)
        np.testing.assert_array_equal(part.track_id, expected.track_id)
    batched.remove("a")
    assert batched.stream_ids == ("b",)
    fresh = ByteTrack()
    for f in clip[10:20]:
        got = batched.update(batch([f], shuffle=False), ["a"])
        np.testing.assert_array_equal(got.track_id, fresh.update(f).track_id)


def test_parameters_are_bytetracks_and_validated_the_same_way() -> None:
    tracker = BatchedByteTrack(lost_buffer_frames=3, min_hits=4, remove_duplicates=True)
    assert (tracker.lost_buffer_frames, tracker.min_hits, tracker.remove_duplicates) == (3, 4, True)
    assert tracker.high_threshold == ByteTrack().high_threshold
    with pytest.raises(ConfigError, match="min_hits"):
        BatchedByteTrack(min_hits=0)


def test_predict_equals_multistream_predict() -> None:
    """Skipped-inference frames interleaved with batches, with a repeated stream."""
    clips = [stream_clip(seed, 40, 5) for seed in range(3)]
    reference = MultiStreamTracker(ByteTrack)
    batched = BatchedByteTrack()
    for t in range(20):
        ids = ["c0", "c1", "c2"]
        parts = [clips[s][t] for s in range(3)]
        if t % 3 == 2:
            ids_p = ["c2", "c0", "c2"]
            expected, got = reference.predict(ids_p), batched.predict(ids_p)
        else:
            expected = reference.update(batch(parts), ids)
            got = batched.update(batch(parts), ids)
        np.testing.assert_array_equal(got.frame_index, expected.frame_index)
        np.testing.assert_allclose(got.xyxy, expected.xyxy, rtol=1e-6)
        np.testing.assert_array_equal(got.track_id, expected.track_id)
