"""Per-frame cost of the trackers against the number of tracks, and of batched ByteTrack.

Two measurements, CPU only, single thread of Python (NumPy may use BLAS threads):

* ``single``: ``update()`` time per frame of ``IoUTracker``, ``SORT`` and
  ``ByteTrack`` (shipped config defaults, ``tracker.kind``) on one stream with
  N objects on a grid, moving 2 px/frame, 5 % of boxes missed per frame and
  jitter of 1 px, N in 10 ... 500;
* ``multi``: one batch of S streams x 20 objects per call,
  ``MultiStreamTracker`` of ByteTracks against ``BatchedByteTrack``;
  ``batched_paced_ms`` is the same ``BatchedByteTrack`` call with the thread
  asleep 33 ms before each batch (a live 30 fps stream: what the pipeline's
  track thread sees, with caches and branch predictors gone cold), the median
  call; ``batched_predict_ms`` times ``predict`` (frames without inference) after
  10 batches.

ByteTrack runs its compiled step (numba, the default); the ``*_numpy_ms``
columns time the same trackers with ``compiled = False`` (the NumPy steps).

Each point is the median of ``--repeats`` runs of ``--frames`` frames after a
10-frame warm-up. Run on a quiet machine::

    .venv/bin/python benchmarks/tracker_cost.py --json-out benchmarks/results/tracker_cost.json

``--quick`` runs a tiny setting (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_e2e import git_info, machine_info
from visionflow.config.schema import TrackerConfig
from visionflow.tracking import BatchedByteTrack, ByteTrack, MultiStreamTracker
from visionflow.tracking.factory import TRACKER_KINDS, build_tracker
from visionflow.types import Detections


def scene(n_objects: int, n_frames: int, seed: int) -> list[Detections]:
    """``n_objects`` 40x80 px boxes on a grid (no overlaps), drifting together."""
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(n_objects)))
    idx = np.arange(n_objects)
    base = np.stack([60.0 + 70 * (idx % cols), 60.0 + 110 * (idx // cols)], 1)
    frames = []
    for t in range(n_frames):
        keep = rng.random(n_objects) > 0.05
        c = base[keep] + t * np.array([2.0, 1.0]) + rng.normal(0, 1.0, (int(keep.sum()), 2))
        half = np.array([20.0, 40.0])
        xyxy = np.concatenate([c - half, c + half], 1)
        frames.append(Detections(xyxy, rng.uniform(0.6, 0.95, len(c)), np.zeros(len(c))))
    return frames


WARMUP_CALLS = 10


def _warmed(
    step: Callable[[Detections], object], inputs: list[Detections], reset: Callable[[], None]
) -> list[Detections]:
    """Reset, run the first ``WARMUP_CALLS`` inputs untimed; the inputs left to time."""
    reset()
    for item in inputs[:WARMUP_CALLS]:
        step(item)
    return inputs[WARMUP_CALLS:]


def timed(
    step: Callable[[Detections], object],
    inputs: list[Detections],
    repeats: int,
    reset: Callable[[], None],
) -> float:
    """Median ms per call of ``step(inputs[t])`` over t = 10 .. end (after a warm-up)."""
    runs = []
    for _ in range(repeats):
        rest = _warmed(step, inputs, reset)
        start = time.perf_counter()
        for item in rest:
            step(item)
        runs.append((time.perf_counter() - start) / len(rest) * 1e3)
    return round(statistics.median(runs), 4)


def paced(
    step: Callable[[Detections], object],
    inputs: list[Detections],
    repeats: int,
    reset: Callable[[], None],
    sleep_s: float = 1 / 30,
) -> float:
    """Median ms of one ``step(inputs[t])`` call after sleeping ``sleep_s`` (t >= 10)."""
    runs = []
    for _ in range(repeats):
        calls = []
        for item in _warmed(step, inputs, reset):
            time.sleep(sleep_s)
            start = time.perf_counter()
            step(item)
            calls.append(time.perf_counter() - start)
        runs.append(statistics.median(calls) * 1e3)
    return round(statistics.median(runs), 4)


def predict_cost(
    tracker: BatchedByteTrack, ids: list[str], batches: list[Detections], repeats: int
) -> float:
    """Median ms per ``predict`` call: the tracks of 10 batches, then frames without inference."""
    runs = []
    for _ in range(repeats):
        rest = _warmed(lambda batch: tracker.update(batch, ids), batches, tracker.reset)
        start = time.perf_counter()
        for _ in rest:
            tracker.predict(ids)
        runs.append((time.perf_counter() - start) / len(rest) * 1e3)
    return round(statistics.median(runs), 4)


def single_stream(sizes: list[int], n_frames: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        frames = scene(n, n_frames, seed=n)
        row: dict[str, Any] = {"tracks": n}
        for kind in TRACKER_KINDS:
            tracker = build_tracker(TrackerConfig(kind=kind))  # type: ignore[arg-type]
            row[f"{kind}_ms"] = timed(tracker.update, frames, repeats, tracker.reset)
            if kind == "bytetrack":
                tracker.compiled = False  # type: ignore[attr-defined]
                row["bytetrack_numpy_ms"] = timed(tracker.update, frames, repeats, tracker.reset)
        rows.append(row)
        print(row, flush=True)
    return rows


def multi_stream(stream_counts: list[int], n_frames: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for s in stream_counts:
        clips = [scene(20, n_frames, seed=1000 + i) for i in range(s)]
        ids = [f"cam{i}" for i in range(s)]
        batches = []
        for t in range(n_frames):
            parts = []
            for slot, clip in enumerate(clips):
                part = clip[t][np.arange(len(clip[t]))]
                part.frame_index = np.full(len(part), slot, np.int32)
                parts.append(part)
            batches.append(Detections.concatenate(parts))
        multi = MultiStreamTracker(ByteTrack)
        batched = BatchedByteTrack()
        batched.warm_up()
        row: dict[str, Any] = {"streams": s, "tracks": 20 * s}
        row["multistream_ms"] = timed(
            functools.partial(multi.update, stream_ids=ids), batches, repeats, multi.reset
        )
        row["batched_ms"] = timed(
            functools.partial(batched.update, stream_ids=ids), batches, repeats, batched.reset
        )
        row["batched_paced_ms"] = paced(
            functools.partial(batched.update, stream_ids=ids), batches, repeats, batched.reset
        )
        row["batched_predict_ms"] = predict_cost(batched, ids, batches, repeats)
        batched.compiled = False
        row["batched_numpy_ms"] = timed(
            functools.partial(batched.update, stream_ids=ids), batches, repeats, batched.reset
        )
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=110)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test setting")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    sizes, streams = [10, 50, 100, 250, 500], [1, 4, 16, 64]
    if args.quick:
        sizes, streams, args.frames, args.repeats = [10, 50], [1, 4], 20, 1
    result = {
        "benchmark": "tracker_cost",
        "frames_per_run": args.frames,
        "repeats": args.repeats,
        "single_stream": single_stream(sizes, args.frames, args.repeats),
        "multi_stream_bytetrack": multi_stream(streams, args.frames, args.repeats),
        "machine": machine_info(),
        "git": git_info(),
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
