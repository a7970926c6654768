"""``predict()``: advancing ByteTrack and SORT over frames without inference."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.tracking import SORT, ByteTrack, IoUTracker
from visionflow.tracking._table import TrackState
from visionflow.types import Detections

W, H = 40.0, 80.0
V = np.array([4.0, 2.0])  # px per frame
Factory = Callable[..., ByteTrack | SORT]
KINDS = [
    pytest.param(lambda **kw: ByteTrack(lost_buffer_frames=kw.get("buffer", 30)), id="bytetrack"),
    pytest.param(lambda **kw: SORT(max_age_frames=kw.get("buffer", 30)), id="sort"),
]


def box(centre: npt.ArrayLike) -> Detections:
    c = np.asarray(centre, np.float64).reshape(-1, 2)
    half = np.array([W / 2, H / 2])
    return Detections(
        np.concatenate([c - half, c + half], 1), np.full(len(c), 0.9), np.zeros(len(c))
    )


def centre_at(t: int) -> npt.NDArray[np.float64]:
    return np.array([100.0, 200.0]) + t * V


def warmed_up(factory: Factory, frames: int = 30, **kw: int) -> ByteTrack | SORT:
    tracker = factory(**kw)
    for t in range(frames):
        tracker.update(box(centre_at(t)))
    return tracker


@pytest.mark.parametrize("factory", KINDS)
def test_predict_moves_confirmed_boxes_at_the_estimated_velocity(factory: Factory) -> None:
    """After 30 noise-free constant-velocity frames the Kalman velocity is the
    true one to well under a pixel per frame, so k predictions land near
    ``last + k * v``."""
    tracker = warmed_up(factory)
    for k in range(1, 4):
        out = tracker.predict()
        assert out.track_id.tolist() == [1]
        got = (out.xyxy[0, :2] + out.xyxy[0, 2:]) / 2
        np.testing.assert_allclose(got, centre_at(29 + k), atol=0.5 * k)
        np.testing.assert_allclose(out.xyxy[0, 2:] - out.xyxy[0, :2], [W, H], atol=0.5)
        np.testing.assert_allclose(out.confidence, [0.9])


@pytest.mark.parametrize("factory", KINDS)
def test_predict_counts_no_miss(factory: Factory) -> None:
    """With a 2-frame buffer, 10 predicted frames keep the track; 10 empty updates do not."""
    predicted = warmed_up(factory, buffer=2)
    for _ in range(10):
        predicted.predict()
    assert predicted.num_confirmed == 1 and predicted.num_lost == 0
    assert predicted.update(box(centre_at(40))).track_id.tolist() == [1]

    missed = warmed_up(factory, buffer=2)
    for _ in range(10):
        missed.update(Detections.empty())
    assert len(missed.tracks) == 0


@pytest.mark.parametrize("factory", KINDS)
def test_detector_interval_keeps_the_id_of_a_fast_object(factory: Factory) -> None:
    """Inference every 4th frame on an object moving 12 px/frame along x.

    A 40 px wide box moves 48 px between inferences: without prediction in
    between its last box and the new one do not overlap at all. With predict()
    on the 3 skipped frames the track is where the object is and keeps id 1.
    """
    tracker = factory()
    ids = []
    for t in range(80):
        c = np.array([100.0 + 12 * t, 300.0])
        inference = t < 8 or t % 4 == 0  # warm up the velocity, then skip 3 of 4 frames
        out = tracker.update(box(c)) if inference else tracker.predict()
        ids.extend(out.track_id.tolist())
    assert set(ids) == {1}
    assert len(ids) == 80 - (2 if isinstance(tracker, SORT) else 1)


@pytest.mark.parametrize("factory", KINDS)
def test_predict_outputs_only_confirmed_tracks(factory: Factory) -> None:
    tracker = warmed_up(factory)
    tracker.update(Detections.concatenate([box(centre_at(30)), box([(900.0, 600.0)])]))
    out = tracker.predict()
    assert out.track_id.tolist() == [1]  # the new object is still tentative
    assert tracker.num_tentative == 1
    tracker.update(Detections.empty())
    assert len(tracker.predict()) == 0  # lost tracks are not reported
    assert (tracker.tracks.state == TrackState.LOST).sum() == 1


@pytest.mark.parametrize("factory", KINDS)
def test_predict_on_an_empty_tracker(factory: Factory) -> None:
    out = factory().predict()
    assert len(out) == 0 and out.track_id.dtype == np.int64


@pytest.mark.parametrize("factory", KINDS)
def test_without_predict_the_fast_object_is_lost(factory: Factory) -> None:
    """The control for the test above: the same inference frames, nothing in between.

    From frame 12 on the prediction is 36 px short of the box (IoU 4/76): the
    track is lost, and each new track dies unconfirmed, so nothing is output.
    """
    tracker = factory()
    outs = [
        tracker.update(box(np.array([100.0 + 12 * t, 300.0]))).track_id.tolist()
        for t in [*range(9), *range(12, 80, 4)]
    ]
    assert outs[8] == [1]
    assert outs[9:] == [[]] * 17


def test_iou_tracker_predict_holds_the_last_boxes() -> None:
    """No motion model: predict() reports confirmed tracks where they were last seen."""
    tracker = IoUTracker()
    for t in range(5):
        tracker.update(box(centre_at(t)))
    tracker.update(Detections.concatenate([box(centre_at(5)), box([(900.0, 600.0)])]))
    for _ in range(3):
        out = tracker.predict()
        assert out.track_id.tolist() == [1]
        np.testing.assert_allclose(out.xyxy, box(centre_at(5)).xyxy)
        np.testing.assert_allclose(out.confidence, [0.9])
    assert tracker.num_tentative == 1
