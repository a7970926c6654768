"""Where one live stream's latency goes between the stages: thread hand-offs, timed.

One realtime stream (the sample paced at its fps) runs through the CPU
pipeline with a small model input (160 px) so that the detector thread is
idle when each frame arrives. Timestamps (``time.monotonic_ns``) are taken
at: the frame's arrival (after decode), the source thread's ``put`` into the
batcher, the batch leaving the batcher on the detector thread, detection
start and end, tracking start, the events' hand-off to the event thread, and
the event thread's write start and end. Reported per segment: the median
over the batches (after the first 50) of each run.

A/B: runs alternate with ``FrameBatcher.YIELD_TO_IDLE_CONSUMER`` on (the
default: a ``put`` that wakes an idle detector thread sleeps 0 s, releasing
the GIL to it) and off.

Usage::

    .venv/bin/python benchmarks/cpu_handoffs.py --rounds 2
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cpu_e2e import git_info, machine_info  # noqa: E402

SEGMENTS = (
    ("arrive", "put"),
    ("put", "batched"),
    ("batched", "det0"),
    ("det0", "det1"),
    ("det1", "trk0"),
    ("trk0", "pub"),
    ("pub", "w0"),
    ("w0", "w1"),
    ("arrive", "w1"),
)


def _instrument(marks: dict[int, dict[str, int]]) -> None:
    """Wrap the pipeline's hand-off points so that each records its time per batch."""
    from visionflow.batching import FrameBatcher
    from visionflow.pipeline import build, skipping

    current: dict[str, int] = {}

    def stamp(key: int | None, name: str) -> None:
        if key is not None:
            marks[key][name] = time.monotonic_ns()

    def wrap_put(put: Any) -> Any:
        def put_(self: Any, frame: Any, *a: Any, **k: Any) -> Any:
            stamp(frame.arrival_ns, "put")
            return put(self, frame, *a, **k)

        return put_

    def wrap_next(next_batch: Any) -> Any:
        def next_(self: Any, *a: Any, **k: Any) -> Any:
            batch = next_batch(self, *a, **k)
            if batch is not None and len(batch):
                current["key"] = key = batch.frames[0].arrival_ns
                marks[key]["arrive"] = key
                stamp(key, "batched")
            return batch

        return next_

    def wrap_detect(detect: Any) -> Any:
        def detect_(*a: Any, **k: Any) -> Any:
            stamp(current.get("key"), "det0")
            out = detect(*a, **k)
            stamp(current.get("key"), "det1")
            return out

        return detect_

    def wrap_track(track: Any) -> Any:
        def track_(tracker: Any, batch: Any, *a: Any, **k: Any) -> Any:
            stamp(batch.frames[0].arrival_ns, "trk0")
            return track(tracker, batch, *a, **k)

        return track_

    def wrap_publish(publish: Any) -> Any:
        def publish_(self: Any, events: Any, **k: Any) -> Any:
            stamp(events.arrival_ns[0] if events.arrival_ns else None, "pub")
            return publish(self, events, **k)

        return publish_

    def wrap_writer(make: Any) -> Any:
        def make_(router: Any, stats: Any) -> Any:
            write = make(router, stats)

            def write_(events: Any) -> None:
                key = events.arrival_ns[0] if events.arrival_ns else None
                stamp(key, "w0")
                write(events)
                stamp(key, "w1")

            return write_

        return make_

    FrameBatcher.put = wrap_put(FrameBatcher.put)  # type: ignore[method-assign]
    FrameBatcher.next_batch = wrap_next(FrameBatcher.next_batch)  # type: ignore[method-assign]
    skipping.detect = wrap_detect(skipping.detect)
    skipping.track = wrap_track(skipping.track)
    build.Components.publish = wrap_publish(build.Components.publish)  # type: ignore[method-assign]
    build._event_writer = wrap_writer(build._event_writer)


def _config(assets: Path, out: Path) -> Any:
    from visionflow.config import PipelineConfig

    models = assets / "models"
    return PipelineConfig.model_validate(
        {
            "device": "cpu",
            "sources": [{"id": "cam0", "uri": str(assets / "vtest.mp4"), "realtime": True}],
            "model": {
                "cfg": str(models / "yolov3-tiny.cfg"),
                "weights": str(models / "yolov3-tiny.weights"),
                "names": str(models / "coco.names"),
                "input_size": 160,
            },
            "detector": {"classes": ["person"]},
            "batching": {"max_batch_size": 4, "timeout_ms": 0},
            "analytics": {
                "lines": [{"name": "walkway", "start": [360, 380], "end": [360, 150]}],
                "zones": [
                    {
                        "name": "plaza",
                        "polygon": [[470, 230], [700, 200], [768, 300], [768, 480], [470, 330]],
                    }
                ],
            },
            "events": {"counts_interval_s": 1.0},
            "output": {"dir": str(out), "video": False},
            "runtime": {"stats_log_interval_s": 0},
        }
    )


def run_once(assets: Path, yield_on: bool) -> dict[str, float]:
    from visionflow.batching import FrameBatcher
    from visionflow.pipeline import Pipeline

    marks.clear()
    FrameBatcher.YIELD_TO_IDLE_CONSUMER = yield_on
    with tempfile.TemporaryDirectory() as out:
        summary = Pipeline(_config(assets, Path(out))).run()
    if summary.error:
        raise SystemExit(f"pipeline failed: {summary.error}")
    names = {name for pair in SEGMENTS for name in pair}
    rows = [m for m in marks.values() if names <= m.keys()][50:]
    result = {
        f"{a}->{b}_us": round(statistics.median((r[b] - r[a]) / 1e3 for r in rows), 1)
        for a, b in SEGMENTS
    }
    result["batches"] = len(rows)
    return result


marks: dict[int, dict[str, int]] = collections.defaultdict(dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="A/B pairs")
    parser.add_argument("--assets", type=Path, default=HERE.parent / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cpu_handoffs.json")
    args = parser.parse_args()
    _instrument(marks)
    runs: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = (True, False) if i % 2 == 0 else (False, True)
        for yield_on in order:
            row = {"yield_to_idle_consumer": yield_on, **run_once(args.assets, yield_on)}
            print(json.dumps(row))
            runs.append(row)
    report = {
        "benchmark": "cpu_handoffs",
        "machine": machine_info(),
        "git": git_info(),
        "settings": {"rounds": args.rounds, "input_size": 160, "stream": "vtest.mp4 realtime"},
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
