"""detector.interval: the model sees every (interval+1)-th frame, the tracker predicts between."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from visionflow.pipeline import skipping
from visionflow.tracking import BatchedByteTrack, ByteTrack, MultiStreamTracker
from visionflow.types import Detections, Frame, FrameBatch

IMAGE = np.zeros((4, 4, 3), np.uint8)
SPEED_PX = 2.0  # px per frame: boxes of consecutive inferences still overlap (IoU >= 0.6)


def box_at(frame_number: int) -> list[float]:
    x = 100.0 + SPEED_PX * frame_number
    return [x, 200.0, x + 40.0, 300.0]


class TrajectoryDetector:
    """Stands in for the model: one person box on the known straight path, per frame."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def detect_frames(self, frames: Sequence[Frame]) -> Detections:
        self.seen += [(f.stream_id, f.frame_number) for f in frames]
        return Detections(
            np.array([box_at(f.frame_number) for f in frames], np.float32).reshape(-1, 4),
            np.full(len(frames), 0.9, np.float32),
            np.zeros(len(frames), np.int32),
            np.arange(len(frames), dtype=np.int32),
        )


def batches(streams: list[str], frames_each: int, size: int) -> list[FrameBatch]:
    frames = [Frame(s, n, n / 30, 0, IMAGE) for n in range(frames_each) for s in streams]
    return [FrameBatch(tuple(frames[i : i + size])) for i in range(0, len(frames), size)]


@pytest.mark.parametrize("tracker_kind", ["batched", "per_stream"])
@pytest.mark.parametrize(("interval", "batch_size"), [(0, 4), (2, 4), (3, 1), (4, 6)])
def test_skipped_frames_are_predicted_and_keep_the_id(
    tracker_kind: str, interval: int, batch_size: int
) -> None:
    tracker = BatchedByteTrack() if tracker_kind == "batched" else MultiStreamTracker(ByteTrack)
    detector = TrajectoryDetector()
    streams = ["a", "b"]
    out: dict[tuple[str, int], Detections] = {}
    for batch in batches(streams, 40, batch_size):
        detections = skipping.detect(detector, batch, interval)
        tracks = skipping.track(tracker, batch, detections, interval)
        for slot, frame in enumerate(batch.frames):
            out[(frame.stream_id, frame.frame_number)] = tracks.for_frame(slot)
    # the model ran on frames 0, interval+1, ... of each stream, and only on those
    assert sorted(detector.seen) == [(s, n) for s in streams for n in range(0, 40, interval + 1)]
    for s in streams:
        confirmed = [n for n in range(40) if len(out[(s, n)])]
        first = confirmed[0]
        assert confirmed == list(range(first, 40))  # a box on every frame once confirmed
        assert {int(out[(s, n)].track_id[0]) for n in confirmed} == {1}  # one id throughout
        for n in confirmed[5:]:  # predicted boxes follow the motion (Kalman has converged)
            assert abs(float(out[(s, n)].xyxy[0, 0]) - box_at(n)[0]) < 1.5 * SPEED_PX


def test_runs_keep_each_streams_frames_in_time_order() -> None:
    frames = [Frame("a", n, 0.0, 0, IMAGE) for n in range(6)]
    mask = skipping.inferred_slots(FrameBatch(tuple(frames)), 2)
    assert mask.tolist() == [True, False, False, True, False, False]
    assert skipping._runs(mask) == [(0, 1), (1, 3), (3, 4), (4, 6)]
