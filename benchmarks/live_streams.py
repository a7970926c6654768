"""N live RTSP streams through the whole pipeline: per-stream fps, drops and frame age.

The sample clip is retimed to 30 fps (timestamps rescaled, no re-encode), looped
4x and served by one real RTSP server process (GStreamer's gst-rtsp-server under
the system Python, the same server the live tests use) on N mount points; the
pipeline reads rtsp://127.0.0.1:PORT/s0 … s{N-1} as N live cameras, detects,
tracks, counts and writes events (no video). Once every stream has processed
30 frames (``all_streaming_after_s``) and after a warm-up, two snapshots
``measure_s`` apart give per-stream fps in/out, drops and frame age (arrival →
inference) p50/p99 over the window, and the stage and end-to-end latency
percentiles cover the window only (results written before that change
also held the start-up); ``rounds`` repeats with a fresh pipeline
give the spread.

``--diagnose`` adds what explains drops: the run's drops and output per 0.25 s
of the window, the garbage collector's pauses, every source ``poll`` that
held its ingest thread for over 3 ms (when, which stream, how long), every
NVDEC restart (open or loop of a stream) and every GPU batch whose wall time
or a stage of which took over 20 ms (when, the stage times), to tell whether
the slow batches follow restarts, slow polls or collections.

Usage (on a quiet machine)::

    .venv/bin/python benchmarks/live_streams.py --streams 16 --input-size 128 \
        --out benchmarks/results/live_streams_cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "tests" / "integration" / "live" / "live_rtsp_server.py"
_STAGES = ("preprocess_s", "inference_s", "postprocess_s")
sys.path.insert(0, str(Path(__file__).parent))

from cpu_e2e import git_info, machine_info  # noqa: E402


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("visionflow", "av", "onnxruntime", "numpy", "torch", "pynvvideocodec"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_30fps_clip(sample: Path, work: Path, loops: int) -> Path:
    """The sample at 30 fps (10 fps timestamps scaled by 1/3), looped ``loops`` times."""
    out = work / "vtest30.mp4"
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("ffmpeg is missing: run `make test` first (it installs it)")
    cmd = [ffmpeg, "-v", "error", "-y", "-stream_loop", str(loops - 1), "-itsscale", "0.3333333"]
    subprocess.run([*cmd, "-i", str(sample), "-c", "copy", str(out)], check=True)
    return out


class Server:
    def __init__(self, media: Path, mounts: int) -> None:
        self.port = _free_port()
        cmd = ["/usr/bin/python3", str(SERVER), "--file", str(media)]
        cmd += ["--port", str(self.port), "--mounts", str(mounts)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            sys.exit(f"RTSP server did not start: {line}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


def _sources(args: argparse.Namespace, port: int) -> list[dict[str, Any]]:
    if args.realtime_file:  # a camera stand-in where no RTSP server can run (the GPU machine)
        uri = str(args.realtime_file)
        return [
            {"id": f"cam{i}", "uri": uri, "realtime": True, "loop": True}
            for i in range(args.streams)
        ]
    return [
        {"id": f"cam{i}", "uri": f"rtsp://127.0.0.1:{port}/s{i}", "stall_timeout_s": 10}
        for i in range(args.streams)
    ]


def pipeline_config(args: argparse.Namespace, port: int, out: Path) -> Any:
    from visionflow.config import PipelineConfig

    models = Path(args.assets) / "models"
    return PipelineConfig.model_validate(
        {
            "device": args.device,
            "sources": _sources(args, port),
            "model": {
                "cfg": str(models / "yolov3-tiny.cfg"),
                "weights": str(models / "yolov3-tiny.weights"),
                "names": str(models / "coco.names"),
                "input_size": args.input_size,
                "cache_dir": str(Path(args.assets) / "cache"),
                # named only when chosen: older visionflow (an A/B's baseline) lacks the key
                **({"gpu_runtime": args.gpu_runtime} if args.gpu_runtime != "torch" else {}),
            },
            "detector": {"classes": ["person"]},
            "batching": {"max_batch_size": args.batch, "timeout_ms": args.batch_timeout_ms},
            "analytics": {
                "lines": [{"name": "walkway", "start": [360, 380], "end": [360, 150]}],
                "zones": [
                    {
                        "name": "plaza",
                        "polygon": [[470, 230], [700, 200], [768, 300], [768, 480], [470, 330]],
                    }
                ],
            },
            "events": {"counts_interval_s": 1.0, "stats_interval_s": 5.0},
            "output": {"dir": str(out), "video": False},
            "runtime": {
                "stats_log_interval_s": 0,
                "live_queue_frames": args.live_queue_frames,
                "nvdec_mode": args.nvdec_mode,
                "gil_switch_interval_ms": args.switch_interval_ms or "auto",
                # only when set, so that commits without the option run too
                **({"idle_spin_ms": args.idle_spin_ms} if args.idle_spin_ms else {}),
            },
        }
    )


def _git() -> dict[str, Any]:
    """The commit measured: ``$VISIONFLOW_COMMIT`` on the GPU machine (its copy's .git is stale)."""
    commit = os.environ.get("VISIONFLOW_COMMIT")
    if commit:
        return {"commit": commit, "dirty": os.environ.get("VISIONFLOW_DIRTY", "unknown")}
    return git_info()


def python_loop_ms(repeats: int = 5) -> dict[str, float]:
    """One thread's speed at pure Python, to compare machines: ms per million
    loop iterations (median, min, max of ``repeats``). The lent H200 machines
    differ 2-4x in what the pipeline's Python threads get done."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        times.append((time.perf_counter() - t) * 1e3)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def snapshot(pipeline: Any) -> dict[str, dict[str, float]]:
    out = {}
    for sid in list(pipeline.streams):
        s = pipeline.stream_status(sid)
        out[sid] = {
            "t": time.monotonic(),
            "decoded": s.frames_decoded,
            "processed": s.frames_processed,
            "dropped": s.dropped_frames + s.source_dropped,
            "reconnects": s.reconnects,
            "age_p50_ms": s.frame_age_p50_ms,
            "age_p99_ms": s.frame_age_p99_ms,
            "state": s.state,
        }
    return out


def all_streaming(pipeline: Any, since: float, frames: int = 30, limit_s: float = 60.0) -> float:
    """Wait until every stream has processed ``frames``; the seconds since ``since``.

    The warm-up starts then: at 100+ streams, opening the decoders and their
    first pictures take seconds, and a fixed warm-up from the start let that
    start-up land in the measured window.
    """
    deadline = since + limit_s
    while time.monotonic() < deadline:
        if all(s.frames_processed >= frames for s in list(pipeline.streams.values())):
            break
        time.sleep(0.05)
    return time.monotonic() - since


def one_round(args: argparse.Namespace, port: int, work: Path) -> dict[str, Any]:
    from visionflow.pipeline import Pipeline

    cfg = pipeline_config(args, port, work / "out")
    cpu0 = time.process_time()
    diagnosis = Diagnosis() if args.diagnose else None
    with contextlib.ExitStack() as stack:
        if diagnosis is not None:
            stack.enter_context(diagnosis)
        pipeline = stack.enter_context(Pipeline(cfg))
        entered = time.monotonic()
        streaming_after_s = all_streaming(pipeline, entered)
        time.sleep(args.warmup_s)
        pipeline.stats.reset()  # stage and end-to-end percentiles of the window only
        first = snapshot(pipeline)
        if diagnosis is not None:
            diagnosis.watch(pipeline, args.measure_s)
        else:
            time.sleep(args.measure_s)
        last = snapshot(pipeline)
        cpu_s = time.process_time() - cpu0
        memory = pipeline.summary().gpu_memory
    streams = {}
    for sid, a in first.items():
        b = last[sid]
        dt = b["t"] - a["t"]
        streams[sid] = {
            "fps_in": (b["decoded"] - a["decoded"]) / dt,
            "fps_out": (b["processed"] - a["processed"]) / dt,
            "dropped": b["dropped"] - a["dropped"],
            "reconnects": b["reconnects"] - a["reconnects"],
            "frame_age_p50_ms": b["age_p50_ms"],
            "frame_age_p99_ms": b["age_p99_ms"],
            "state": b["state"],
        }
    fps_out = [s["fps_out"] for s in streams.values()]
    return {
        "streams": streams,
        "all_streaming_after_s": streaming_after_s,
        "total_fps_out": sum(fps_out),
        "min_stream_fps_out": min(fps_out),
        "median_stream_fps_out": statistics.median(fps_out),
        "total_dropped": sum(s["dropped"] for s in streams.values()),
        "median_age_p50_ms": statistics.median(s["frame_age_p50_ms"] for s in streams.values()),
        "max_age_p99_ms": max(s["frame_age_p99_ms"] for s in streams.values()),
        "process_cpu_s": cpu_s,
        "gpu_memory_mib": None
        if memory is None
        else {
            "total": memory.total_mib,
            "model": memory.model_mib,
            "per_stream": memory.per_stream_mib,
            "streams": memory.streams,
        },
        "stage_latency_ms": {
            st.stage: {"p50": st.p50_ms, "p99": st.p99_ms} for st in pipeline.stats.summary()
        },
        **({"diagnosis": diagnosis.report()} if diagnosis is not None else {}),
    }


class Diagnosis:
    """What explains drops (``--diagnose``): a timeline, GC pauses and slow source polls."""

    STEP_S = 0.25
    SLOW_POLL_S = 0.003
    SLOW_BATCH_S = 0.020

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.timeline: list[dict[str, float]] = []
        self.gc_pauses_ms: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.slow_polls: list[dict[str, Any]] = []
        self.full_collections: list[dict[str, float]] = []
        self.restarts: list[float] = []
        self.slow_batches: list[dict[str, float]] = []
        self._gc_start = 0.0
        self._patched: Any = None

    def now_s(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def __enter__(self) -> Diagnosis:
        from visionflow.inference.gpu_detector import GpuDetector
        from visionflow.sources.gpu_file import GpuFileSource

        gc.callbacks.append(self._on_gc)
        original = self._patched = GpuFileSource.poll
        self._originals = (GpuFileSource._restart, GpuDetector.detect)
        restart, detect = self._originals
        slow = self.slow_polls

        def logged_restart(source: Any, first_pictures: Any) -> None:
            self.restarts.append(self.now_s())
            restart(source, first_pictures)

        def timed_detect(detector: Any, *args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            found = detect(detector, *args, **kwargs)
            wall = time.perf_counter() - t
            stages = detector.last_timings
            if max(wall, stages.preprocess_s, stages.inference_s, stages.postprocess_s) > (
                self.SLOW_BATCH_S
            ):
                ms = {k: round(getattr(stages, k) * 1e3, 2) for k in _STAGES}
                batch = len(args[0]) if args else 0
                self.slow_batches.append(
                    {"t_s": self.now_s(), "wall_ms": round(wall * 1e3, 2), "batch": batch, **ms}
                )
            return found

        GpuFileSource._restart = logged_restart  # type: ignore[method-assign]
        GpuDetector.detect = timed_detect  # type: ignore[method-assign]

        def timed_poll(source: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(source)
            finally:
                dt = time.perf_counter() - t
                if dt > self.SLOW_POLL_S:
                    at = round(time.monotonic() - self.t0, 3)
                    slow.append({"t_s": at, "stream": source.stream_id, "ms": dt * 1e3})

        GpuFileSource.poll = timed_poll  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from visionflow.inference.gpu_detector import GpuDetector
        from visionflow.sources.gpu_file import GpuFileSource

        gc.callbacks.remove(self._on_gc)
        GpuFileSource.poll = self._patched  # type: ignore[method-assign]
        GpuFileSource._restart, GpuDetector.detect = self._originals  # type: ignore[method-assign]

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            pause_ms = (time.perf_counter() - self._gc_start) * 1e3
            self.gc_pauses_ms[info["generation"]].append(pause_ms)
            if info["generation"] == 2:
                at = round(time.monotonic() - self.t0, 3)
                self.full_collections.append({"t_s": at, "ms": pause_ms})

    def watch(self, pipeline: Any, seconds: float) -> None:
        """Sample the counters every :attr:`STEP_S` (without ``stream_status``'s percentiles)."""
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            totals = {"dropped": 0.0, "processed": 0.0}
            for sid, status in list(pipeline.streams.items()):
                totals["dropped"] += pipeline._batcher.dropped(sid) + status.source_dropped
                totals["processed"] += status.frames_processed
            self.timeline.append({"t_s": round(now - self.t0, 3), **totals})
            time.sleep(min(self.STEP_S, max(0.0, end - time.monotonic())))

    def report(self) -> dict[str, Any]:
        steps = [
            {
                "t_s": b["t_s"],
                "dropped": b["dropped"] - a["dropped"],
                "processed": b["processed"] - a["processed"],
            }
            for a, b in zip(self.timeline, self.timeline[1:], strict=False)
        ]
        return {
            "timeline_step_s": self.STEP_S,
            "timeline": steps,
            "gc_pauses": {
                str(gen): {"count": len(p), "total_ms": sum(p), "max_ms": max(p, default=0.0)}
                for gen, p in self.gc_pauses_ms.items()
            },
            "full_collections": self.full_collections,
            "slow_polls": self.slow_polls,
            "restarts_t_s": self.restarts,
            "slow_batches": self.slow_batches,
            "slow_batches_after": self._coincidences(),
        }

    def _coincidences(self, window_s: float = 0.05) -> dict[str, int]:
        """Slow batches with a restart / slow poll / full collection while they ran
        or in the 50 ms before they started."""

        def near(times: list[float], batch: dict[str, float]) -> bool:
            start = batch["t_s"] - batch["wall_ms"] / 1e3 - window_s
            return any(start <= x <= batch["t_s"] for x in times)

        polls = [p["t_s"] for p in self.slow_polls]
        collections = [c["t_s"] for c in self.full_collections]
        return {
            "slow_batches": len(self.slow_batches),
            "a_restart": sum(near(self.restarts, b) for b in self.slow_batches),
            "a_slow_poll": sum(near(polls, b) for b in self.slow_batches),
            "a_full_collection": sum(near(collections, b) for b in self.slow_batches),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--input-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batch-timeout-ms", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=8.0)
    parser.add_argument("--measure-s", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--assets", default=os.environ.get("VISIONFLOW_ASSETS", "data"))
    parser.add_argument(
        "--out", type=Path, default=None, help="results JSON; gzipped when it ends in .gz"
    )
    parser.add_argument(
        "--realtime-file",
        type=Path,
        default=None,
        help="instead of RTSP: every stream reads this file paced at its fps (realtime: true)",
    )
    parser.add_argument("--live-queue-frames", type=int, default=2)
    parser.add_argument(
        "--diagnose", action="store_true", help="drop timeline, GC pauses, slow source polls"
    )
    parser.add_argument("--nvdec-mode", choices=["auto", "packet", "threaded"], default="auto")
    parser.add_argument(
        "--gpu-runtime",
        choices=["torch", "onnxruntime-cuda", "onnxruntime-tensorrt"],
        default="torch",
        help="model.gpu_runtime: what runs the model on the GPU",
    )
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=0.0,
        help="runtime.gil_switch_interval_ms; 0 = auto (1 ms on the GPU, else unchanged)",
    )
    parser.add_argument(
        "--idle-spin-ms",
        type=float,
        default=0.0,
        help="runtime.idle_spin_ms: the inference thread polls this long after a batch",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="run the streams as K processes of this benchmark side by side (as runtime.processes"
        " shares them), each a pipeline on its share; the report adds them up",
    )
    args = parser.parse_args()
    if args.processes > 1:
        run_processes(args)
        return
    work = Path(tempfile.mkdtemp(prefix="visionflow-live-"))
    load_before = os.getloadavg()
    python_speed = python_loop_ms()
    if args.realtime_file:
        rounds = [one_round(args, 0, work) for _ in range(args.rounds)]
    else:
        clip = make_30fps_clip(Path(args.assets) / "vtest.mp4", work, loops=4)
        server = Server(clip, args.streams)
        try:
            rounds = [one_round(args, server.port, work) for _ in range(args.rounds)]
        finally:
            server.close()
    report = {
        "benchmark": "live_streams",
        "what": (
            f"{args.streams} live streams: "
            + (
                f"{args.realtime_file} paced at its fps (realtime: true, looped)"
                if args.realtime_file
                else "RTSP, the sample at 30 fps, one gst-rtsp-server process"
            )
        ),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "machine": machine_info(),
        "versions": versions(),
        "git": _git(),
        "load_avg_before": load_before,
        "python_loop_ms_before": python_speed,
        "rounds": rounds,
        "summary": {
            "total_fps_out_median": statistics.median(r["total_fps_out"] for r in rounds),
            "total_fps_out_range": [
                min(r["total_fps_out"] for r in rounds),
                max(r["total_fps_out"] for r in rounds),
            ],
            "min_stream_fps_out": min(r["min_stream_fps_out"] for r in rounds),
            "dropped_per_round": [r["total_dropped"] for r in rounds],
            "age_p50_ms_median": statistics.median(r["median_age_p50_ms"] for r in rounds),
            "age_p99_ms_max": max(r["max_age_p99_ms"] for r in rounds),
        },
    }
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix == ".gz":  # --diagnose results run to hundreds of kB
            args.out.write_bytes(gzip.compress((text + "\n").encode(), mtime=0))
        else:
            args.out.write_text(text + "\n")
    print(json.dumps(report["summary"], indent=2))


def run_processes(args: argparse.Namespace) -> None:
    """``--processes K``: K children of this script on round-robin shares of the streams,
    started together; one report with the totals and every child's own round.

    The pipeline's snapshots (warm-up, window) need the Pipeline object, so each
    child is this benchmark on its share, not :class:`visionflow.pipeline.ShardedRun`;
    the topology is the same: K processes, each a whole pipeline.
    """
    k = min(args.processes, args.streams)
    shares = [args.streams // k + (i < args.streams % k) for i in range(k)]
    work = Path(tempfile.mkdtemp(prefix="visionflow-live-procs-"))
    base = list(sys.argv[1:])
    children = []
    for i, share in enumerate(shares):
        out = work / f"process{i}.json"
        argv = [*base, "--processes", "1", "--streams", str(share), "--out", str(out)]
        children.append((out, subprocess.Popen([sys.executable, __file__, *argv])))
    for _, child in children:
        child.wait()
    parts = [json.loads(out.read_text()) for out, _ in children]
    rounds = [p["rounds"][0] for p in parts]
    streams = {f"p{i}/{sid}": s for i, r in enumerate(rounds) for sid, s in r["streams"].items()}
    total = {
        "streams": streams,
        "processes": k,
        "all_streaming_after_s": [r["all_streaming_after_s"] for r in rounds],
        "total_fps_out": sum(r["total_fps_out"] for r in rounds),
        "min_stream_fps_out": min(r["min_stream_fps_out"] for r in rounds),
        "median_stream_fps_out": statistics.median(s["fps_out"] for s in streams.values()),
        "total_dropped": sum(r["total_dropped"] for r in rounds),
        "process_cpu_s": sum(r["process_cpu_s"] for r in rounds),
        "stage_latency_ms_per_process": [r["stage_latency_ms"] for r in rounds],
        "stage_latency_ms": {  # the worst process's percentiles (samples are not pooled)
            stage: {q: max(r["stage_latency_ms"][stage][q] for r in rounds) for q in ("p50", "p99")}
            for stage in rounds[0]["stage_latency_ms"]
        },
    }
    report = {
        **{k_: parts[0][k_] for k_ in ("benchmark", "machine", "versions", "git")},
        "what": f"{args.streams} live streams in {k} processes of {shares} streams",
        "settings": {k_: v for k_, v in vars(args).items() if k_ != "out"},
        "python_loop_ms_before": [p["python_loop_ms_before"] for p in parts],
        "rounds": [total],
        "summary": {
            "total_fps_out": total["total_fps_out"],
            "min_stream_fps_out": total["min_stream_fps_out"],
            "dropped": total["total_dropped"],
            "worst_end_to_end_ms": total["stage_latency_ms"].get("end_to_end"),
        },
    }
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
