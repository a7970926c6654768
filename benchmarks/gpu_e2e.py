"""End-to-end GPU pipeline on N concurrent 1080p streams: NVDEC, batch, detect, track, count.

Each stream is a thread running visionflow's :class:`NvdecDecoder` over the
1080p clip (``--loops`` passes); frames (device NV12 tensors) go into one
bounded queue; the inference thread forms batches across streams (up to
``--max-batch``, ``--timeout-ms``), runs :class:`GpuDetector` (device
letterbox, fp16 CUDA-graph model, device NMS, one copy back), the per-stream
ByteTrack (:class:`MultiStreamTracker`) and a :class:`LineCounter` per stream.

Modes:

* ``throughput``: streams decode as fast as NVDEC allows, lossless
  (blocking queue); total fps = frames / wall.
* ``live``: every stream is paced at ``--fps`` (a live camera); a frame that
  finds the queue full is dropped and counted. A stream is *realtime* when it
  keeps >= 29.5 fps with no drops.

Per-stage times: decode (per frame, wall, in the decode thread), batch wait,
pre/model/post (CUDA events, per batch), tracking and analytics (wall, per
batch), and latency arrival -> counted (per frame). GPU memory: peak allocated.

Usage on the GPU machine::

    python benchmarks/gpu_e2e.py --clip .gpu_assets/vtest_1080p_h264.mp4 \
        --streams 1 8 32 64 --out benchmarks/results/gpu_e2e.json
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpu_common import RESULTS, git_info, gpu_info, spread, write_result

MODELS = Path("data/models")


@dataclass
class Item:
    stream: str
    number: int
    arrival_ns: int
    nv12: Any


@dataclass
class Stats:
    per_stage_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    frames: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    drops: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency_ms: list[float] = field(default_factory=list)
    first_ns: dict[str, int] = field(default_factory=dict)
    last_ns: dict[str, int] = field(default_factory=dict)
    batches: int = 0


def decode_streams(  # noqa: PLR0917
    sids: list[str],
    clip: Path,
    loops: int,
    out: queue.Queue[Item | None],
    stats: Stats,
    live_fps: float | None,
    synchronize: bool,
) -> None:
    """Decode several streams round-robin on one thread (fewer threads: less GIL contention)."""
    from visionflow.decode.nvdec import NvdecDecoder

    def frames(loop_count: int) -> Any:
        for _ in range(loop_count):
            yield from NvdecDecoder(clip, synchronize=synchronize).frames()

    active = {sid: frames(loops) for sid in sids}
    numbers = dict.fromkeys(sids, 0)
    # a live camera's clock starts with its first frame: opening the decoder
    # (~0.1 s) must not turn into a burst of overdue frames
    starts: dict[str, float] = {}
    while active:
        for sid in list(active):
            if live_fps is not None and sid in starts:
                due = starts[sid] + numbers[sid] / live_fps
                if due > time.perf_counter():
                    continue
            t0 = time.perf_counter()
            frame = next(active[sid], None)
            starts.setdefault(sid, time.perf_counter())
            stats.per_stage_ms["decode"].append((time.perf_counter() - t0) * 1e3)
            if frame is None:
                del active[sid]
                out.put(None)
                continue
            item = Item(sid, numbers[sid], time.monotonic_ns(), frame)
            stats.first_ns.setdefault(sid, item.arrival_ns)
            numbers[sid] += 1
            if live_fps is None:
                out.put(item)
                continue
            try:
                out.put_nowait(item)
            except queue.Full:
                stats.drops[sid] += 1
        if live_fps is not None and active and len(starts) == len(sids):
            nxt = min(starts[s] + numbers[s] / live_fps for s in active)
            time.sleep(max(0.0, nxt - time.perf_counter()))


def make_detector(model: str, max_batch: int) -> Any:
    """``yolov3-tiny`` (Darknet weights, 416) or ``yolov8n`` (Ultralytics yaml, random, 640)."""
    from visionflow.inference.gpu_detector import GpuDetector

    if model == "yolov3-tiny":
        return GpuDetector.from_darknet(
            MODELS / "yolov3-tiny.cfg",
            MODELS / "yolov3-tiny.weights",
            MODELS / "coco.names",
            class_ids=[0],
            max_batch_size=max_batch,
        )
    import torch
    from ultralytics import YOLO

    from visionflow.inference.backends.torch_backend import TorchBackend
    from visionflow.inference.postprocess import PostprocessConfig

    class FirstOutput(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.inner(x)
            return out[0] if isinstance(out, (tuple, list)) else out

    inner = YOLO("yolov8n.yaml").model.fuse().eval()
    # one bucket: Detect caches its anchors per input shape (see TorchBackend's buckets)
    backend = TorchBackend(
        FirstOutput(inner), (640, 640), max_batch_size=max_batch, buckets=[max_batch]
    )
    names = [f"class{i}" for i in range(80)]
    return GpuDetector(backend, names, (640, 640), PostprocessConfig(class_ids=frozenset({0})))


def infer_loop(  # noqa: PLR0917
    inbox: queue.Queue[Item | None],
    outbox: queue.Queue[Any],
    streams: int,
    max_batch: int,
    timeout_s: float,
    stats: Stats,
) -> None:
    detector = make_detector(MODEL[0], max_batch)
    detector.warm_up()
    ready.set()
    finished = 0
    while finished < streams:
        batch: list[Item] = []
        t_wait = time.perf_counter()
        deadline = None
        while len(batch) < max_batch and finished < streams:
            try:
                timeout = None if deadline is None else max(0.0, deadline - time.perf_counter())
                item = inbox.get(timeout=timeout)
            except queue.Empty:
                break
            if item is None:
                finished += 1
                continue
            batch.append(item)
            deadline = deadline or time.perf_counter() + timeout_s
        if not batch:
            continue
        t_batch = time.perf_counter()
        stats.per_stage_ms["batch_wait"].append((t_batch - t_wait) * 1e3)
        dets = detector.detect([b.nv12.consume() for b in batch], "nv12")
        t = detector.last_timings
        for name, value in (
            ("preprocess", t.preprocess_s),
            ("model", t.inference_s),
            ("postprocess", t.postprocess_s),
        ):
            stats.per_stage_ms[name].append(value * 1e3)
        stats.per_stage_ms["detect_wall"].append((time.perf_counter() - t_batch) * 1e3)
        for b in batch:
            b.nv12 = None  # release the frame now
        outbox.put((batch, dets))
    outbox.put(None)


def track_loop(inbox: queue.Queue[Any], stats: Stats) -> None:
    from visionflow.analytics import LineCounter
    from visionflow.geometry import Line, Point
    from visionflow.tracking import ByteTrack, MultiStreamTracker

    tracker = MultiStreamTracker(ByteTrack)
    line = Line(Point(0, 700), Point(1920, 700))
    counters: dict[str, LineCounter] = {}
    while (got := inbox.get()) is not None:
        batch, dets = got
        if not TRACK[0]:
            now = time.monotonic_ns()
            stats.latency_ms.extend((now - b.arrival_ns) / 1e6 for b in batch)
            for b in batch:
                stats.frames[b.stream] += 1
                stats.last_ns[b.stream] = now
            stats.batches += 1
            continue
        t0 = time.perf_counter()
        tracks = tracker.update(dets, [b.stream for b in batch])
        t1 = time.perf_counter()
        for slot, item in enumerate(batch):
            counter = counters.get(item.stream)
            if counter is None:
                counter = counters[item.stream] = LineCounter("door", line)
            counter.update(tracks.for_frame(slot), item.number)
        t2 = time.perf_counter()
        stats.per_stage_ms["tracking"].append((t1 - t0) * 1e3)
        stats.per_stage_ms["analytics"].append((t2 - t1) * 1e3)
        now = time.monotonic_ns()
        stats.latency_ms.extend((now - b.arrival_ns) / 1e6 for b in batch)
        for b in batch:
            stats.frames[b.stream] += 1
            stats.last_ns[b.stream] = now
        stats.batches += 1


ready = threading.Event()
MODEL = ["yolov3-tiny"]
TRACK = [True]


def run(  # noqa: PLR0917
    clip: Path,
    streams: int,
    loops: int,
    max_batch: int,
    timeout_ms: float,
    live_fps: float | None,
    queue_size: int,
    decode_threads: int,
    synchronize: bool,
) -> dict[str, Any]:
    import torch

    ready.clear()
    torch.cuda.reset_peak_memory_stats()
    stats = Stats()
    inbox: queue.Queue[Item | None] = queue.Queue(maxsize=queue_size)
    results: queue.Queue[Any] = queue.Queue(maxsize=8)
    infer = threading.Thread(
        target=infer_loop, args=(inbox, results, streams, max_batch, timeout_ms / 1e3, stats)
    )
    track = threading.Thread(target=track_loop, args=(results, stats))
    infer.start()
    track.start()
    ready.wait(timeout=300)
    sids = [f"cam{i}" for i in range(streams)]
    workers = max(1, min(decode_threads, streams))
    threads = [
        threading.Thread(
            target=decode_streams,
            args=(sids[i::workers], clip, loops, inbox, stats, live_fps, synchronize),
        )
        for i in range(workers)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    infer.join()
    track.join()
    wall = time.perf_counter() - start
    frames = sum(stats.frames.values())
    # each stream's rate over its own life: first frame out of the decoder -> last one counted
    per_stream_fps = [
        (stats.frames[s] - 1) / max(1e-9, (stats.last_ns[s] - stats.first_ns[s]) / 1e9)
        for s in sids
    ]
    stages = {k: _pct(v) for k, v in stats.per_stage_ms.items()}
    result = {
        "streams": streams,
        "mode": "live" if live_fps else "throughput",
        "live_fps": live_fps,
        "model": MODEL[0],
        "tracking_and_analytics": TRACK[0],
        "decode_threads": workers,
        "decoder_synchronize": synchronize,
        "frames": frames,
        "wall_s": wall,
        "fps_total": frames / wall,
        "fps_per_stream_min": min(per_stream_fps),
        "fps_per_stream_median": float(np.median(per_stream_fps)),
        "drops_total": sum(stats.drops.values()),
        "batches": stats.batches,
        "mean_batch": frames / max(1, stats.batches),
        "latency_ms": _pct(stats.latency_ms),
        "stages_ms": stages,
        "gpu_peak_mem_mib": torch.cuda.max_memory_allocated() / 2**20,
        "gpu_peak_mem_per_stream_mib": torch.cuda.max_memory_allocated() / 2**20 / streams,
    }
    if live_fps:
        result["realtime"] = result["drops_total"] == 0 and min(per_stream_fps) >= 29.5
    return result


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
        "n": len(arr),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--streams", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--live-streams", type=int, nargs="*", default=[])
    parser.add_argument("--loops", type=int, default=1)
    parser.add_argument("--live-loops", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--timeout-ms", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--decode-threads", type=int, default=8)
    parser.add_argument("--no-track", action="store_true", help="decode + detect only")
    parser.add_argument("--model", choices=("yolov3-tiny", "yolov8n"), default="yolov3-tiny")
    parser.add_argument("--sync-decoder", action="store_true", help="host-wait per packet")
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=0.0,
        help="sys.setswitchinterval (0 = Python's default 5 ms)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_e2e.json")
    args = parser.parse_args()
    MODEL[0] = args.model
    TRACK[0] = not args.no_track
    if args.switch_interval_ms > 0:
        sys.setswitchinterval(args.switch_interval_ms / 1e3)
    result: dict[str, Any] = {
        "benchmark": "gpu_e2e",
        "machine": gpu_info(),
        "git": git_info(),
        "clip": args.clip.name,
        "args": vars(args),
        "runs": [],
    }
    for n in args.streams:
        runs = [
            run(
                args.clip,
                n,
                args.loops,
                args.max_batch,
                args.timeout_ms,
                None,
                4 * args.max_batch,
                args.decode_threads,
                args.sync_decoder,
            )
            for _ in range(args.repeats)
        ]
        best = sorted(runs, key=lambda r: r["fps_total"])[(len(runs) - 1) // 2]
        best["fps_total_spread"] = spread([r["fps_total"] for r in runs])
        result["runs"].append(best)
        _print(best)
    for n in args.live_streams:
        live = run(
            args.clip,
            n,
            args.live_loops,
            args.max_batch,
            args.timeout_ms,
            args.fps,
            2 * n,
            args.decode_threads,
            args.sync_decoder,
        )
        result["runs"].append(live)
        _print(live)
    write_result(result, args.out)


def _print(r: dict[str, Any]) -> None:
    st = r["stages_ms"]
    print(
        f"{r['mode']:10s} streams={r['streams']:3d} fps={r['fps_total']:7.0f} "
        f"min/stream={r['fps_per_stream_min']:6.1f} drops={r['drops_total']} "
        f"batch={r['mean_batch']:.1f} lat p50={r['latency_ms'].get('p50', 0):.1f} "
        f"p99={r['latency_ms'].get('p99', 0):.1f}ms | "
        + " ".join(f"{k}={v.get('p50', 0):.2f}" for k, v in st.items())
        + f" | mem={r['gpu_peak_mem_mib']:.0f}MiB",
        flush=True,
    )


if __name__ == "__main__":
    main()
