"""Peer on the same GPU, same clip: Ultralytics ``YOLO(...).track(stream=True)`` with N threads.

Ultralytics and its tracker need three wheels the GPU machine lacks
(``ultralytics``, ``ultralytics-thop``, ``lap``; carried in ``.whl``). The
model is YOLOv8n built from its yaml (random weights: fine for speed, as
the issue allows). Each thread owns its model (``track`` keeps state) and
tracks the whole 1080p clip; fps = all frames / wall. The same YOLOv8n
module runs on visionflow's side through ``gpu_e2e.py --model yolov8n``.

Usage on the GPU machine::

    python benchmarks/gpu_ultralytics.py --clip .gpu_assets/vtest_1080p_h264.mp4 \
        --threads 1 4 16 --out benchmarks/results/gpu_ultralytics.json
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpu_common import RESULTS, git_info, gpu_info, spread, write_result

os.environ.setdefault("YOLO_OFFLINE", "1")


def track_once(clip: Path, imgsz: int, latencies: list[float]) -> int:
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    frames = 0
    last = time.perf_counter()
    for _ in model.track(
        source=str(clip),
        stream=True,
        device=0,
        half=True,
        imgsz=imgsz,
        verbose=False,
        persist=True,
        tracker="bytetrack.yaml",
    ):
        now = time.perf_counter()
        latencies.append((now - last) * 1e3)
        last = now
        frames += 1
    return frames


def run(clip: Path, threads: int, imgsz: int) -> dict[str, Any]:
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    track_once(clip, imgsz, [])  # warm-up: cudnn, model build

    def work(i: int) -> None:
        counts[i] = track_once(clip, imgsz, latencies[i])

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    wall = time.perf_counter() - start
    per_frame = np.concatenate([np.asarray(v[1:]) for v in latencies if len(v) > 1])
    return {
        "threads": threads,
        "imgsz": imgsz,
        "frames": sum(counts),
        "wall_s": wall,
        "fps_total": sum(counts) / wall,
        "per_frame_ms": {
            "p50": float(np.percentile(per_frame, 50)),
            "p99": float(np.percentile(per_frame, 99)),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_ultralytics.json")
    args = parser.parse_args()
    import ultralytics

    result: dict[str, Any] = {
        "benchmark": "gpu_ultralytics",
        "machine": gpu_info(),
        "git": git_info(),
        "ultralytics": ultralytics.__version__,
        "clip": args.clip.name,
        "runs": [],
    }
    for n in args.threads:
        runs = [run(args.clip, n, args.imgsz) for _ in range(args.repeats)]
        best = sorted(runs, key=lambda r: r["fps_total"])[(len(runs) - 1) // 2]
        best["fps_total_spread"] = spread([r["fps_total"] for r in runs])
        print(
            f"ultralytics threads={n:2d} fps={best['fps_total']:.0f} "
            f"per-frame p50={best['per_frame_ms']['p50']:.2f}ms",
            flush=True,
        )
        result["runs"].append(best)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
