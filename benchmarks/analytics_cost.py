"""Analytics cost per frame against the number of tracks (1 ... 500).

What is timed: the per-stream analytics stage exactly as the pipeline builds
it from a config (``pipeline.build._stream_analytics``) and calls it once per
frame, ``StreamAnalytics.update(frame, tracks)``: ROI filter, line counters
(a segment, a polyline, a line with a reference direction and strict mode),
zones (occupancy, enter/exit, dwell, loitering, overcrowding), direction
detection, and the translation of their results into events. Whatever of
these the installed visionflow supports is used (the scene is filtered by the
config schema's fields), and each kind is also timed alone, so a kind whose
cost grows faster than the others stands out.

Tracks (1920x1080 frame, confirmed ids, 2 classes) move as correlated random
walks, 1-8 px per frame with slowly turning headings, reflecting off the frame
border, so they cross the lines and enter and leave the zones all the time;
10 % of them stand still (loiterers) and each track is replaced by a new id
entering at the border with probability 0.5 % per frame (id churn). The
trajectories are generated before timing (the tracker is not timed).

Method (DESIGN.md §5): for every (kind, number of tracks) a fresh analytics
stage runs ``--warmup`` frames untimed, then ``--frames`` frames, each timed
with ``perf_counter_ns``; this is repeated ``--repeats`` times with a fresh
stage on the same trajectories. Reported per cell: the median of the per-repeat
medians in µs/frame, the p90 over all timed frames, the min/max of the repeat
medians (spread), events per frame, and per kind the slope in µs per extra
track between 100 and 500 tracks. A slope well above ~0.5 µs/track per
analytic means per-track Python work in the hot path (DESIGN.md §2: a bug).

Usage::

    .venv/bin/python benchmarks/analytics_cost.py            # full, writes the JSON
    .venv/bin/python benchmarks/analytics_cost.py --quick    # smoke run, 1/10/50 tracks

Multi-stream (``results_multi_stream``): the pipeline's analytics hub
(``AnalyticsHub.roi_filter`` + ``update``, every kind of the scene on every
stream) on batches of one frame from each of S streams (S = 1, 8, 32, 64,
``--tracks-per-stream`` tracks each), timed per batch the same way; this is
what the inference thread pays per batch with live streams. Two scenes:
``all_kinds`` (the scene above) and ``live_streams`` (one line and one zone,
as ``live_streams.py`` configures), each with the banks' compiled kernels
(``compiled``, the default) and with their NumPy steps (``numpy``), their
repeats alternating so that both meet the same moments of a noisy machine.

The result goes to ``benchmarks/results/analytics_cost.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cpu_e2e import git_info, machine_info  # noqa: E402

FRAME_WH = (1920, 1080)
TRACK_COUNTS = (1, 10, 50, 100, 200, 500)
QUICK_COUNTS = (1, 10, 50)
STREAM_COUNTS = (1, 8, 32, 64)
QUICK_STREAMS = (1, 8)
CLASS_NAMES = ["person", "bicycle", "car"]
FPS = 30.0

SCENE: dict[str, list[dict[str, Any]]] = {
    "roi": [
        {"name": "site", "polygon": [[40, 40], [1880, 40], [1880, 1040], [40, 1040]]},
        {"name": "mask", "polygon": [[0, 0], [300, 0], [300, 200], [0, 200]], "inverse": True},
    ],
    "lines": [
        {"name": "gate", "start": [200, 540], "end": [1720, 540], "in_name": "south"},
        {"name": "fence", "points": [[960, 60], [900, 400], [1020, 700], [960, 1020]]},
        {
            "name": "entry",
            "start": [400, 300],
            "end": [400, 900],
            "direction": [-1, 0],
            "mode": "strict",
        },
    ],
    "zones": [
        {
            "name": "lobby",
            "polygon": [[100, 100], [800, 100], [800, 500], [100, 500]],
            "loitering_s": 2.0,
            "overcrowding": {"threshold": 20, "min_duration_s": 0.5},
        },
        {"name": "shop", "polygon": [[1100, 600], [1800, 650], [1700, 1000], [1150, 950]]},
    ],
    "directions": [
        {
            "name": "heading",
            "directions": {
                "north": [[0, 100], [0, 0]],
                "south": [[0, 0], [0, 100]],
                "east": [[0, 0], [100, 0]],
                "west": [[100, 0], [0, 0]],
            },
        },
    ],
}
"""The full scene; keys and fields the installed schema lacks are dropped."""


def _supported_scene(kinds: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """The scene's ``analytics`` section for ``kinds``, limited to what the schema has."""
    from visionflow.config.schema import AnalyticsConfig

    dropped: list[str] = []
    section: dict[str, Any] = {}
    for kind in kinds:
        field = AnalyticsConfig.model_fields.get(kind)
        if field is None:
            dropped.append(kind)
            continue
        item_model = field.annotation.__args__[0]  # type: ignore[union-attr]
        known = set(item_model.model_fields)
        items = []
        for item in SCENE[kind]:
            if "points" in item and "points" not in known:
                dropped.append(f"{kind}.{item['name']} (polyline)")
                continue
            kept = {k: v for k, v in item.items() if k in known}
            dropped += [f"{kind}.{item['name']}.{k}" for k in item if k not in known]
            items.append(kept)
        section[kind] = items
    return section, dropped


def _config(analytics: dict[str, Any], n_streams: int = 1) -> Any:
    from visionflow.config import validate_mapping

    return validate_mapping(
        {
            "sources": [{"id": f"cam{i}", "uri": f"cam{i}.mp4"} for i in range(n_streams)],
            "model": {"kind": "onnx", "weights": "m.onnx", "names": "m.names"},
            "analytics": analytics,
            "events": {"counts_interval_s": 1.0},
        },
        source="analytics_cost scene",
    )


def build_stage(analytics: dict[str, Any]) -> Any:
    """The per-stream analytics stage the pipeline would build for ``analytics``."""
    from visionflow.pipeline import build

    return build._stream_analytics(_config(analytics), "cam0", FPS, list(CLASS_NAMES))


def build_hub(analytics: dict[str, Any], n_streams: int, *, compiled: bool = True) -> Any:
    """The pipeline's analytics hub for ``n_streams`` streams with the same scene."""
    from visionflow.pipeline import build
    from visionflow.pipeline.stream_analytics import AnalyticsHub

    config = _config(analytics, n_streams)
    names = list(CLASS_NAMES)
    return AnalyticsHub(
        {
            f"cam{i}": build._stream_analytics(config, f"cam{i}", FPS, names)
            for i in range(n_streams)
        },
        compiled=compiled,
    )


def batches(n_streams: int, per_stream: int, n_frames: int, seed: int) -> list[tuple[Any, Any]]:
    """Per batch: (FrameBatch of one frame per stream, the batch's tracks)."""
    from visionflow.types import Detections, Frame, FrameBatch

    image = np.zeros((FRAME_WH[1], FRAME_WH[0], 3), np.uint8)
    streams = [trajectories(per_stream, n_frames, seed + s) for s in range(n_streams)]
    out = []
    for i in range(n_frames):
        frames = tuple(Frame(f"cam{s}", i, i / FPS, 0, image) for s in range(n_streams))
        parts = []
        for s in range(n_streams):
            det = streams[s][i]
            det.frame_index = np.full(len(det), s, np.int32)
            parts.append(det)
        out.append((FrameBatch(frames), Detections.concatenate(parts)))
    return out


def time_hub(
    make: Callable[[], Any], work: list[tuple[Any, Any]], warmup: int, repeats: int
) -> dict[str, Any]:
    """Time ``roi_filter`` + ``update`` per batch (after ``warmup`` batches), ``repeats`` times."""
    runs = [_hub_run(make, work, warmup) for _ in range(repeats)]
    return _hub_cell_of(runs, len(work) - warmup)


def _hub_run(
    make: Callable[[], Any], work: list[tuple[Any, Any]], warmup: int
) -> tuple[list[int], int]:
    """One fresh hub: the per-batch times (ns) after ``warmup`` batches, and the events."""
    hub, events = make(), 0
    for batch, det in work[:warmup]:
        hub.update(batch, hub.roi_filter(batch, det))
    times = []
    for batch, det in work[warmup:]:
        t0 = time.perf_counter_ns()
        out = hub.update(batch, hub.roi_filter(batch, det))
        times.append(time.perf_counter_ns() - t0)
        events += len(out)
    return times, events


def _hub_cell_of(runs: list[tuple[list[int], int]], timed_per_run: int) -> dict[str, Any]:
    medians = [statistics.median(times) for times, _ in runs]
    all_ns = [t for times, _ in runs for t in times]
    events = sum(e for _, e in runs)
    return {
        "median_us_per_batch": round(statistics.median(medians) / 1e3, 1),
        "p90_us_per_batch": round(float(np.percentile(all_ns, 90)) / 1e3, 1),
        "spread_us": [round(min(medians) / 1e3, 1), round(max(medians) / 1e3, 1)],
        "events_per_batch": round(events / (timed_per_run * len(runs)), 3),
    }


LIVE_SCENE: dict[str, Any] = {  # live_streams.py's analytics, scaled to a 1080p frame
    "lines": [{"name": "walkway", "start": [900, 950], "end": [900, 300]}],
    "zones": [
        {
            "name": "plaza",
            "polygon": [[1170, 570], [1750, 500], [1920, 750], [1920, 1080], [1170, 820]],
        }
    ],
}


def run_multi(args: argparse.Namespace) -> dict[str, Any]:
    """Each scene and stream count: compiled and NumPy banks, repeats alternating (A/B)."""
    all_kinds, _ = _supported_scene(("roi", "lines", "zones", "directions"))
    out: dict[str, Any] = {}
    for scene, section in (("all_kinds", all_kinds), ("live_streams", LIVE_SCENE)):
        out[scene] = {}
        for n in QUICK_STREAMS if args.quick else STREAM_COUNTS:
            work = batches(n, args.tracks_per_stream, args.warmup + args.frames, args.seed)
            runs: dict[str, list[tuple[list[int], int]]] = {"compiled": [], "numpy": []}
            for _ in range(args.repeats):
                for kind, kind_runs in runs.items():
                    make = functools.partial(build_hub, section, n, compiled=kind == "compiled")
                    kind_runs.append(_hub_run(make, work, args.warmup))
            out[scene][str(n)] = cells = {k: _hub_cell_of(r, args.frames) for k, r in runs.items()}
            for kind, cell in cells.items():
                cell["median_us_per_frame"] = round(cell["median_us_per_batch"] / n, 1)
                print(
                    f"{scene:>12} {n:>3} streams x {args.tracks_per_stream} tracks ({kind}): "
                    f"{cell['median_us_per_batch']:>9.1f} µs/batch "
                    f"({cell['median_us_per_frame']:.1f} µs/frame, "
                    f"{cell['events_per_batch']} events)"
                )
    return out


def trajectories(n_tracks: int, n_frames: int, seed: int) -> list[Any]:
    """Per-frame :class:`Detections` of ``n_tracks`` confirmed, moving tracks."""
    from visionflow.types import Detections

    rng = np.random.default_rng(seed)
    w, h = FRAME_WH
    pos = rng.uniform((0, 0), (w, h), size=(n_tracks, 2))
    heading = rng.uniform(0, 2 * np.pi, n_tracks)
    speed = rng.uniform(1.0, 8.0, n_tracks) * (rng.random(n_tracks) >= 0.1)  # 10 % stand
    ids = np.arange(1, n_tracks + 1, dtype=np.int64)
    classes = np.where(rng.random(n_tracks) < 0.8, 0, 2).astype(np.int32)
    size = np.column_stack([rng.uniform(30, 60, n_tracks), rng.uniform(80, 160, n_tracks)])
    next_id = n_tracks + 1
    frames = []
    for _ in range(n_frames):
        heading += rng.normal(0, 0.15, n_tracks)
        pos += speed[:, None] * np.column_stack([np.cos(heading), np.sin(heading)])
        for axis, limit in ((0, w), (1, h)):  # reflect off the border
            low, high = pos[:, axis] < 0, pos[:, axis] > limit
            pos[low, axis] *= -1
            pos[high, axis] = 2 * limit - pos[high, axis]
            heading[low | high] += np.pi
        churn = np.flatnonzero(rng.random(n_tracks) < 0.005)
        ids[churn] = np.arange(next_id, next_id + len(churn))
        next_id += len(churn)
        pos[churn] = np.column_stack([np.zeros(len(churn)), rng.uniform(0, h, len(churn))])
        heading[churn] = rng.uniform(-np.pi / 3, np.pi / 3, len(churn))
        xyxy = np.column_stack(
            [
                pos[:, 0] - size[:, 0] / 2,
                pos[:, 1] - size[:, 1],
                pos[:, 0] + size[:, 0] / 2,
                pos[:, 1],
            ]
        )
        det = Detections(xyxy, np.full(n_tracks, 0.9), classes.copy(), track_id=ids.copy())
        frames.append(det)
    return frames


def time_stage(
    make: Callable[[], Any], tracks: list[Any], warmup: int, repeats: int
) -> dict[str, Any]:
    """Time ``update`` per frame over ``tracks`` (after ``warmup`` frames), ``repeats`` times."""
    from visionflow.types import Frame

    image = np.zeros((FRAME_WH[1], FRAME_WH[0], 3), np.uint8)
    frames = [Frame("cam0", i, i / FPS, 0, image) for i in range(len(tracks))]
    medians, all_ns, events = [], [], 0
    for _ in range(repeats):
        stage = make()
        for frame, det in zip(frames[:warmup], tracks[:warmup], strict=True):
            stage.update(frame, det)
        times = []
        for frame, det in zip(frames[warmup:], tracks[warmup:], strict=True):
            t0 = time.perf_counter_ns()
            out = stage.update(frame, det)
            times.append(time.perf_counter_ns() - t0)
            events += len(out)
        medians.append(statistics.median(times))
        all_ns += times
    timed = (len(tracks) - warmup) * repeats
    return {
        "median_us": round(statistics.median(medians) / 1e3, 2),
        "p90_us": round(float(np.percentile(all_ns, 90)) / 1e3, 2),
        "repeat_medians_us": [round(m / 1e3, 2) for m in medians],
        "spread_us": [round(min(medians) / 1e3, 2), round(max(medians) / 1e3, 2)],
        "events_per_frame": round(events / timed, 3),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = () if args.only_multi else QUICK_COUNTS if args.quick else TRACK_COUNTS
    kinds_all = ("roi", "lines", "zones", "directions")
    configs: dict[str, tuple[str, ...]] = {"all": kinds_all, "none": ()}
    configs.update({k: (k,) for k in kinds_all})
    results: dict[str, dict[str, Any]] = {}
    dropped: set[str] = set()
    for n in counts:
        tracks = trajectories(n, args.warmup + args.frames, seed=args.seed)
        for name, kinds in configs.items():
            section, lost = _supported_scene(kinds)
            dropped.update(lost)
            if kinds and not any(section.get(k) for k in kinds):
                continue
            cell = time_stage(lambda s=section: build_stage(s), tracks, args.warmup, args.repeats)
            results.setdefault(name, {})[str(n)] = cell
            print(
                f"{name:>10} {n:>4} tracks: {cell['median_us']:>9.1f} µs/frame "
                f"(p90 {cell['p90_us']:.1f}, {cell['events_per_frame']} events/frame)"
            )
    return {
        "benchmark": "analytics_cost",
        "machine": machine_info(),
        "versions": _versions(),
        "git": git_info(),
        "settings": {
            "frame_wh": FRAME_WH,
            "fps": FPS,
            "track_counts": counts,
            "warmup_frames": args.warmup,
            "timed_frames": args.frames,
            "repeats": args.repeats,
            "seed": args.seed,
            "quick": args.quick,
        },
        "scene": _supported_scene(kinds_all)[0],
        "scene_not_supported": sorted(dropped),
        "results_us_per_frame": results,
        "slope_us_per_track": _slopes(results),
        "tracks_per_stream": args.tracks_per_stream,
        "results_multi_stream": run_multi(args),
    }


def _slopes(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """µs per extra track between the two largest track counts, per configuration."""
    out = {}
    for name, cells in results.items():
        ns = sorted(int(n) for n in cells)
        if len(ns) >= 2:
            lo, hi = ns[-2], ns[-1]
            rise = cells[str(hi)]["median_us"] - cells[str(lo)]["median_us"]
            out[name] = round(rise / (hi - lo), 3)
    return out


def _versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for dist in ("visionflow", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1/10/50 tracks, few frames")
    parser.add_argument("--frames", type=int, default=None, help="timed frames per repeat")
    parser.add_argument("--warmup", type=int, default=None, help="untimed frames per repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tracks-per-stream", type=int, default=10)
    parser.add_argument("--only-multi", action="store_true", help="skip the per-track sweep")
    parser.add_argument(
        "--out", type=Path, default=HERE / "results" / "analytics_cost.json", help="JSON result"
    )
    args = parser.parse_args()
    args.frames = args.frames or (40 if args.quick else 300)
    args.warmup = args.warmup or (10 if args.quick else 60)
    args.repeats = args.repeats or (2 if args.quick else 5)
    report = run(args)
    print("slope µs/track (largest two counts):", report["slope_us_per_track"])
    if report["scene_not_supported"]:
        print("not in this visionflow's schema:", ", ".join(report["scene_not_supported"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
