"""The pipeline's analytics stage per batch as the live benchmark runs it, A/B against a commit.

What is timed: ``AnalyticsHub.roi_filter`` + ``AnalyticsHub.update``, exactly
what ``Pipeline._process`` calls per batch, on the hub the pipeline builds
(``pipeline.build._stream_analytics`` per stream, the ``live_streams.py``
analytics: one line ``walkway`` and one zone ``plaza``, ``LIVE_SCENE`` of
``analytics_cost.py`` scaled to 1080p, ``counts`` events every 1.0 s of
video). S streams (64, 96) with ``--tracks-per-stream`` walkers each (the
random walks of ``analytics_cost.trajectories``: crossings, entries, exits,
id churn) feed batches of ``--batch`` frames taken from the streams in turn,
as the batcher forms them from live streams of equal rate; each stream's
frame numbers and pts advance at 30 fps, so event building (crossings, zone
entries/exits, the periodic ``counts``) is all in. Per batch it records the
thread CPU time (``time.thread_time_ns``, the pipeline's ``analytics_cpu``)
and the wall time.

A/B (``--baseline REF``): ``git archive REF src`` is unpacked to a temporary
directory, and each repeat runs one child process per side (this tree's
``src`` and the baseline's), in alternating order (ABBA...), on the same
batches; the child reports its medians and a digest of every event (all
fields but ``event_id`` and ``wall_time``), which must be equal for both
sides. Reported per side and stream count: the median of the repeat medians,
their min/max (spread), the mean, and the ratio new / baseline.

Usage::

    .venv/bin/python benchmarks/analytics_live_hub.py --baseline cefc3cd
    .venv/bin/python benchmarks/analytics_live_hub.py --quick   # this tree only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from analytics_cost import LIVE_SCENE, _versions, build_hub, trajectories  # noqa: E402
from cpu_e2e import git_info, machine_info  # noqa: E402

FPS = 30.0
STREAM_COUNTS = (64, 96)


def live_batches(
    n_streams: int, batch: int, n_batches: int, per_stream: int, seed: int, *, burst: int = 1
) -> list[tuple[Any, Any]]:
    """Batches of ``batch`` frames taken from the streams in turn, ``burst`` consecutive
    frames of a stream at a time (a decoder that delivers in bursts), with their tracks."""
    from visionflow.types import Detections, Frame, FrameBatch

    per = n_batches * batch // n_streams + 2
    walks = [trajectories(per_stream, per, seed + s) for s in range(n_streams)]
    image = np.zeros((2, 2, 3), np.uint8)  # the stage never reads pixels
    next_frame, out, k = [0] * n_streams, [], 0
    for _ in range(n_batches):
        frames, parts = [], []
        for slot in range(batch):
            s, k = (k // burst) % n_streams, k + 1
            i = next_frame[s]
            next_frame[s] += 1
            frames.append(Frame(f"cam{s}", i, i / FPS, 0, image))
            d = walks[s][i]
            slots = np.full(len(d), slot, np.int32)
            parts.append(Detections(d.xyxy, d.confidence, d.class_id, slots, d.track_id))
        out.append((FrameBatch(tuple(frames)), Detections.concatenate(parts)))
    return out


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One side: ``--repeats`` fresh hubs over the same batches; medians and the digest."""
    n_batches = args.warmup + args.batches
    work = live_batches(args.streams, args.batch, n_batches, args.tracks, 7, burst=args.burst)
    digest, cpu_medians, wall_medians, cpu_means, events = hashlib.sha256(), [], [], [], 0
    for repeat in range(args.repeats):
        hub = build_hub(LIVE_SCENE, args.streams)
        hub.warm_up()
        cpu, wall = [], []
        for i, (batch, tracks) in enumerate(work):
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            out = hub.update(batch, hub.roi_filter(batch, tracks))
            c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
            if i >= args.warmup:
                cpu.append(c1 - c0)
                wall.append(t1 - t0)
            if repeat == 0:
                events += len(out)
                for event in out:
                    fields = event.model_dump(exclude={"event_id", "wall_time"})
                    digest.update(json.dumps(fields, sort_keys=True).encode())
        cpu_medians.append(statistics.median(cpu) / 1e3)
        wall_medians.append(statistics.median(wall) / 1e3)
        cpu_means.append(statistics.fmean(cpu) / 1e3)
    return {
        "cpu_us_median": cpu_medians,
        "wall_us_median": wall_medians,
        "cpu_us_mean": cpu_means,
        "events_per_batch": round(events / len(work), 3),
        "event_digest": digest.hexdigest(),
    }


def _run_side(src: Path, n_streams: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--streams", str(n_streams)]
    for name in ("batch", "batches", "warmup", "tracks", "burst", "child_repeats"):
        flag = "--repeats" if name == "child_repeats" else f"--{name}"
        command += [flag, str(getattr(args, name))]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _baseline_src(ref: str, into: Path) -> Path:
    """``git archive ref src`` unpacked under ``into``; returns its ``src``. A directory
    ``ref`` is taken as that src (a machine whose copy has no usable .git)."""
    if Path(ref).is_dir():
        return Path(ref).resolve()
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref, "src"], cwd=HERE.parent, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def pooled(key: str) -> list[float]:
        return [v for run in runs for v in run[key]]

    cpu, wall, mean = pooled("cpu_us_median"), pooled("wall_us_median"), pooled("cpu_us_mean")
    return {
        "cpu_us_per_batch_median": round(statistics.median(cpu), 1),
        "cpu_us_per_batch_spread": [round(min(cpu), 1), round(max(cpu), 1)],
        "cpu_us_per_batch_mean": round(statistics.median(mean), 1),
        "wall_us_per_batch_median": round(statistics.median(wall), 1),
        "repeat_medians_cpu_us": [round(v, 1) for v in cpu],
        "events_per_batch": runs[0]["events_per_batch"],
        "event_digest": runs[0]["event_digest"][:16],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    sides = {"this_tree": HERE.parent / "src"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            sides = {"baseline": _baseline_src(args.baseline, Path(tmp)), **sides}
        results: dict[str, Any] = {}
        for n in (64,) if args.quick else STREAM_COUNTS:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
            for repeat in range(args.repeats):
                order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
                for name in order:
                    runs[name].append(_run_side(sides[name], n, args))
            results[str(n)] = cells = {name: _cell(r) for name, r in runs.items()}
            if args.baseline:
                base, new = cells["baseline"], cells["this_tree"]
                cells["same_events"] = base["event_digest"] == new["event_digest"]
                ratio = new["cpu_us_per_batch_median"] / base["cpu_us_per_batch_median"]
                cells["cpu_ratio_this_tree_to_baseline"] = round(ratio, 3)
            for name in sides:
                cell = cells[name]
                print(
                    f"{n:>3} streams, {name:>9}: {cell['cpu_us_per_batch_median']:7.1f} µs CPU "
                    f"a batch (spread {cell['cpu_us_per_batch_spread']}, mean "
                    f"{cell['cpu_us_per_batch_mean']}), {cell['events_per_batch']} events"
                )
    return {
        "benchmark": "analytics_live_hub",
        "machine": machine_info(),
        "versions": _versions(),
        "git": git_info(),
        "baseline_commit": args.baseline,
        "load_average_at_end": os.getloadavg(),
        "settings": {
            "scene": LIVE_SCENE,
            "counts_interval_s": 1.0,
            "fps": FPS,
            "batch_frames": args.batch,
            "timed_batches": args.batches,
            "warmup_batches": args.warmup,
            "tracks_per_stream": args.tracks,
            "burst_frames": args.burst,
            "repeats_alternating": args.repeats,
            "hubs_per_child": args.child_repeats,
        },
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="git ref (or a src directory) to compare with (A/B)")
    parser.add_argument("--quick", action="store_true", help="64 streams, few batches")
    parser.add_argument("--batch", type=int, default=64, help="frames a batch")
    parser.add_argument("--batches", type=int, default=None, help="timed batches a hub")
    parser.add_argument("--warmup", type=int, default=60, help="untimed batches a hub")
    parser.add_argument("--tracks", type=int, default=10, help="walkers a stream")
    parser.add_argument("--burst", type=int, default=1, help="frames of a stream in a row")
    parser.add_argument("--repeats", type=int, default=None, help="alternations (parent)")
    parser.add_argument("--child-repeats", type=int, default=3, help="hubs a child")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", type=Path, default=HERE / "results" / "analytics_live_hub.json", help="JSON"
    )
    args = parser.parse_args()
    args.batches = args.batches or (60 if args.quick else 300)
    args.repeats = args.repeats or (2 if args.quick else 6)
    if args.child:
        print(json.dumps(child(args)))
        return
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
