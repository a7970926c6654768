"""Our ByteTrack gives the reference ByteTrack's ids, frame by frame.

The reference is the ByteTrack authors' ``BYTETracker`` as packaged by
``bytetracker`` (see ``bytetrack_reference.py`` for the two packaging slips the
adapter undoes). :meth:`ByteTrack.like_reference` maps its parameters:

==========================  ===========================================
reference                   ours
==========================  ===========================================
``track_thresh``            ``high_threshold``
``track_thresh + 0.1``      ``new_track_threshold``
fixed 0.1                   ``low_threshold``
``match_thresh``            ``match_threshold``
fixed 0.5 / 0.7             ``second_`` / ``unconfirmed_match_threshold``
``int(fps/30*buffer)``      ``lost_buffer_frames`` = that + 1 (removal is one frame late)
ids at creation             ``assign_ids="on_creation"``
frame-1 tracks output       ``confirm_first_frame=True``
unconfirmed not predicted   ``predict_tentative=False``
tracked/lost dedup          ``remove_duplicates=True``
``+1`` pixel IoU            ``iou_pixel_offset=1``
class-agnostic, fused       ``class_aware=False``, ``fuse_score=True``
==========================  ===========================================

With those, ids are equal on every frame of the frozen ``vtest`` detections
and of every synthetic scene. The one divergence left is a reference quirk
(an expired track re-found in the frame after its expiry is forgotten the next
time it is lost; ours keeps it for the buffer): where it fires, the test
checks that the first differing frame is exactly that case.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt
import pytest
import tracking_harness as harness

from visionflow.tracking import ByteTrack
from visionflow.types import Detections

bytetrack_reference = pytest.importorskip(
    "bytetrack_reference", reason="needs the test-only bytetracker package"
)

I64 = npt.NDArray[np.int64]
SCENE_NAMES = [s.name for s in harness.SCENES]


def ours(frames: Sequence[Detections], tracker: ByteTrack) -> list[I64]:
    return harness.ids_per_row(frames, harness.run(tracker, frames))


@cache
def ours_like_reference(clip: str, frame_rate: float, track_thresh: float) -> list[I64]:
    tracker = ByteTrack.like_reference(frame_rate=frame_rate, track_thresh=track_thresh)
    return ours(harness.clip_detections(clip), tracker)


def first_difference(a: Sequence[I64], b: Sequence[I64]) -> int | None:
    pairs = enumerate(zip(a, b, strict=True))
    return next((f for f, (x, y) in pairs if not np.array_equal(x, y)), None)


def assert_same_ids(clip: str, frame_rate: float, track_thresh: float) -> None:
    ref = bytetrack_reference.run_clip(clip, frame_rate, track_thresh)
    mine = ours_like_reference(clip, frame_rate, track_thresh)
    assert sum(int((i >= 0).sum()) for i in ref.ids) > 0, "the reference output nothing"
    diff = first_difference(ref.ids, mine)
    if diff is None:
        return
    assert ref.zombie_refinds, f"ids differ on frame {diff}: {ref.ids[diff]} vs ours {mine[diff]}"
    # The quirk: after a zombie re-find the reference drops that track when it
    # is next lost; we keep it, so we may give its id to a later detection.
    zombie_ids = {tid for _, tid in ref.zombie_refinds}
    assert diff > ref.zombie_refinds[0][0]
    changed = ref.ids[diff] != mine[diff]
    assert set(mine[diff][changed].tolist()) & zombie_ids, (
        f"frame {diff}: ours {mine[diff]} vs reference {ref.ids[diff]} is not the zombie quirk"
    )


def test_frozen_scores_avoid_the_thresholds() -> None:
    """Ours tests ``score >= t``, the reference ``score > t``: equal only if no score == t."""
    thresholds = np.array([0.1, 0.5, 0.6, 0.7], np.float32)
    clips = ["vtest", *SCENE_NAMES]
    scores = np.concatenate([d.confidence for c in clips for d in harness.clip_detections(c)])
    assert not np.isin(scores, thresholds).any()


@pytest.mark.parametrize(
    ("frame_rate", "track_thresh"),
    [pytest.param(30.0, 0.5, id="30fps-t0.5"), pytest.param(10.0, 0.6, id="10fps-t0.6")],
)
def test_vtest_ids_equal_reference(frame_rate: float, track_thresh: float) -> None:
    assert bytetrack_reference.run_clip("vtest", frame_rate, track_thresh).zombie_refinds == []
    assert_same_ids("vtest", frame_rate, track_thresh)


@pytest.mark.parametrize("scene", SCENE_NAMES)
def test_synthetic_ids_equal_reference_at_30fps(scene: str) -> None:
    ref = bytetrack_reference.run_clip(scene, 30.0, 0.5)
    assert ref.zombie_refinds == [], "no expiry-frame re-find with a 30-frame buffer"
    assert_same_ids(scene, 30.0, 0.5)


@pytest.mark.parametrize("scene", ["occlusion", "noisy_detector", "crowd"])
def test_synthetic_ids_equal_reference_up_to_its_quirk_at_10fps(scene: str) -> None:
    """A 10-frame buffer (and a higher threshold): expiries happen, and the quirk fires."""
    assert bytetrack_reference.run_clip(scene, 10.0, 0.6).zombie_refinds
    assert_same_ids(scene, 10.0, 0.6)


@pytest.mark.parametrize("clip", ["vtest", "occlusion"])
def test_numbering_on_confirmation_is_the_rank_of_reference_ids(clip: str) -> None:
    """Our default numbering is a bijection onto the reference's: ids in order of first output.

    With ``min_hits=2`` every track is confirmed on its second frame, so
    confirmation order is creation order and our dense ids must be the rank of
    the reference's (gapped) ids among those ever output.
    """
    frames = harness.clip_detections(clip)
    ref = bytetrack_reference.run_clip(clip).ids
    tracker = ByteTrack.like_reference(frame_rate=30.0)
    tracker.assign_ids = "on_confirmation"
    mine = ours(frames, tracker)
    ref_all, mine_all = np.concatenate(ref), np.concatenate(mine)
    np.testing.assert_array_equal(ref_all >= 0, mine_all >= 0)
    output = ref_all >= 0
    _, rank = np.unique(ref_all[output], return_inverse=True)
    np.testing.assert_array_equal(mine_all[output], rank + 1)


def one_box_or_none(seen: bool) -> Detections:
    """A still 40x80 px person at x=80..120 on frames where it is seen, else nothing."""
    if not seen:
        return Detections.empty()
    return Detections(np.array([[80.0, 100.0, 120.0, 180.0]]), [0.9], [0])


def test_reference_forgets_a_track_refound_in_its_expiry_frame() -> None:
    """The reference quirk on a hand-made clip; ours keeps the id (the documented behaviour).

    ``track_buffer=3`` at 30 fps: the reference removes a lost track at step 5
    of the first frame with ``frame_id - end_frame > 3``. The object is seen
    on frames 0-4 (``frame_id`` 1-5), so it is marked removed on frame 8
    (``9 - 5 = 4 > 3``) but, the bookkeeping being one frame late, is still
    matched on frame 9: the zombie re-find. Ours (``lost_buffer_frames`` 4)
    matches it there too (5 frames since its update, pruned only above 4 after
    association). Lost again on frames 10-11 and seen on 12-13, well within
    the buffer: ours re-finds id 1; the reference dropped the track on frame 10
    (its id is in the removed list), so it starts id 2, output from frame 13.
    """
    seen = {0, 1, 2, 3, 4, 9, 12, 13}
    frames = [one_box_or_none(f in seen) for f in range(14)]
    ref = bytetrack_reference.run_reference(frames, track_buffer=3, frame_rate=30.0)
    mine = ours(frames, ByteTrack.like_reference(track_buffer=3, frame_rate=30.0))
    assert ref.zombie_refinds == [(9, 1)]
    expected = [[1]] * 5 + [[]] * 4 + [[1], [], [], [1], [1]]
    assert [i.tolist() for i in mine] == expected
    assert [i.tolist() for i in ref.ids] == [*expected[:12], [-1], [2]]
