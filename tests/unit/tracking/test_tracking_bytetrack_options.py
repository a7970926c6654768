"""ByteTrack's reference-convention options, each on a case that isolates it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.errors import ConfigError
from visionflow.tracking import ByteTrack, KalmanFilterXYAH, iou_matrix, xyxy_to_xyah
from visionflow.types import Detections

W, H = 40.0, 80.0


def boxes(centres: npt.ArrayLike) -> npt.NDArray[np.float64]:
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    half = np.array([W / 2, H / 2])
    return np.concatenate([c - half, c + half], axis=1)


def dets(centres: npt.ArrayLike, score: float = 0.9) -> Detections:
    b = boxes(centres)
    return Detections(b, np.full(len(b), score), np.zeros(len(b)))


@pytest.mark.parametrize(
    ("assign_ids", "expected"),
    [("on_confirmation", [[], [], [1], [1]]), ("on_creation", [[], [], [2], [2]])],
)
def test_assign_ids_on_creation_spends_ids_on_unconfirmed_tracks(
    assign_ids: str, expected: list[list[int]]
) -> None:
    """A one-frame blip on frame 0 (never confirmed), then a person from frame 1.

    On creation the blip takes id 1 and the person id 2; on confirmation the
    blip never gets an id. Output starts on the person's second frame.
    """
    tracker = ByteTrack(assign_ids=assign_ids)  # type: ignore[arg-type]
    seq = [dets([(600, 400)]), Detections.empty()] + [dets([(100, 100)])] * 3
    outs = [tracker.update(f).track_id.tolist() for f in seq]
    assert outs[1:] == expected


@pytest.mark.parametrize(("confirm", "first"), [(False, []), (True, [1, 2])])
def test_confirm_first_frame(confirm: bool, first: list[int]) -> None:
    tracker = ByteTrack(confirm_first_frame=confirm)
    frame = dets([(100, 100), (400, 100)])
    assert tracker.update(frame).track_id.tolist() == first
    assert tracker.update(frame).track_id.tolist() == [1, 2]
    tracker.update(Detections.empty())
    late = ByteTrack(confirm_first_frame=confirm)
    late.update(Detections.empty())
    assert len(late.update(frame)) == 0, "only tracks born on the first frame are exempt"


@pytest.mark.parametrize("predict_tentative", [True, False])
def test_predict_tentative_decides_the_prior_of_the_second_match(predict_tentative: bool) -> None:
    """The track's state after frame 2 is one Kalman update of its initial state,
    predicted one frame first or not (the reference does not)."""
    z0, z1 = xyxy_to_xyah(boxes([(100, 100)])), xyxy_to_xyah(boxes([(104, 102)]))
    kf = KalmanFilterXYAH()
    prior = kf.initiate(z0)
    if predict_tentative:
        prior = kf.predict(*prior)
    expected_mean, _ = kf.update(*prior, z1)
    tracker = ByteTrack(predict_tentative=predict_tentative)
    tracker.update(dets([(100, 100)]))
    tracker.update(dets([(104, 102)]))
    np.testing.assert_allclose(tracker.tracks.mean, expected_mean, rtol=1e-12)


@pytest.mark.parametrize(("remove", "lost_left"), [(False, 1), (True, 0)])  # buffer 30 > 29
def test_remove_duplicates_drops_a_younger_lost_track_under_a_tracked_one(
    remove: bool, lost_left: int
) -> None:
    """A walks right at 5 px/frame for 10 frames, then is not detected; its lost
    track drifts on at ~5 px/frame over B, still since frame 0 at x = 200. When
    the drifting box covers B's with IoU > 0.85, the reference drops the
    younger of the two (A: 9 frames old at its last update, B: older)."""
    tracker = ByteTrack(remove_duplicates=remove, class_aware=False)
    b = (200.0, 300.0)
    for t in range(40):
        a = [(100.0 + 5 * t, 300.0)] if t < 10 else []
        tracker.update(dets([*a, b]))
    assert tracker.num_lost == lost_left
    assert tracker.num_confirmed == 1
    assert tracker.tracks.track_id.tolist() == ([2] if remove else [1, 2])  # A is id 1


def test_iou_pixel_offset_matches_the_integer_pixel_formula() -> None:
    """[0,0,9,9] vs [5,0,14,9]: offset 1 gives widths 10, overlap 5 -> 50 / 150;
    offset 0 gives widths 9, overlap 4 -> 36 / 126."""
    a, b = [[0, 0, 9, 9]], [[5, 0, 14, 9]]
    np.testing.assert_allclose(iou_matrix(a, b, 1.0), [[50 / 150]], rtol=1e-6)
    np.testing.assert_allclose(iou_matrix(a, b), [[36 / 126]], rtol=1e-6)
    np.testing.assert_allclose(iou_matrix(a, a, 1.0), [[1.0]])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"high_threshold": 0.5, "new_track_threshold": 0.6, "lost_buffer_frames": 31}),
        (
            {"track_thresh": 0.6, "track_buffer": 30, "frame_rate": 10.0},
            {"high_threshold": 0.6, "new_track_threshold": 0.7, "lost_buffer_frames": 11},
        ),
        ({"track_buffer": 60, "frame_rate": 25.0}, {"lost_buffer_frames": 51}),
        ({"match_thresh": 0.9}, {"match_threshold": 0.9}),
    ],
)
def test_like_reference_maps_the_parameters(
    kwargs: dict[str, float], expected: dict[str, float]
) -> None:
    """Buffer: ``int(fps / 30 * track_buffer)`` + 1 (the reference removes one frame late)."""
    tracker = ByteTrack.like_reference(**kwargs)  # type: ignore[arg-type]
    for name, value in expected.items():
        assert getattr(tracker, name) == pytest.approx(value)
    fixed = {
        "low_threshold": 0.1,
        "second_match_threshold": 0.5,
        "unconfirmed_match_threshold": 0.7,
        "min_hits": 2,
        "class_aware": False,
        "fuse_score": True,
        "assign_ids": "on_creation",
        "confirm_first_frame": True,
        "predict_tentative": False,
        "remove_duplicates": True,
        "iou_pixel_offset": 1.0,
    }
    assert {name: getattr(tracker, name) for name in fixed} == fixed


@pytest.mark.parametrize(
    "kwargs", [{"assign_ids": "on_birth"}, {"iou_pixel_offset": 2.0}, {"iou_pixel_offset": -1.0}]
)
def test_invalid_options_name_the_option(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        ByteTrack(**kwargs)  # type: ignore[arg-type]
