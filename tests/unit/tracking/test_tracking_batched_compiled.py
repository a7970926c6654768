"""BatchedByteTrack's compiled batch (one kernel call per batch) equals its NumPy steps.

The compiled path orders rows by slot, splits slots into rounds, steps every
round and collects the output in one call (``_batched_kernel.update``). These
tests run it beside the NumPy steps on the crowded scenes of
``test_tracking_batched_crowded`` with rows shuffled across slots, and on the
edge cases: empty batches, batches without slots, one detection, no tracks,
several slots of one stream, skipped-inference ``predict`` in between and a
``frame_index`` outside the batch. Every output column and every table
column must be identical.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from test_tracking_batched_crowded import PARAMS, crowded_clip, next_batch, schedule
from test_tracking_compiled import assert_same_state

from visionflow.tracking._table import FIELD_NAMES
from visionflow.tracking.batched import BatchedByteTrack
from visionflow.types import Detections


def assert_same_detections(got: Detections, expected: Detections) -> None:
    for name in ("xyxy", "confidence", "class_id", "frame_index", "track_id"):
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def both(**params: object) -> tuple[BatchedByteTrack, BatchedByteTrack]:
    compiled = BatchedByteTrack(**params, compiled=True)
    compiled.warm_up()
    return compiled, BatchedByteTrack(**params, compiled=False)


def run_both(
    pair: tuple[BatchedByteTrack, BatchedByteTrack], dets: Detections, stream_ids: list[str]
) -> Detections:
    compiled, numpy = pair
    got = compiled.update(dets, stream_ids)
    assert_same_detections(got, numpy.update(dets, stream_ids))
    assert_same_state(compiled, numpy)
    return got


def shuffled(dets: Detections, rng: np.random.Generator) -> Detections:
    """The same rows in random order: slots interleaved."""
    return dets[rng.permutation(len(dets))]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("params", PARAMS.values(), ids=PARAMS.keys())
def test_shuffled_many_stream_batches_equal_numpy(params: dict[str, object], seed: int) -> None:
    n_streams, n_batches = 6, 60
    rng = np.random.default_rng(seed)
    clips = [crowded_clip(70 * seed + s, 2 * n_batches) for s in range(n_streams)]
    cursor = [0] * n_streams
    pair = both(**params)
    tracked = 0
    for b, slots in enumerate(schedule(seed, n_streams, n_batches)):
        stream_ids = [f"cam{s}" for s in slots]
        if b % 5 == 4:
            assert_same_detections(pair[0].predict(stream_ids), pair[1].predict(stream_ids))
            assert_same_state(*pair)
            continue
        dets = next_batch(clips, cursor, slots)
        tracked += len(run_both(pair, shuffled(dets, rng), stream_ids))
    assert tracked > 200


def one_detection(slot: int = 0) -> Detections:
    return Detections(
        np.array([[10.0, 20.0, 50.0, 100.0]]), np.array([0.9]), np.array([0]), np.array([slot])
    )


def empty_slots(n: int) -> tuple[Detections, list[str]]:
    return Detections.empty(), [f"cam{i}" for i in range(n)]


# Each case: batches of (detections, stream ids), run in order on a fresh pair.
EDGE_CASES: dict[str, Callable[[], list[tuple[Detections, list[str]]]]] = {
    "no_slots": lambda: [empty_slots(0)] * 3,
    "empty_batches_no_tracks": lambda: [empty_slots(2)] * 3,
    "one_detection": lambda: [(one_detection(), ["cam0"])] * 4,
    "one_detection_then_empty": lambda: [(one_detection(), ["cam0"])] * 3 + [empty_slots(1)] * 40,
    "detection_in_the_last_slot_only": lambda: [(one_detection(2), ["a", "b", "c"])] * 3,
    "one_stream_in_every_slot": lambda: (
        [(Detections.concatenate([one_detection(s) for s in range(3)]), ["cam0"] * 3)] * 3
    ),
    "same_stream_twice_and_others": lambda: (
        [(Detections.concatenate([one_detection(s) for s in (0, 2, 3)]), ["a", "b", "a", "c"])] * 3
    ),
}


@pytest.mark.parametrize("params", PARAMS.values(), ids=PARAMS.keys())
@pytest.mark.parametrize("case", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_equal_numpy(
    case: Callable[[], list[tuple[Detections, list[str]]]], params: dict[str, object]
) -> None:
    pair = both(**params)
    for dets, stream_ids in case():
        run_both(pair, dets, stream_ids)


def test_a_frame_index_outside_the_batch_raises_and_changes_nothing() -> None:
    pair = both()
    clip = crowded_clip(5, 6)
    for frame in clip[:5]:
        run_both(pair, frame[np.arange(len(frame))], ["cam0"])
    bad = clip[5][np.arange(len(clip[5]))]
    bad.frame_index[-1] = 1
    for tracker in pair:
        with pytest.raises(ValueError, match="stream_ids has 1 entries"):
            tracker.update(bad, ["cam0"])
    assert_same_state(*pair)
    run_both(pair, clip[5], ["cam0"])


def test_read_only_and_foreign_dtype_inputs_use_the_one_signature() -> None:
    from visionflow.tracking import _batched_kernel as kernel

    pair = both()
    for frame in crowded_clip(4, 5):
        dets = frame[np.arange(len(frame))]
        for name in ("xyxy", "confidence", "class_id", "frame_index"):
            getattr(dets, name).flags.writeable = False
        dets.frame_index = dets.frame_index.astype(np.int64)  # type: ignore[assignment]
        run_both(pair, dets, ["cam0"])
    assert len(kernel.update.signatures) == 1


def test_removed_stream_restarts_its_ids_in_the_compiled_batch() -> None:
    pair = both()
    clip = crowded_clip(8, 30)
    for i, frame in enumerate(clip):
        if i == 15:
            for tracker in pair:
                tracker.remove("cam0")
        got = run_both(pair, frame, ["cam0"])
        if i == 16:
            assert got.track_id.min(initial=1) == 1


PREDICT_CASES: dict[str, list[list[str]]] = {
    "no_slots": [[]],
    "unknown_stream": [["new"]],
    "one_stream": [["cam0"]] * 3,
    "one_stream_in_every_slot": [["cam0", "cam0", "cam0"]],
    "same_stream_twice_and_others": [["cam1", "cam0", "cam1", "new", "cam1"]],
}


@pytest.mark.parametrize("params", PARAMS.values(), ids=PARAMS.keys())
@pytest.mark.parametrize("batches", PREDICT_CASES.values(), ids=PREDICT_CASES.keys())
def test_predict_equals_numpy(batches: list[list[str]], params: dict[str, object]) -> None:
    pair = both(**params)
    for stream_ids in batches:  # on empty tables
        assert_same_detections(pair[0].predict(stream_ids), pair[1].predict(stream_ids))
        assert_same_state(*pair)
    clips = [crowded_clip(20 + s, 12) for s in range(2)]
    for t in range(10):
        run_both(pair, next_batch(clips, [t, t], [0, 1]), ["cam0", "cam1"])
    predicted = 0
    for stream_ids in batches:
        got = pair[0].predict(stream_ids)
        assert_same_detections(got, pair[1].predict(stream_ids))
        assert_same_state(*pair)
        predicted += len(got)
    assert predicted > 0 or not any(s.startswith("cam") for b in batches for s in b)
    run_both(pair, next_batch(clips, [10, 10], [0, 1]), ["cam0", "cam1"])


def test_warm_up_compiles_both_kernels_and_changes_nothing() -> None:
    from visionflow.tracking import _batched_kernel as kernel

    tracker = BatchedByteTrack()
    tracker.warm_up()
    assert len(tracker.tracks) == 0
    assert tracker.stream_ids == ()
    compiled = (kernel.update.signatures, kernel.predict.signatures)
    assert all(len(signatures) == 1 for signatures in compiled)
    tracker.update(crowded_clip(1, 1)[0], ["cam0"])
    tracker.predict(["cam0", "cam0"])
    assert (kernel.update.signatures, kernel.predict.signatures) == compiled


def test_tracks_is_a_copy_that_later_batches_leave_alone() -> None:
    """The compiled batches write the table into buffers in place: ``tracks`` must not
    show those buffers."""
    pair = both()
    clip = crowded_clip(12, 20)
    for frame in clip[:10]:
        run_both(pair, frame, ["cam0"])
    snapshot = pair[0].tracks
    before = {name: getattr(snapshot, name).copy() for name in FIELD_NAMES}
    for frame in clip[10:]:
        run_both(pair, frame, ["cam0"])
    for name in FIELD_NAMES:
        np.testing.assert_array_equal(getattr(snapshot, name), before[name], err_msg=name)
