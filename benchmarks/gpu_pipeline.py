"""Throughput of the whole Pipeline on N unpaced 1080p file streams (GPU path).

What the product does end to end, not a harness: ``Pipeline(config).run()``
with ``device: cuda``; N sources of the same 1080p H.264 clip (NVDEC),
detection (YOLOv3-tiny, fp16, CUDA graphs), batched ByteTrack, the analytics
hub (a line and a zone per stream) and events to JSON Lines; no video. Each
stream count runs ``--repeats`` times with a fresh pipeline; reported: total
fps (frames of all streams / wall time from the start of the threads, after
the sources opened and the model was built; that start-up is ``startup_s``), the
per-stage p50/p99 from the run summary, process CPU seconds and the GPU
memory split of the summary.

Run on the GPU machine (see gpu_run.sh for the carried files)::

    python3 benchmarks/gpu_pipeline.py --clip .gpu_assets/vtest_1080p_h264.mp4 \
        --streams 1 16 32 64 --out $OUT/gpu_pipeline.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_common import git_info, gpu_info, write_result


def config(args: argparse.Namespace, streams: int, out: Path) -> Any:
    from visionflow.config import PipelineConfig

    models = Path(args.assets) / "models"
    return PipelineConfig.model_validate(
        {
            "device": args.device,
            "sources": [{"id": f"cam{i}", "uri": str(args.clip)} for i in range(streams)],
            "model": {
                "cfg": str(models / "yolov3-tiny.cfg"),
                "weights": str(models / "yolov3-tiny.weights"),
                "names": str(models / "coco.names"),
                "input_size": args.input_size,
                "cache_dir": str(Path(args.assets) / "cache"),
            },
            "detector": {"classes": ["person"]},
            "batching": {"max_batch_size": min(streams, args.max_batch), "timeout_ms": 5.0},
            "analytics": {
                "lines": [{"name": "door", "start": [0, 756], "end": [1920, 756]}],
                "zones": [
                    {
                        "name": "plaza",
                        "polygon": [
                            [1175, 400],
                            [1750, 350],
                            [1920, 525],
                            [1920, 1080],
                            [1175, 580],
                        ],
                    }
                ],
            },
            "events": {"counts_interval_s": 1.0},
            "output": {"dir": str(out), "video": False},
            "runtime": {
                "stats_log_interval_s": 0,
                "nvdec_mode": args.nvdec_mode,
                "processes": args.processes,
            },
        }
    )


def one_run(args: argparse.Namespace, streams: int) -> dict[str, Any]:
    from visionflow.pipeline import Pipeline, ShardedRun

    with tempfile.TemporaryDirectory() as work:
        cfg = config(args, streams, Path(work))
        began = time.perf_counter()
        summary = ShardedRun(cfg).run() if args.processes > 1 else Pipeline(cfg).run()
        total_s = time.perf_counter() - began
    stages = {s.stage: {"p50": s.p50_ms, "p99": s.p99_ms} for s in summary.stats.summary()}
    return {
        "frames": summary.frames,
        "wall_s": summary.wall_s,
        "startup_s": total_s - summary.wall_s,
        "fps_total": summary.fps,
        "batches": summary.batches,
        "mean_batch": summary.frames / max(summary.batches, 1),
        "process_cpu_s": summary.process_cpu_s,
        "stage_ms": stages,
        "gpu_memory": None
        if summary.gpu_memory is None
        else {**asdict(summary.gpu_memory), "per_stream_mib": summary.gpu_memory.per_stream_mib},
        "error": summary.error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 16, 32, 64])
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--input-size", type=int, default=416)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--assets", default="data")
    parser.add_argument("--nvdec-mode", choices=["auto", "packet", "threaded"], default="auto")
    parser.add_argument(
        "--processes", type=int, default=1, help="runtime.processes: processes sharing the streams"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = []
    for n in args.streams:
        reps = [one_run(args, n) for _ in range(args.repeats)]
        fps = [r["fps_total"] for r in reps]
        best = reps[fps.index(max(fps))]
        runs.append(
            {
                "streams": n,
                "fps_total_median": statistics.median(fps),
                "fps_total_range": [min(fps), max(fps)],
                "repeats": reps,
            }
        )
        st = best["stage_ms"]
        mem = best["gpu_memory"] or {}
        print(
            f"pipeline {n:>3} streams: {statistics.median(fps):7.0f} fps "
            f"(batch {best['mean_batch']:.1f}; p50 ms pre {st['preprocess']['p50']:.1f} "
            f"inf {st['inference']['p50']:.1f} post {st['postprocess']['p50']:.1f} "
            f"track {st['tracking']['p50']:.1f} analytics {st['analytics']['p50']:.1f}; "
            f"GPU {mem.get('total_mib', 0):.0f} MiB, {mem.get('per_stream_mib') or 0:.1f}/stream; "
            f"start-up {best['startup_s']:.1f} s; "
            f"CPU {best['process_cpu_s'] / best['wall_s']:.1f} cores)"
        )
    write_result(
        {
            "benchmark": "gpu_pipeline",
            "clip": args.clip.name,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "gpu": gpu_info() if args.device.startswith("cuda") else None,
            "git": git_info(),
            "runs": runs,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
