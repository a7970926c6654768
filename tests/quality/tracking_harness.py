"""Tracking-quality harness: sequences with ground truth, trackers, CLEAR-MOT/ID scores.

Sequences:

* synthetic scenes (:data:`SCENES`), generated deterministically from a seed:
  objects moving at constant velocity or turning, born and dying during the
  clip, hidden for ``k`` frames (occlusion, with low-score boxes as they fade
  out and in), crossing each other (the one behind is missed or scored low
  while covered), random misses, false detections (single-frame and short
  bursts) and box jitter. Ground truth is every object alive in the frame,
  occluded or not (as in MOTChallenge), so missed boxes count as misses;
* ``*_interval2``: two of those scenes with detections on every third frame
  only and ``predict()`` in between (the pipeline's ``detector.interval``);
* ``vtest``: the sample clip's frozen detections (``data/vtest_detections.npz``,
  made by ``make_vtest_detections.py``). There is no human ground truth for it:
  the reference ByteTrack's output (see ``bytetrack_reference.py``) stands in
  for it, so ``vtest`` scores measure agreement with ByteTrack, not accuracy.

Scores (py-motmetrics, IoU >= 0.5 to match a hypothesis to an object): MOTA,
IDF1, id switches, MOTP (as mean IoU of matched pairs), false positives and
misses. Trackers are built from the shipped config defaults
(``TrackerConfig(kind=...)``), so the scores are what a user gets.

Refresh the committed baseline (only after a deliberate change, and say why
in the commit)::

    .venv/bin/python tests/quality/tracking_harness.py --update-baseline
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from visionflow.config.schema import TrackerConfig
from visionflow.tracking.factory import TRACKER_KINDS, build_tracker
from visionflow.types import Detections

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
HERE = Path(__file__).resolve().parent
VTEST_DETECTIONS = HERE / "data" / "vtest_detections.npz"
BASELINE = HERE / "baseline_scores.json"
FRAME_W, FRAME_H = 1280.0, 720.0
METRICS = ("mota", "idf1", "num_switches", "motp_iou", "num_false_positives", "num_misses")


@dataclass(frozen=True)
class Clip:
    """Per-frame detections plus ground truth (``gt_*[f]``: boxes and ids of frame f)."""

    name: str
    detections: list[Detections]
    gt_xyxy: list[F64]
    gt_ids: list[I64]


@dataclass(frozen=True)
class SceneSpec:
    """Recipe of a synthetic scene; every random draw comes from ``seed``."""

    name: str
    seed: int
    n_objects: int
    n_frames: int = 150
    speed_px: tuple[float, float] = (2.0, 6.0)
    max_turn_rad: float = 0.0
    occlusions_per_object: int = 0
    occlusion_frames: tuple[int, int] = (5, 20)
    crossing_pairs: int = 0
    miss_rate: float = 0.0
    false_per_frame: float = 0.0
    false_bursts: int = 0
    jitter_px: float = 1.0
    low_score_rate: float = 0.0


SCENES = (
    SceneSpec("constant_velocity", seed=1, n_objects=8),
    SceneSpec("turning", seed=2, n_objects=8, max_turn_rad=0.04, jitter_px=1.5),
    SceneSpec("occlusion", seed=3, n_objects=6, occlusions_per_object=2),
    SceneSpec("crossings", seed=4, n_objects=2, crossing_pairs=6, speed_px=(3.0, 6.0)),
    SceneSpec(
        "noisy_detector",
        seed=5,
        n_objects=10,
        miss_rate=0.1,
        false_per_frame=1.5,
        false_bursts=8,
        jitter_px=3.0,
        low_score_rate=0.2,
    ),
    SceneSpec(
        "crowd",
        seed=6,
        n_objects=25,
        max_turn_rad=0.03,
        occlusions_per_object=1,
        crossing_pairs=4,
        miss_rate=0.05,
        false_per_frame=1.0,
        false_bursts=5,
        jitter_px=2.0,
        low_score_rate=0.1,
    ),
)


# -- synthetic scenes --------------------------------------------------------------


def make_clip(spec: SceneSpec) -> Clip:
    """Generate the scene ``spec`` (same output for the same spec, on any machine)."""
    rng = np.random.default_rng(spec.seed)
    boxes, alive = _trajectories(spec, rng)  # [F, K, 4], [F, K]
    visible = alive & ~_occluded(spec, alive, rng)
    scores = rng.uniform(0.55, 0.95, visible.shape)
    scores = _fade_scores(scores, alive, visible, rng)
    covered = _covered_fraction(boxes, alive)
    visible &= covered < 0.6
    scores = np.where(covered >= 0.3, rng.uniform(0.15, 0.45, visible.shape), scores)
    scores = np.where(
        rng.random(visible.shape) < spec.low_score_rate,
        rng.uniform(0.15, 0.45, visible.shape),
        scores,
    )
    visible &= rng.random(visible.shape) >= spec.miss_rate
    noisy = boxes + rng.normal(0.0, spec.jitter_px, boxes.shape)
    false = _false_detections(spec, rng)
    frames, gt_xyxy, gt_ids = [], [], []
    for f in range(spec.n_frames):
        det_xyxy = np.concatenate([noisy[f][visible[f]], false[f][0]])
        det_score = np.concatenate([scores[f][visible[f]], false[f][1]])
        order = rng.permutation(len(det_score))  # row order must not matter
        frames.append(Detections(det_xyxy[order], det_score[order], np.zeros(len(order), np.int32)))
        gt_xyxy.append(boxes[f][alive[f]])
        gt_ids.append(np.flatnonzero(alive[f]).astype(np.int64) + 1)
    return Clip(spec.name, frames, gt_xyxy, gt_ids)


def _trajectories(spec: SceneSpec, rng: np.random.Generator) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Boxes ``[F, K, 4]`` of ``K`` objects and their ``[F, K]`` alive mask."""
    n_pairs = spec.crossing_pairs
    k = spec.n_objects + 2 * n_pairs
    f = spec.n_frames
    w = rng.uniform(30.0, 60.0, k)
    h = w * rng.uniform(1.8, 2.6, k)
    speed = rng.uniform(*spec.speed_px, k)
    heading = rng.uniform(-np.pi, np.pi, k)
    turn = rng.uniform(-spec.max_turn_rad, spec.max_turn_rad, k)
    start = rng.integers(0, f // 3, k)
    length = rng.integers(f // 2, f, k)
    pos0 = np.stack([rng.uniform(100, FRAME_W - 100, k), rng.uniform(100, FRAME_H - 100, k)], 1)
    # Crossing pairs: both alive around a meeting time, heading towards one point.
    for p in range(n_pairs):
        a, b = spec.n_objects + 2 * p, spec.n_objects + 2 * p + 1
        meet_t = int(rng.integers(f // 4, 3 * f // 4))
        meet = np.array([rng.uniform(300, FRAME_W - 300), rng.uniform(200, FRAME_H - 200)])
        angle = rng.uniform(np.pi / 2, np.pi)  # between an X and head-on
        heading[a] = rng.uniform(-np.pi, np.pi)
        heading[b] = heading[a] + angle
        turn[[a, b]] = 0.0
        start[[a, b]] = max(meet_t - 60, 0)
        length[[a, b]] = 120
        h[b] = h[a] * rng.uniform(0.9, 1.1)  # similar sizes: the hard case
        w[b] = w[a] * rng.uniform(0.9, 1.1)
        for i in (a, b):
            back = (meet_t - start[i]) * speed[i]
            pos0[i] = meet - back * np.array([np.cos(heading[i]), np.sin(heading[i])])
    t = np.arange(f)[:, None] - start[None, :]  # frames since birth [F, K]
    ang = heading[None, :] + turn[None, :] * np.maximum(t, 0)
    step = speed[None, :, None] * np.stack([np.cos(ang), np.sin(ang)], -1)
    step[t <= 0] = 0.0
    centre = pos0[None] + np.cumsum(step, axis=0)
    centre = _reflect(centre)
    half = np.stack([w, h], 1)[None] / 2
    boxes = np.concatenate([centre - half, centre + half], -1)
    alive = (t >= 0) & (t < length[None, :])
    return boxes, alive


def _reflect(centre: F64) -> F64:
    """Fold positions back into the frame (objects bounce off the borders)."""
    size = np.array([FRAME_W - 80, FRAME_H - 120])
    x = np.mod(centre - [40, 60], 2 * size)
    folded: F64 = np.where(x > size, 2 * size - x, x)
    return folded + np.array([40.0, 60.0])


def _occluded(
    spec: SceneSpec, alive: npt.NDArray[np.bool_], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """``[F, K]`` frames where an object is fully hidden (not detected)."""
    hidden = np.zeros_like(alive)
    for k in range(alive.shape[1]):
        frames = np.flatnonzero(alive[:, k])
        for _ in range(spec.occlusions_per_object):
            start = int(rng.choice(frames[5:-25])) if len(frames) > 40 else None
            if start is not None:
                hidden[start : start + int(rng.integers(*spec.occlusion_frames)), k] = True
    return hidden


def _fade_scores(
    scores: F64,
    alive: npt.NDArray[np.bool_],
    visible: npt.NDArray[np.bool_],
    rng: np.random.Generator,
) -> F64:
    """Low scores on the two frames before and after each hidden stretch."""
    hidden = (alive & ~visible).astype(np.int8)
    near = np.zeros_like(hidden)
    for shift in (1, 2):
        near[shift:] |= hidden[:-shift]
        near[:-shift] |= hidden[shift:]
    fading = (near == 1) & visible
    return np.where(fading, rng.uniform(0.15, 0.45, scores.shape), scores)


def _covered_fraction(boxes: F64, alive: npt.NDArray[np.bool_]) -> F64:
    """``[F, K]`` share of each box covered by a box in front of it (larger bottom y)."""
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    iw = np.minimum(x2[:, :, None], x2[:, None, :]) - np.maximum(x1[:, :, None], x1[:, None, :])
    ih = np.minimum(y2[:, :, None], y2[:, None, :]) - np.maximum(y1[:, :, None], y1[:, None, :])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    in_front = (y2[:, None, :] > y2[:, :, None]) & alive[:, None, :] & alive[:, :, None]
    area = (x2 - x1) * (y2 - y1)
    covered: F64 = (inter * in_front).max(axis=2, initial=0.0) / area
    return covered


def _false_detections(spec: SceneSpec, rng: np.random.Generator) -> list[tuple[F64, F64]]:
    """Per frame ``(xyxy [n, 4], score [n])`` of clutter: single frames and 2-5 frame bursts."""
    out: list[tuple[list[F64], list[F64]]] = [([], []) for _ in range(spec.n_frames)]
    counts = rng.poisson(spec.false_per_frame, spec.n_frames)
    for f, n in enumerate(counts):
        out[f][0].append(_random_boxes(rng, int(n)))
        out[f][1].append(rng.uniform(0.1, 0.75, int(n)))
    for _ in range(spec.false_bursts):
        f0 = int(rng.integers(0, spec.n_frames - 5))
        box = _random_boxes(rng, 1)
        score = rng.uniform(0.5, 0.8)
        for f in range(f0, f0 + int(rng.integers(2, 6))):
            out[f][0].append(box + rng.normal(0.0, 1.0, box.shape))
            out[f][1].append(np.array([score]))
    return [
        (np.concatenate(b).reshape(-1, 4), np.concatenate(s))
        if b
        else (np.zeros((0, 4)), np.zeros(0))
        for b, s in out
    ]


def _random_boxes(rng: np.random.Generator, n: int) -> F64:
    w = rng.uniform(25.0, 70.0, n)
    h = w * rng.uniform(1.5, 2.8, n)
    x = rng.uniform(0, FRAME_W - w)
    y = rng.uniform(0, FRAME_H - h)
    return np.stack([x, y, x + w, y + h], 1)


# -- the sample clip ----------------------------------------------------------------


@cache
def vtest_detections() -> list[Detections]:
    """The frozen per-frame detections of ``data/vtest.mp4``."""
    data = np.load(VTEST_DETECTIONS)
    frame = data["frame"]
    bounds = np.searchsorted(frame, np.arange(int(data["num_frames"]) + 1))
    return [
        Detections(data["xyxy"][a:b], data["confidence"][a:b], data["class_id"][a:b])
        for a, b in itertools.pairwise(bounds)
    ]


def clip_from_reference(name: str, frames: list[Detections], ids: Sequence[I64]) -> Clip:
    """A clip whose ground truth is a reference tracker's output (``ids[f]`` per row, -1 = none)."""
    gt_xyxy = [d.xyxy[i >= 0].astype(np.float64) for d, i in zip(frames, ids, strict=True)]
    gt_ids = [i[i >= 0] for i in ids]
    return Clip(name, frames, gt_xyxy, gt_ids)


# -- running and scoring ------------------------------------------------------------


def tracker_factory(kind: str) -> Callable[[], Any]:
    """Builds the tracker ``kind`` with the shipped config defaults."""
    config = TrackerConfig(kind=kind)  # type: ignore[arg-type]
    return lambda: build_tracker(config)


def run(tracker: Any, frames: Sequence[Detections], interval: int = 0) -> list[Detections]:
    """Feed ``frames`` to ``tracker``; its output per frame.

    With ``interval`` > 0 (DeepStream's meaning: frames skipped between two
    inferences) only every ``interval + 1``-th frame is detected; the others
    are ``tracker.predict()`` frames, and their predicted boxes are scored.
    """
    return [
        tracker.update(d) if t % (interval + 1) == 0 else tracker.predict()
        for t, d in enumerate(frames)
    ]


def ids_per_row(frames: Sequence[Detections], outputs: Sequence[Detections]) -> list[I64]:
    """Per frame, the id given to each input row (-1 where the row was not output).

    Trackers output matched rows unchanged and in input order, so each output
    row is found as the next input row with the same box.
    """
    result = []
    for dets, out in zip(frames, outputs, strict=True):
        ids = np.full(len(dets), -1, np.int64)
        if len(dets) == 0:
            result.append(ids)
            continue
        same = (dets.xyxy[None, :, :] == out.xyxy[:, None, :]).all(-1)  # [out, in]
        rows = same.argmax(axis=1)
        if len(out) and not same[np.arange(len(out)), rows].all():
            raise AssertionError("a tracker output a box that is not one of its input rows")
        ids[rows] = out.track_id
        result.append(ids)
    return result


def score(clip: Clip, outputs: Sequence[Detections]) -> dict[str, float]:
    """MOTA, IDF1, id switches, MOTP (mean IoU), FP and misses of ``outputs`` on ``clip``."""
    import motmetrics as mm  # test-only dependency, imported where used

    acc = mm.MOTAccumulator(auto_id=True)
    for gt_xyxy, gt_ids, out in zip(clip.gt_xyxy, clip.gt_ids, outputs, strict=True):
        dist = _iou_distance(gt_xyxy, out.xyxy)
        acc.update(gt_ids, out.track_id, dist)
    names = ["mota", "idf1", "num_switches", "motp", "num_false_positives", "num_misses"]
    row = mm.metrics.create().compute(acc, metrics=names, name=clip.name).iloc[0]
    return {
        "mota": round(float(row["mota"]), 4),
        "idf1": round(float(row["idf1"]), 4),
        "num_switches": int(row["num_switches"]),
        "motp_iou": round(1.0 - float(row["motp"]), 4),
        "num_false_positives": int(row["num_false_positives"]),
        "num_misses": int(row["num_misses"]),
    }


def _iou_distance(gt_xyxy: npt.ArrayLike, hyp_xyxy: npt.ArrayLike) -> F64:
    """``1 - IoU``, NaN (no match possible) where IoU < 0.5.

    What ``mm.distances.iou_matrix(..., max_iou=0.5)`` computes; motmetrics
    1.4's own version calls ``np.asfarray``, which NumPy 2 removed. Written
    here rather than taken from :mod:`visionflow.tracking.matching`, so the
    scoring shares no code with the trackers it scores.
    """
    a = np.asarray(gt_xyxy, np.float64).reshape(-1, 1, 4)
    b = np.asarray(hyp_xyxy, np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    dist: F64 = 1.0 - inter / (area_a + area_b - inter)
    dist[dist > 0.5] = np.nan
    return dist


@cache
def synthetic_clip(name: str) -> Clip:
    """The synthetic clip ``name`` (generated once per process)."""
    return make_clip(next(s for s in SCENES if s.name == name))


def clip_detections(name: str) -> list[Detections]:
    """Per-frame detections of ``"vtest"`` or of a synthetic scene."""
    return vtest_detections() if name == "vtest" else synthetic_clip(name).detections


INTERVAL_SEQUENCES = {"crossings_interval2": ("crossings", 2), "crowd_interval2": ("crowd", 2)}
"""Scenes tracked with inference on every third frame only (``predict()`` between)."""
SEQUENCES = (*(s.name for s in SCENES), *INTERVAL_SEQUENCES, "vtest")
"""Every scored sequence, in baseline order."""


def score_sequence(
    sequence: str, kind: str, vtest_reference_ids: Sequence[I64] | None = None
) -> dict[str, float]:
    """Scores of tracker ``kind`` on ``sequence`` (``vtest`` needs the reference's ids)."""
    interval = 0
    if sequence == "vtest":
        if vtest_reference_ids is None:
            raise ValueError("vtest is scored against the reference ByteTrack: pass its ids")
        clip = clip_from_reference("vtest", vtest_detections(), vtest_reference_ids)
    else:
        scene, interval = INTERVAL_SEQUENCES.get(sequence, (sequence, 0))
        clip = synthetic_clip(scene)
    return score(clip, run(tracker_factory(kind)(), clip.detections, interval))


def all_scores(vtest_reference_ids: Sequence[I64]) -> dict[str, dict[str, dict[str, float]]]:
    """``scores[sequence][tracker][metric]`` for every sequence and tracker kind."""
    return {
        seq: {kind: score_sequence(seq, kind, vtest_reference_ids) for kind in TRACKER_KINDS}
        for seq in SEQUENCES
    }


def format_table(scores: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table: one row per sequence and tracker."""
    lines = ["| sequence | tracker | MOTA | IDF1 | IDsw | MOTP(IoU) | FP | FN |", "|---" * 8 + "|"]
    for seq, per_tracker in scores.items():
        for kind, m in per_tracker.items():
            lines.append(
                f"| {seq} | {kind} | {m['mota']:.3f} | {m['idf1']:.3f} | {m['num_switches']} "
                f"| {m['motp_iou']:.3f} | {m['num_false_positives']} | {m['num_misses']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Score the trackers; optionally rewrite the baseline."
    )
    parser.add_argument("--update-baseline", action="store_true", help=f"rewrite {BASELINE.name}")
    args = parser.parse_args()
    import bytetrack_reference  # needs the test-only bytetracker package

    scores = all_scores(bytetrack_reference.run_clip("vtest").ids)
    print(format_table(scores))
    if args.update_baseline:
        about = (
            "Tracking-quality baseline enforced by tests/quality/test_tracking_quality.py. "
            "Made by `python tests/quality/tracking_harness.py --update-baseline`. "
            "Synthetic scenes are scored against their generated ground truth; vtest has no "
            "human ground truth and is scored against the reference ByteTrack's output."
        )
        text = json.dumps({"about": about, "scores": scores}, indent=1, sort_keys=True)
        BASELINE.write_text(text + "\n")
        print(f"wrote {BASELINE}")


if __name__ == "__main__":
    main()
