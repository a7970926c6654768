"""The naive GPU baseline: one Python thread per stream, per-frame torch inference.

The pipeline a first GPU prototype would write (DESIGN.md §1), to compare with
visionflow's GPU pipeline (``gpu_e2e.py``) on the same 1080p clip. Every stream
is one thread running, frame by frame::

    cv2.VideoCapture.read()                      decode (BGR, host)
    cvtColor + naive_baseline.letterbox          preprocess (NumPy, [1, 3, S, S] float32)
    torch.from_numpy(blob).to(device).half()     inference: pageable host->device copy,
    model(x).float().cpu().numpy()                 eager module at batch 1, copy back
    naive_baseline.decode_output + nms           postprocess (Python loops per row/box)
    naive_baseline.BYTETracker.update            tracking (STrack objects, own Kalman each)
    naive_baseline.Analytics.update              analytics (line + zone, per object, events)

Only the model differs from ``naive_baseline.py``: the same YOLOv3-tiny Darknet
weights as visionflow, built as a torch module by visionflow's own builder
(:func:`visionflow.inference.backends.torch_darknet.build_darknet_module`, the
module :class:`GpuDetector` wraps), then ``.to(device).half()`` on CUDA (float32
on the CPU) — eager, no CUDA graphs, no channels_last, one module shared by all
threads, under ``torch.no_grad()``, on the default CUDA stream. Everything else
(letterbox, decode, NMS, tracker, counters) is imported from ``naive_baseline``.

Detection settings follow ``gpu_e2e.py``: persons only (class 0), confidence
0.25, NMS IoU 0.45, ByteTrack's defaults. Analytics: a ``door`` line across the
frame at y = 700/1080 of its height (``gpu_e2e.py``'s line) and the demo's
``plaza`` zone scaled from 768x576 to the clip's size (the 1080p clip is the
sample upscaled); events are built as JSON strings, not written anywhere.

Method: per stream count, ``--repeats`` runs. In a run every thread opens its
own capture (the clip is reopened when it ends), processes ``--warmup-frames``
untimed frames, waits at a barrier, then ``--frames`` timed frames. Per run:

* ``fps_total``: timed frames of all streams / wall (barrier -> last thread done);
* ``latency_ms``: per frame, start of ``cap.read()`` -> analytics done
  (p50/p90/p99/max); ``latency_after_decode_ms`` starts after ``cap.read()``
  instead, like ``gpu_e2e.py``'s arrival -> counted latency;
* ``stages_ms``: per-stage p50/p90 over all frames (wall time of the thread,
  waits on the GIL included);
* ``cpu_s``: process CPU seconds (user + system) over the timed part, and
  ``cpu_cores_busy`` = cpu_s / wall.

Each stream count reports the median and min/max of these over the repeats.
``--pace-fps F`` paces each stream like a live camera (frame k read no earlier
than k/F s after the stream's first timed frame; lossless, late frames are read
at once); off by default (as fast as possible).

Usage on the GPU machine (PYTHONPATH=src:benchmarks)::

    python benchmarks/gpu_naive.py --clip .gpu_assets/vtest_1080p_h264.mp4 \
        --streams 1 4 16 --out benchmarks/results/gpu_naive.json

(about 70 s on an H100 with the defaults, 150 timed frames x 3 repeats; about
130 s with ``--frames 300``: 16 naive streams reach only ~150 fps in total).

Locally, on the CPU::

    .venv/bin/python benchmarks/gpu_naive.py --device cpu --streams 1 2 --frames 20 \
        --clip data/vtest.mp4 --out /tmp/naive_cpu.json
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import resource
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import naive_baseline as nb
from cpu_e2e import machine_info
from gpu_common import REPO, RESULTS, git_info, gpu_info, spread, write_result

STAGES = ("decode", "preprocess", "inference", "postprocess", "tracking", "analytics")
PERSON = 0
DEMO_WH = (768, 576)
"""Size of the demo clip the demo zone is drawn for."""
DEMO_ZONE = [[470, 230], [700, 200], [768, 300], [768, 480], [600, 420], [470, 330]]
DOOR_Y = 700 / 1080
"""``gpu_e2e.py``'s counting line, as a fraction of the frame height."""


# -- model -----------------------------------------------------------------------------


def models_dir() -> Path:
    """``$VISIONFLOW_ASSETS/models`` when set, else the repository's ``data/models``."""
    env = os.environ.get("VISIONFLOW_ASSETS")
    return Path(env) / "models" if env else REPO / "data" / "models"


def load_model(models: Path, input_size: int, device: str) -> tuple[Any, list[str]]:
    """YOLOv3-tiny as an eager torch module (fp16 on CUDA) and the class names.

    The module is visionflow's Darknet builder's (the one ``GpuDetector.from_darknet``
    wraps), without visionflow's ``TorchBackend`` (CUDA graphs, channels_last).
    """
    from visionflow.inference.backends.torch_darknet import build_darknet_module
    from visionflow.inference.darknet import load_cfg, read_weights

    sections = load_cfg(models / "yolov3-tiny.cfg", fix_tiny_mask=True)
    weights = read_weights(models / "yolov3-tiny.weights").values
    module = build_darknet_module(sections, weights, (input_size, input_size)).to(device)
    if device.startswith("cuda"):
        module = module.half()
    names = [s.strip() for s in (models / "coco.names").read_text().splitlines() if s.strip()]
    return module.eval(), names


def make_settings(
    clip: Path, names: list[str], input_size: int, frame_wh: tuple[int, int]
) -> nb.Settings:
    """naive_baseline's settings for the clip: persons, a door line and the plaza zone."""
    w, h = frame_wh
    sx, sy = w / DEMO_WH[0], h / DEMO_WH[1]
    door = {
        "name": "door",
        "start": [0.0, DOOR_Y * h],
        "end": [float(w), DOOR_Y * h],
        "in_name": "in",
        "out_name": "out",
        "classes": [PERSON],
        "min_frames": 2,
    }
    plaza = {
        "name": "plaza",
        "polygon": [[x * sx, y * sy] for x, y in DEMO_ZONE],
        "classes": [PERSON],
        "min_frames": 2,
    }
    return nb.Settings(
        video=str(clip),
        onnx_path="",  # unused: the model is the torch module
        class_names=names,
        out_dir="",  # unused: nothing is written per stream
        input_size=input_size,
        class_ids=[PERSON],
        tracker=tracker_defaults(),
        lines=[door],
        zones=[plaza],
    )


def tracker_defaults() -> dict[str, Any]:
    """naive_baseline's ``BYTETracker`` defaults (visionflow's ByteTrack defaults), spelt out."""
    params = inspect.signature(nb.BYTETracker.__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


# -- one run ---------------------------------------------------------------------------


@dataclass
class StreamLog:
    """What one stream thread measured over its timed frames (ms per frame)."""

    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    latency: list[float] = field(default_factory=list)
    after_decode: list[float] = field(default_factory=list)
    detections: int = 0
    tracked: int = 0
    events: int = 0
    frames: int = 0
    end: float = 0.0
    error: BaseException | None = None


class Frames:
    """``cv2.VideoCapture`` over the clip, reopened when it ends."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self.cap = self._open()
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.clip))
        if not cap.isOpened():
            raise RuntimeError(f"cv2.VideoCapture cannot open {self.clip}")
        return cap

    def read(self) -> np.ndarray:
        ok, frame = self.cap.read()
        if not ok:
            self.cap.release()
            self.cap = self._open()
            ok, frame = self.cap.read()
            if not ok:
                raise RuntimeError(f"{self.clip} has no frame")
        return frame

    def release(self) -> None:
        self.cap.release()


def stream_worker(  # noqa: PLR0917
    model: Any,
    device: str,
    s: nb.Settings,
    frames: int,
    warmup: int,
    pace_fps: float,
    barrier: threading.Barrier,
    log: StreamLog,
) -> None:
    """One stream, strictly sequential, frame by frame (the whole naive pipeline)."""
    import torch

    half = device.startswith("cuda")
    try:
        source = Frames(Path(s.video))
        tracker = nb.BYTETracker(**s.tracker)
        analytics = nb.Analytics(s, source.fps)
        paced_start = 0.0
        with torch.no_grad():
            for n in range(warmup + frames):
                timed = n >= warmup
                if n == warmup:
                    barrier.wait()
                    paced_start = time.perf_counter()
                if timed and pace_fps > 0:
                    due = paced_start + (n - warmup) / pace_fps
                    time.sleep(max(0.0, due - time.perf_counter()))
                t0 = time.perf_counter()
                frame = source.read()
                t1 = time.perf_counter()
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                blob, scale, pad_x, pad_y = nb.letterbox(rgb, s.input_size)
                t2 = time.perf_counter()
                x = torch.from_numpy(blob).to(device)
                if half:
                    x = x.half()
                output = model(x).float().cpu().numpy()
                t3 = time.perf_counter()
                size_wh = (frame.shape[1], frame.shape[0])
                dets = nb.nms(
                    nb.decode_output(output[0], scale, (pad_x, pad_y), size_wh, s),
                    s.nms_iou,
                    s.max_detections,
                )
                t4 = time.perf_counter()
                tracks = tracker.update(dets)
                t5 = time.perf_counter()
                events = analytics.update(tracks, n)
                t6 = time.perf_counter()
                if not timed:
                    continue
                marks = (t0, t1, t2, t3, t4, t5, t6)
                for stage, begin, end in zip(STAGES, marks[:-1], marks[1:], strict=True):
                    log.stages[stage].append((end - begin) * 1e3)
                log.latency.append((t6 - t0) * 1e3)
                log.after_decode.append((t6 - t1) * 1e3)
                log.detections += len(dets)
                log.tracked += len(tracks)
                log.events += len(events)
                log.frames += 1
        log.end = time.perf_counter()
        source.release()
    except threading.BrokenBarrierError:
        pass  # another stream failed; its error is reported
    except BaseException as exc:
        log.error = exc
        barrier.abort()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max (NumPy's linear percentiles, as the other benchmarks)."""
    arr = np.asarray(values)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


def run_once(  # noqa: PLR0917
    model: Any, device: str, s: nb.Settings, streams: int, frames: int, warmup: int, pace: float
) -> dict[str, Any]:
    """``streams`` threads over the clip; returns the run's statistics."""
    import torch

    marks: dict[str, float] = {}

    def start() -> None:  # runs in one thread once all have warmed up
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        marks["cpu"] = cpu_seconds()
        marks["start"] = time.perf_counter()

    barrier = threading.Barrier(streams, action=start)
    logs = [StreamLog() for _ in range(streams)]
    threads = [
        threading.Thread(
            target=stream_worker,
            args=(model, device, s, frames, warmup, pace, barrier, log),
            name=f"stream{i}",
        )
        for i, log in enumerate(logs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = cpu_seconds() - marks.get("cpu", 0.0)
    for log in logs:
        if log.error is not None:
            raise RuntimeError(f"a stream thread failed: {log.error!r}") from log.error
    wall = max(log.end for log in logs) - marks["start"]
    per_stream_fps = [log.frames / (log.end - marks["start"]) for log in logs]
    total = sum(log.frames for log in logs)
    stages = {stage: pct([v for log in logs for v in log.stages[stage]]) for stage in STAGES}
    result: dict[str, Any] = {
        "streams": streams,
        "frames": total,
        "wall_s": wall,
        "fps_total": total / wall,
        "fps_per_stream_min": min(per_stream_fps),
        "fps_per_stream_median": statistics.median(per_stream_fps),
        "latency_ms": pct([v for log in logs for v in log.latency]),
        "latency_after_decode_ms": pct([v for log in logs for v in log.after_decode]),
        "stages_ms": stages,
        "cpu_s": cpu,
        "cpu_cores_busy": cpu / wall,
        "detections_per_frame": sum(log.detections for log in logs) / total,
        "tracked_per_frame": sum(log.tracked for log in logs) / total,
        "events": sum(log.events for log in logs),
    }
    if device.startswith("cuda"):
        result["gpu_peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and min/max over the repeats of one stream count, plus every run."""
    lat = ("latency_ms", "latency_after_decode_ms")
    return {
        "streams": runs[0]["streams"],
        "frames_per_run": runs[0]["frames"],
        "fps_total": spread([r["fps_total"] for r in runs]),
        "fps_per_stream_min": spread([r["fps_per_stream_min"] for r in runs]),
        **{
            key: {p: spread([r[key][p] for r in runs]) for p in ("p50", "p90", "p99", "max")}
            for key in lat
        },
        "stage_p50_ms": {
            stage: spread([r["stages_ms"][stage]["p50"] for r in runs]) for stage in STAGES
        },
        "cpu_s": spread([r["cpu_s"] for r in runs]),
        "cpu_cores_busy": spread([r["cpu_cores_busy"] for r in runs]),
        "runs": runs,
    }


# -- report ----------------------------------------------------------------------------


def versions() -> dict[str, Any]:
    import scipy
    import torch

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cv2": cv2.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    for dist in ("opencv-python-headless", "opencv-python"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def cuda_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"gpu_name": torch.cuda.get_device_name(0)}
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        info["driver_version"] = done.stdout.strip().splitlines()[0] if done.stdout else None
        info.update(gpu_info())
    except FileNotFoundError:
        info["driver_version"] = None
    return info


def print_table(results: list[dict[str, Any]]) -> None:
    print("naive GPU baseline: median [min-max] over repeats; latency and stage p50s in ms")
    print(
        f"{'streams':>7} {'fps total':>19} {'lat p50':>8} {'p90':>8} {'p99':>8} "
        + " ".join(f"{s[:7]:>7}" for s in STAGES)
        + f" {'cpu s':>7} {'cores':>5}"
    )
    for r in results:
        fps, lat = r["fps_total"], r["latency_ms"]
        span = f"{fps['median']:.1f} [{fps['min']:.1f}-{fps['max']:.1f}]"
        stages = " ".join(f"{r['stage_p50_ms'][s]['median']:7.2f}" for s in STAGES)
        print(
            f"{r['streams']:>7} {span:>19} {lat['p50']['median']:8.2f} "
            f"{lat['p90']['median']:8.2f} {lat['p99']['median']:8.2f} {stages} "
            f"{r['cpu_s']['median']:7.2f} {r['cpu_cores_busy']['median']:5.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=REPO / ".gpu_assets/vtest_1080p_h264.mp4")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--frames", type=int, default=150, help="timed frames per stream")
    parser.add_argument("--warmup-frames", type=int, default=10, help="untimed, per stream")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=416)
    parser.add_argument("--pace-fps", type=float, default=0.0, help="0: as fast as possible")
    parser.add_argument("--models", type=Path, default=None, help="default: see models_dir()")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_naive.json")
    args = parser.parse_args()
    import torch

    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {device}: torch {torch.__version__} sees no CUDA GPU")
    models = args.models or models_dir()
    model, names = load_model(models, args.input_size, device)
    probe = Frames(args.clip)
    first = probe.read()
    probe.release()
    settings = make_settings(args.clip, names, args.input_size, (first.shape[1], first.shape[0]))
    with torch.no_grad():  # first-call allocations and kernel selection, once per process
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        x = torch.zeros(1, 3, args.input_size, args.input_size, dtype=dtype, device=device)
        for _ in range(5):
            model(x).float().cpu()

    report: dict[str, Any] = {
        "benchmark": "gpu_naive",
        "machine": machine_info(),
        "gpu": cuda_info() if device.startswith("cuda") else None,
        "versions": versions(),
        "git": git_info(),
        "settings": {
            "clip": str(args.clip),
            "frame_wh": [first.shape[1], first.shape[0]],
            "device": device,
            "dtype": "float16" if device.startswith("cuda") else "float32",
            "model": "yolov3-tiny (Darknet weights, visionflow's build_darknet_module, eager)",
            "models_dir": str(models),
            "input_size": args.input_size,
            "streams": args.streams,
            "frames_per_stream": args.frames,
            "warmup_frames": args.warmup_frames,
            "repeats": args.repeats,
            "pace_fps": args.pace_fps,
            "torch_threads": torch.get_num_threads(),
            "cv2_threads": cv2.getNumThreads(),
            "naive": {
                k: v
                for k, v in asdict(settings).items()
                if k not in ("onnx_path", "out_dir", "class_names")
            },
        },
        "results": [],
    }
    results = report["results"]
    for streams in args.streams:
        runs = []
        for i in range(args.repeats):
            run = run_once(
                model, device, settings, streams, args.frames, args.warmup_frames, args.pace_fps
            )
            print(
                f"  streams={streams:2d} run {i + 1}/{args.repeats}: "
                f"{run['fps_total']:.1f} fps, p50 {run['latency_ms']['p50']:.2f} ms",
                flush=True,
            )
            runs.append(run)
        results.append(summarise(runs))
    print_table(results)
    write_result(report, args.out)


if __name__ == "__main__":
    main()
