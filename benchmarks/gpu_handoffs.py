"""Where one live 1080p stream's latency goes on the GPU path, hand-off by hand-off.

The GPU counterpart of ``cpu_handoffs.py`` (whose instrumentation it reuses):
one realtime NVDEC stream (``--realtime-file``, paced at its fps) runs through
the pipeline of ``live_streams.py`` (YOLOv3-tiny at 416, one line, one zone).
Host timestamps (``time.monotonic_ns``) are taken at the frame's arrival
(decoded), the ``put`` into the batcher, the batch leaving the batcher, the
detector's start, the end of its letterbox, of its model launch and of its
post-processing (the host waits for the GPU there), tracking start, the
events' hand-off and the event thread's write. Reported: the median per
segment over the batches of one run, after the first ``--skip`` batches.

One run per process; an A/B runs this script alternately against two source
trees (``PYTHONPATH``) and appends every run to ``--out``::

    python benchmarks/gpu_handoffs.py --realtime-file clip.mp4 --label new --out r.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cpu_handoffs import _instrument, marks  # noqa: E402
from gpu_common import git_info, gpu_info  # noqa: E402
from live_streams import pipeline_config  # noqa: E402

SEGMENTS = (
    ("arrive", "put"),
    ("put", "batched"),
    ("batched", "det0"),
    ("det0", "pre1"),
    ("pre1", "inf1"),
    ("inf1", "det1"),
    ("det1", "trk0"),
    ("trk0", "pub"),
    ("pub", "w0"),
    ("w0", "w1"),
    ("arrive", "w1"),
)


DETECTOR_STEPS = (
    ("gd0", "od1"),
    ("od1", "hr1"),
    ("hr1", "ft1"),
    ("ft1", "rp1"),
    ("rp1", "pre1"),
    ("pre1", "inf1"),
    ("inf1", "po1"),
)
"""Inside the detector's start and letterbox of one batch (``gd0``: ``GpuDetector.detect``
called): frames on the device, the host table blank,
filled, copied and replayed (``gpu_preprocess``), the model launched, the
post-processing done (it waits for the GPU); reported wall and thread CPU time."""


def _instrument_detector() -> None:
    """Stamp the ends of the detector's steps (the batch in flight): wall and thread CPU."""
    from visionflow.inference import gpu_preprocess
    from visionflow.inference.backends.torch_backend import TorchBackend
    from visionflow.inference.gpu_detector import GpuDetector
    from visionflow.inference.gpu_postprocess import DevicePostprocessor

    def stamp(name: str) -> None:
        if (key := _current_key()) is not None:
            marks[key][name] = time.monotonic_ns()
            marks[key][f"{name}_cpu"] = time.thread_time_ns()

    def after(method: Any, name: str) -> Any:
        def wrapped(*a: Any, **k: Any) -> Any:
            out = method(*a, **k)
            stamp(name)
            return out

        return wrapped

    def before(method: Any, name: str) -> Any:
        def wrapped(*a: Any, **k: Any) -> Any:
            stamp(name)
            return method(*a, **k)

        return wrapped

    graph = gpu_preprocess._LetterboxGraph
    letterboxer = gpu_preprocess.DeviceLetterboxer
    GpuDetector.detect = before(GpuDetector.detect, "gd0")  # type: ignore[method-assign]
    GpuDetector._on_device = after(GpuDetector._on_device, "od1")  # type: ignore[method-assign]
    graph.host_rows = after(graph.host_rows, "hr1")  # type: ignore[method-assign]
    letterboxer._fill_table = after(letterboxer._fill_table, "ft1")  # type: ignore[method-assign]
    graph.replay = after(graph.replay, "rp1")  # type: ignore[method-assign]
    letterboxer.__call__ = after(letterboxer.__call__, "pre1")  # type: ignore[method-assign]
    TorchBackend.run_tensor = after(TorchBackend.run_tensor, "inf1")  # type: ignore[method-assign]
    DevicePostprocessor.__call__ = after(DevicePostprocessor.__call__, "po1")  # type: ignore[method-assign]


def _current_key() -> int | None:
    """The arrival stamp of the batch being detected: the newest with det0 but no det1."""
    for key in reversed(marks):
        entry = marks[key]
        if "det0" in entry:
            return None if "det1" in entry else key
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    from visionflow.pipeline import Pipeline

    settings = argparse.Namespace(
        assets=args.assets,
        device="cuda",
        realtime_file=args.realtime_file,
        streams=1,
        input_size=416,
        gpu_runtime="torch",
        batch=64,
        batch_timeout_ms=0.0,
        live_queue_frames=2,
        nvdec_mode="auto",
        switch_interval_ms=0.0,
        idle_spin_ms=args.idle_spin_ms,
    )
    with tempfile.TemporaryDirectory() as out:
        pipeline = Pipeline(pipeline_config(settings, 0, Path(out)))
        with pipeline:
            pipeline.wait(args.seconds)
            pipeline.stop()
        summary = pipeline.summary()
    if summary.error:
        raise SystemExit(f"pipeline failed: {summary.error}")
    names = {name for pair in SEGMENTS for name in pair}
    rows = [m for m in marks.values() if names <= m.keys()][args.skip :]
    if not rows:
        raise SystemExit("no complete batch was recorded")
    segments = {}
    for a, b in SEGMENTS:
        values = sorted((r[b] - r[a]) / 1e3 for r in rows)
        segments[f"{a}->{b}_us"] = {
            "p50": round(statistics.median(values), 1),
            "p10": round(values[len(values) // 10], 1),
            "p90": round(values[len(values) * 9 // 10], 1),
        }
    steps = {}
    for a, b in DETECTOR_STEPS:
        timed = [r for r in rows if {a, b} <= r.keys()]
        if timed:
            wall = statistics.median((r[b] - r[a]) / 1e3 for r in timed)
            cpu = statistics.median((r[f"{b}_cpu"] - r[f"{a}_cpu"]) / 1e3 for r in timed)
            steps[f"{a}->{b}_us"] = {"wall_p50": round(wall, 1), "cpu_p50": round(cpu, 1)}
    stages = {s.stage: round(s.p50_ms, 3) for s in summary.stats.summary()}
    return {
        "label": args.label,
        "idle_spin_ms": args.idle_spin_ms,
        "batches": len(rows),
        "segments": segments,
        "detector_steps": steps,
        "stages": stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realtime-file", type=Path, required=True)
    parser.add_argument("--assets", default="data")
    parser.add_argument("--seconds", type=float, default=12.0, help="run length")
    parser.add_argument("--skip", type=int, default=60, help="batches left out at the start")
    parser.add_argument("--label", default="run")
    parser.add_argument("--idle-spin-ms", type=float, default=0.0, help="runtime.idle_spin_ms")
    parser.add_argument("--out", type=Path, required=True, help="JSON file the run is appended to")
    args = parser.parse_args()
    _instrument(marks)
    _instrument_detector()
    row = run(args)
    print(json.dumps({"label": row["label"], **{k: v["p50"] for k, v in row["segments"].items()}}))
    print(json.dumps(row["detector_steps"]))
    report: dict[str, Any] = {"benchmark": "gpu_handoffs", "runs": []}
    if args.out.exists():
        report = json.loads(args.out.read_text())
    report.setdefault("gpu", gpu_info())
    report["runs"].append({**row, "git": git_info()})
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
