"""Host-side cost of ``GpuDetector.detect`` at batch 1 on NVDEC frames.

Run on the GPU machine::

    python benchmarks/gpu_detect_profile.py CLIP > out.txt

The first two lines are the summary: the median wall time per call over 300
calls (100 decoded frames, 3 passes, after 20 warm-up calls) and the median
CUDA-event stage times, calls back to back and then paced like a 30 fps
camera (the thread sleeps 33 ms between calls, as the pipeline's does), and
paced with a busy loop instead of the sleep (is a sleeping CPU the cost?).
The rest is cProfile output of another 300 calls, by own time and by
cumulative time: where the host spends the call.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

MODELS = Path("data/models")


def main() -> None:
    from visionflow.decode.nvdec import NvdecDecoder
    from visionflow.inference.gpu_detector import GpuDetector

    det = GpuDetector.from_darknet(
        MODELS / "yolov3-tiny.cfg", MODELS / "yolov3-tiny.weights", MODELS / "coco.names"
    )
    det.warm_up()
    decoded = zip(NvdecDecoder(Path(sys.argv[1])).frames(), range(100), strict=False)
    frames = [frame.nv12 for frame, _ in decoded]
    for frame in frames[:20]:
        det.detect([frame], "nv12")
    for pace_s, spin, what in (
        (0.0, False, "back to back"),
        (1 / 30, False, "paced at 30 fps"),
        (1 / 30, True, "paced at 30 fps, spinning"),
    ):
        _timed(det, frames, pace_s, spin, what)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(3):
        for frame in frames:
            det.detect([frame], "nv12")
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumtime").print_stats(35)


def _timed(det: Any, frames: list[Any], pace_s: float, spin: bool, what: str) -> None:
    """Print the median wall and CUDA-event stage times of 300 calls, ``pace_s`` apart
    (the thread sleeps in between, or ``spin``s: a busy loop that keeps its CPU awake)."""
    wall_ms: list[float] = []
    stage_ms: dict[str, list[float]] = {"pre": [], "inf": [], "post": []}
    for _ in range(3):
        for frame in frames:
            if pace_s and spin:
                end = time.perf_counter() + pace_s
                while time.perf_counter() < end:
                    pass
            elif pace_s:
                time.sleep(pace_s)
            t0 = time.perf_counter()
            det.detect([frame], "nv12")
            wall_ms.append((time.perf_counter() - t0) * 1e3)
            t = det.last_timings
            stage_ms["pre"].append(t.preprocess_s * 1e3)
            stage_ms["inf"].append(t.inference_s * 1e3)
            stage_ms["post"].append(t.postprocess_s * 1e3)
    med = statistics.median
    stages = " ".join(f"{k} {med(v):.3f}" for k, v in stage_ms.items())
    print(f"detect b1 {what}: wall p50 {med(wall_ms):.3f} ms; events {stages}")


if __name__ == "__main__":
    main()
