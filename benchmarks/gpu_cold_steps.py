"""Host time of each step of one ``GpuDetector.detect`` call at batch 1: back to back,
and with the thread asleep 33 ms between calls (one live 30 fps stream).

Runs on the GPU machine::

    python benchmarks/gpu_cold_steps.py --clip .gpu_assets/vtest_1080p_h264.mp4 \\
        --out benchmarks/results/gpu_cold_steps.json

The steps are the body of ``GpuDetector.detect`` written out with a host clock
read between them (one NVDEC frame, the detector warmed as the pipeline warms
it). Reported per mode: the median µs of each step over ``--calls`` calls
(the first 20 left out), for each of ``--repeats`` alternating rounds.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from gpu_common import RESULTS, git_info, gpu_info, write_result

MODELS = Path("data/models")
STEPS = (
    "inference_mode",
    "timing_events",
    "current_stream",
    "record0",
    "on_device",
    "input_buffer",
    "letterbox",
    "record1",
    "run_tensor",
    "record2",
    "post",
    "record3",
    "timings",
)
MODES = {"back_to_back": 0.0, "paced_33ms": 0.033}


def _detect_steps(det: Any, frame: Any) -> list[float]:
    """One detect call, step by step (the body of ``GpuDetector.detect``): µs per step."""
    t = [time.perf_counter_ns()]
    context = det._inference_mode
    context.__enter__()
    t.append(time.perf_counter_ns())
    events = det._timing_events()
    t.append(time.perf_counter_ns())
    stream = det._current_stream()
    t.append(time.perf_counter_ns())
    events[0].record(stream)
    t.append(time.perf_counter_ns())
    frames = det._on_device([frame])
    t.append(time.perf_counter_ns())
    into = det.backend.input_buffer(1)
    t.append(time.perf_counter_ns())
    batch, geometry = det.letterbox(frames, "nv12", into, stream)
    t.append(time.perf_counter_ns())
    events[1].record(stream)
    t.append(time.perf_counter_ns())
    raw = det.backend.run_tensor(batch)
    t.append(time.perf_counter_ns())
    events[2].record(stream)
    t.append(time.perf_counter_ns())
    det._post(raw, geometry)
    t.append(time.perf_counter_ns())
    events[3].record(stream)
    t.append(time.perf_counter_ns())
    det._timings(events, (0.0, 0.0, 0.0, 0.0))
    t.append(time.perf_counter_ns())
    context.__exit__(None, None, None)
    return [(b - a) / 1e3 for a, b in itertools.pairwise(t)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_cold_steps.json")
    args = parser.parse_args()

    from visionflow.decode.nvdec import NvdecDecoder
    from visionflow.inference.gpu_detector import GpuDetector

    det = GpuDetector.from_darknet(
        MODELS / "yolov3-tiny.cfg", MODELS / "yolov3-tiny.weights", MODELS / "coco.names"
    )
    det.warm_up()
    frame = next(iter(NvdecDecoder(args.clip).frames())).nv12
    rounds = []
    for _ in range(args.repeats):
        for mode, pause_s in MODES.items():
            calls = []
            for _ in range(args.calls):
                if pause_s:
                    time.sleep(pause_s)
                calls.append(_detect_steps(det, frame))
            kept = calls[20:]
            medians = {
                s: round(statistics.median(c[i] for c in kept), 1) for i, s in enumerate(STEPS)
            }
            total = round(statistics.median(sum(c) for c in kept), 1)
            rounds.append({"mode": mode, "total_us_p50": total, "steps_us_p50": medians})
            print(mode, total, medians)
    write_result(
        {"benchmark": "gpu_cold_steps", "gpu": gpu_info(), "git": git_info(), "rounds": rounds},
        args.out,
    )


if __name__ == "__main__":
    main()
