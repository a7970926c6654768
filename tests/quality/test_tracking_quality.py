"""Tracking-quality regression test, and checks of the harness's scoring itself.

Every tracker kind (shipped config defaults) is scored on every sequence of
``tracking_harness`` and compared with ``baseline_scores.json``. A score worse
than the baseline by more than :data:`TOLERANCE` fails. Everything is
deterministic, so the tolerance only absorbs floating-point differences
between machines (BLAS, CPU), which can flip a rare borderline match.

To change the baseline on purpose (a tracker change, a new default, a new
scene), re-run the harness and commit the new file with the reason::

    .venv/bin/python tests/quality/tracking_harness.py --update-baseline

Refresh it after improvements too, or later regressions hide behind them.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import tracking_harness as harness

from visionflow.tracking.factory import TRACKER_KINDS
from visionflow.types import Detections

pytest.importorskip("motmetrics", reason="needs the test-only motmetrics package")

HIGHER_IS_BETTER = ("mota", "idf1", "motp_iou")
TOLERANCE = {"rate": 0.005, "count_min": 2, "count_share": 0.02}
"""Rates may drop by 0.005; counts may grow by max(2, 2 % of the baseline)."""
BASELINE = json.loads(harness.BASELINE.read_text())["scores"]
SEQUENCES = harness.SEQUENCES


@cache
def scores(sequence: str, kind: str) -> dict[str, float]:
    reference_ids = None
    if sequence == "vtest":  # scored against the reference ByteTrack: needs it
        reference = pytest.importorskip("bytetrack_reference", reason="needs bytetracker")
        reference_ids = reference.run_clip("vtest").ids
    return harness.score_sequence(sequence, kind, reference_ids)


def test_baseline_covers_every_sequence_tracker_and_metric() -> None:
    assert sorted(BASELINE) == sorted(SEQUENCES)
    for per_tracker in BASELINE.values():
        assert sorted(per_tracker) == sorted(TRACKER_KINDS)
        for metrics in per_tracker.values():
            assert sorted(metrics) == sorted(harness.METRICS)


@pytest.mark.parametrize("kind", TRACKER_KINDS)
@pytest.mark.parametrize("sequence", SEQUENCES)
def test_no_regression_against_baseline(sequence: str, kind: str) -> None:
    got, base = scores(sequence, kind), BASELINE[sequence][kind]
    worse = []
    for metric in harness.METRICS:
        if metric in HIGHER_IS_BETTER:
            if got[metric] < base[metric] - TOLERANCE["rate"]:
                worse.append(f"{metric} {got[metric]:.4f} < baseline {base[metric]:.4f}")
        else:
            slack = max(TOLERANCE["count_min"], TOLERANCE["count_share"] * base[metric])
            if got[metric] > base[metric] + slack:
                worse.append(f"{metric} {got[metric]} > baseline {base[metric]}")
    assert not worse, (
        f"{kind} on {sequence} regressed: {'; '.join(worse)}. If intended, refresh with "
        "`.venv/bin/python tests/quality/tracking_harness.py --update-baseline`"
    )


def test_bytetrack_beats_sort_beats_iou_where_it_is_hard() -> None:
    """The point of the extra machinery: on crowded and noisy scenes IDF1 ranks as designed."""
    for sequence in ("crossings", "noisy_detector", "crowd"):
        idf1 = {kind: scores(sequence, kind)["idf1"] for kind in TRACKER_KINDS}
        assert idf1["bytetrack"] > idf1["sort"] > idf1["iou"], (sequence, idf1)


# -- the harness itself --------------------------------------------------------------


def ground_truth_as_output(
    clip: harness.Clip, relabel: dict[int, int] | None = None
) -> list[Detections]:
    out = []
    for f, (xyxy, ids) in enumerate(zip(clip.gt_xyxy, clip.gt_ids, strict=True)):
        d = Detections(xyxy, np.ones(len(ids)), np.zeros(len(ids)))
        d.track_id = np.array([(relabel or {}).get((f, int(i)), int(i)) for i in ids], np.int64)
        out.append(d)
    return out


def test_ground_truth_scores_perfectly() -> None:
    clip = harness.synthetic_clip("crowd")
    got = harness.score(clip, ground_truth_as_output(clip))
    assert got == {
        "mota": 1.0,
        "idf1": 1.0,
        "num_switches": 0,
        "motp_iou": 1.0,
        "num_false_positives": 0,
        "num_misses": 0,
    }


def test_one_relabelled_object_is_one_switch() -> None:
    """Object 1 takes a fresh id from frame 100 on: one switch, IDF1 drops by its share."""
    clip = harness.synthetic_clip("constant_velocity")
    frames_of_1 = [f for f, ids in enumerate(clip.gt_ids) if 1 in ids]
    cut = frames_of_1[len(frames_of_1) // 2]
    relabel = {(f, 1): 999 for f in frames_of_1 if f >= cut}
    got = harness.score(clip, ground_truth_as_output(clip, relabel))
    n_objects = sum(len(ids) for ids in clip.gt_ids)
    tail = len(frames_of_1) - frames_of_1.index(cut)
    assert got["num_switches"] == 1
    assert got["mota"] == pytest.approx(1 - 1 / n_objects, abs=1e-4)
    # IDF1 = 2 IDTP / (n_gt + n_hyp): the shorter half is unmatched on both sides.
    idtp = n_objects - min(tail, len(frames_of_1) - tail)
    assert got["idf1"] == pytest.approx(idtp / n_objects, abs=1e-4)


@pytest.mark.parametrize("spec", harness.SCENES, ids=lambda s: s.name)
def test_scenes_are_deterministic_and_nontrivial(spec: harness.SceneSpec) -> None:
    a, b = harness.make_clip(spec), harness.make_clip(spec)
    for da, db in zip(a.detections, b.detections, strict=True):
        np.testing.assert_array_equal(da.xyxy, db.xyxy)
        np.testing.assert_array_equal(da.confidence, db.confidence)
    n_gt = sum(len(i) for i in a.gt_ids)
    n_det = sum(len(d) for d in a.detections)
    assert n_gt > 500
    low = sum(int(((d.confidence >= 0.1) & (d.confidence < 0.5)).sum()) for d in a.detections)
    if spec.occlusions_per_object or spec.low_score_rate or spec.crossing_pairs:
        assert low > 0, "the low-score stage must get input"
    if spec.miss_rate or spec.occlusions_per_object:
        assert n_det < n_gt + 3 * spec.false_per_frame * spec.n_frames
