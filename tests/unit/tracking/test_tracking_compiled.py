"""The compiled ByteTrack step (numba) equals the NumPy steps, value for value.

Both run on the crowded scenes of ``test_tracking_batched_crowded`` (integer
boxes, exact ties, duplicated detections, contested groups that reach the
assignment solver), with irregular many-stream schedules and every parameter
set there, plus thresholds that sit exactly on the scores. After every frame
each column of the track table must be identical, Kalman means and
covariances bit for bit, as must the output rows and ids.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from test_tracking_batched_crowded import PARAMS, crowded_clip, next_batch, schedule

from visionflow.tracking import ByteTrack
from visionflow.tracking._lsap import solve_lsap
from visionflow.tracking._table import FIELD_NAMES
from visionflow.tracking.batched import BatchedByteTrack
from visionflow.types import Detections

CASES = {
    **PARAMS,
    # The clips' scores are 0.3, 0.55, 0.7 and 0.9: every split lands on a score,
    # which float32(0.55) >= 0.55 decides (NumPy compares float32 scores in float32).
    "thresholds_on_scores": {
        "low_threshold": 0.3,
        "high_threshold": 0.55,
        "new_track_threshold": 0.7,
        "min_hits": 1,
    },
}


def assert_same_state(
    compiled: ByteTrack | BatchedByteTrack, numpy: ByteTrack | BatchedByteTrack
) -> None:
    for name in FIELD_NAMES:
        got, expected = getattr(compiled._tracks, name), getattr(numpy._tracks, name)
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    np.testing.assert_array_equal(compiled._next_ids, numpy._next_ids)
    np.testing.assert_array_equal(compiled._frame_counts, numpy._frame_counts)


def assert_same_rows(got: Detections, expected: Detections) -> None:
    np.testing.assert_array_equal(got.frame_index, expected.frame_index)
    np.testing.assert_array_equal(got.xyxy, expected.xyxy)
    np.testing.assert_array_equal(got.track_id, expected.track_id)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("params", CASES.values(), ids=CASES.keys())
def test_one_stream_compiled_equals_numpy(params: dict[str, object], seed: int) -> None:
    compiled = ByteTrack(**params, compiled=True)  # type: ignore[arg-type]
    numpy = ByteTrack(**params, compiled=False)  # type: ignore[arg-type]
    confirmed = 0
    for frame in crowded_clip(seed, 150):
        got, expected = compiled.update(frame), numpy.update(frame)
        assert_same_rows(got, expected)
        assert_same_state(compiled, numpy)
        confirmed += len(got)
    assert confirmed > 300


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("params", CASES.values(), ids=CASES.keys())
def test_many_streams_compiled_equals_numpy(params: dict[str, object], seed: int) -> None:
    """Irregular schedules: late joins, skipped batches, a stream twice in a batch,
    and frames without inference (``predict``) in between."""
    n_streams, n_batches = 8, 50
    clips = [crowded_clip(50 * seed + s, 2 * n_batches) for s in range(n_streams)]
    cursor = [0] * n_streams
    compiled = BatchedByteTrack(**params, compiled=True)
    numpy = BatchedByteTrack(**params, compiled=False)
    for b, slots in enumerate(schedule(seed, n_streams, n_batches)):
        stream_ids = [f"cam{s}" for s in slots]
        if b % 7 == 6:
            assert_same_rows(compiled.predict(stream_ids), numpy.predict(stream_ids))
            assert_same_state(compiled, numpy)
            continue
        dets = next_batch(clips, cursor, slots)
        assert_same_rows(compiled.update(dets, stream_ids), numpy.update(dets, stream_ids))
        assert_same_state(compiled, numpy)
    if seed == 0:
        compiled.remove("cam1")
        numpy.remove("cam1")
        assert_same_state(compiled, numpy)


def test_removed_stream_starts_afresh_in_both() -> None:
    clip = crowded_clip(7, 40)
    compiled, numpy = BatchedByteTrack(compiled=True), BatchedByteTrack(compiled=False)
    for i, frame in enumerate(clip):
        if i == 20:
            compiled.remove("cam0")
            numpy.remove("cam0")
        rows = frame[np.arange(len(frame))]
        assert_same_rows(compiled.update(rows, ["cam0"]), numpy.update(rows, ["cam0"]))
        assert_same_state(compiled, numpy)


def test_empty_frames_and_empty_tables() -> None:
    compiled, numpy = ByteTrack(compiled=True), ByteTrack(compiled=False)
    clip = crowded_clip(3, 30)
    for i, frame in enumerate(clip):
        dets = Detections.empty() if i % 4 == 0 else frame
        assert_same_rows(compiled.update(dets), numpy.update(dets))
        assert_same_state(compiled, numpy)
    assert compiled.num_confirmed + compiled.num_lost > 0


def random_costs(rng: np.random.Generator, kind: int) -> np.ndarray:
    rows, cols = (int(x) for x in rng.integers(1, 8, 2))
    if kind == 0:  # small integers: ties everywhere
        return rng.integers(0, 3, (rows, cols)).astype(np.float64)
    if kind == 1:  # a threshold filler among float32 costs, as the tracker builds them
        filler = rng.random((rows, cols)) < 0.5
        costs = rng.random((rows, cols)).astype(np.float32)
        return np.where(filler, np.float32(0.8), costs).astype(np.float64)
    if kind == 2:  # one decimal: ties between whole assignments
        return np.round(rng.random((rows, cols)), 1) + 0.3
    return rng.random((rows, cols))


def test_lsap_makes_scipys_choices() -> None:
    """Same pairs as ``scipy.optimize.linear_sum_assignment``, ties included,
    on wide, tall and square matrices."""
    rng = np.random.default_rng(0)
    tied = 0
    for trial in range(3000):
        cost = random_costs(rng, trial % 4)
        rows, cols = linear_sum_assignment(cost)
        col_of_row = solve_lsap(cost)
        got = sorted((int(r), int(c)) for r, c in enumerate(col_of_row) if c >= 0)
        assert got == sorted(zip(rows.tolist(), cols.tolist(), strict=True)), cost
        assert (col_of_row >= 0).sum() == min(cost.shape)
        tied += len(np.unique(cost)) < cost.size
    assert tied > 1000


def test_first_use_compiles_once_per_signature() -> None:
    """The kernel is called with fixed dtypes: one compiled signature serves every call."""
    from visionflow.tracking import _bytetrack_kernel as kernel

    tracker = BatchedByteTrack(compiled=True)
    for seed in range(3):
        for frame in crowded_clip(seed, 5):
            rows = frame[np.arange(len(frame))]
            tracker.update(rows, [f"cam{seed}"])
    ByteTrack(compiled=True).update(crowded_clip(9, 1)[0])
    assert len(kernel.step.signatures) == 1


def test_parameters_changed_between_frames_apply_to_both() -> None:
    compiled, numpy = ByteTrack(compiled=True), ByteTrack(compiled=False)
    for i, frame in enumerate(crowded_clip(11, 40)):
        if i == 20:
            for tracker in (compiled, numpy):
                tracker.match_threshold = 0.3
                tracker.min_hits = 1
        assert_same_rows(compiled.update(frame), numpy.update(frame))
        assert_same_state(compiled, numpy)
