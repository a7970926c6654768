"""CPU end-to-end benchmark: visionflow's demo pipeline vs the naive baseline, same clip.

Both run the whole of ``data/vtest.mp4`` (795 frames, 768x576) with the same
YOLOv3-tiny ONNX export, thresholds, tracker settings, line and zone, and
both write an annotated video and a JSONL event file:

* **visionflow**: ``Pipeline(demo_config).run()``, as ``make demo`` does
  (threads: decode, inference, video encode, events; batches of up to 4);
* **naive**: ``benchmarks/naive_baseline.py``, the single-threaded
  per-frame / per-object Python pipeline of DESIGN.md §1.

Method (DESIGN.md §5): every run is a fresh subprocess. One warm-up run of
each (excluded from the statistics; it also dumps every frame's detections and
tracks, which are compared for agreement), then ``--repeats`` rounds that
alternate the order (AB, BA, AB, ...). fps = frames / pipeline wall time
(model loading excluded, video finalising included); we report the median and
the min/max of each, the ratio of the medians, and the per-stage p50/p99 of
the median run. The result goes to ``benchmarks/results/cpu_e2e.json``.

Stage timings are not measured the same way: visionflow records, for every
frame of a batch, the duration of the *batch* (the latency the frame saw),
while the baseline's stages are per frame. ``per_frame_ms`` divides
visionflow's batched stages by the mean batch size for a like-for-like view.

Usage::

    .venv/bin/python benchmarks/cpu_e2e.py [--repeats 3] [--baseline-writer cv2-mp4v]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "cpu_e2e.json"
IMPLS = ("visionflow", "naive")
TARGET_FPS = 25.0
TARGET_RATIO = 1.5
BATCHED_STAGES = ("batch_wait", "preprocess", "inference", "postprocess", "tracking", "analytics")
BOX_TOLERANCE_PX = 0.01
DISTURBED_SHARE = 0.05
"""A run during which other processes used more than this share of the CPUs is flagged."""


# -- workers (one run each, in a fresh process) -----------------------------------------


def _demo_config(assets: Path, out_dir: Path) -> Any:
    """The demo config, with the id-switch guard off (``recount_window_frames: 0``).

    The naive prototype has no re-acquisition / id-switch guard, so events can only
    agree one for one under the same counting rule; with the guard on (the default)
    the demo's plaza counts 34 entries instead of 44 (re-acquired tracks continue
    their visit).
    """
    from visionflow.cli.demo import demo_config

    config = demo_config(assets)
    analytics = config.analytics.model_copy(
        update={
            kind: [item.model_copy(update={"recount_window_frames": 0}) for item in items]
            for kind, items in (
                ("lines", config.analytics.lines),
                ("zones", config.analytics.zones),
            )
        }
    )
    output = config.output.model_copy(update={"dir": out_dir})
    return config.model_copy(update={"output": output, "analytics": analytics})


def _stage_dict(summary: Any) -> dict[str, dict[str, float]]:
    return {
        s.stage: {
            "samples": s.samples,
            "p50_ms": float(s.p50_ms),
            "p90_ms": float(s.p90_ms),
            "p99_ms": float(s.p99_ms),
            "max_ms": float(s.max_ms),
        }
        for s in summary
    }


def worker_visionflow(assets: Path, out_dir: Path, dump: str | None) -> dict[str, Any]:
    """Run the demo pipeline once; ``dump`` writes per-frame detections and tracks (slower)."""
    from visionflow import Pipeline

    config = _demo_config(assets, out_dir)
    batch_sizes: list[int] = []
    dump_file = open(dump, "w") if dump else None  # noqa: SIM115

    def on_batch(batch: Any, detections: Any, tracks: Any) -> None:
        batch_sizes.append(len(batch))
        if dump_file is None:
            return
        for slot, frame in enumerate(batch.frames):
            d, t = detections.for_frame(slot), tracks.for_frame(slot)
            dets = [[*b, c, k] for b, c, k in zip(*_rows(d), strict=True)]
            trks = [
                [i, *b, c, k] for i, b, c, k in zip(t.track_id.tolist(), *_rows(t), strict=True)
            ]
            dump_file.write(json.dumps([frame.frame_number, dets, trks]) + "\n")

    started = time.perf_counter()
    summary = Pipeline(config, on_batch=on_batch).run()
    total_s = time.perf_counter() - started
    if dump_file is not None:
        dump_file.close()
    stages = _stage_dict(summary.stats.summary())
    mean_batch = sum(batch_sizes) / len(batch_sizes) if batch_sizes else 1.0
    return {
        "impl": "visionflow",
        "frames": summary.frames,
        "wall_s": summary.wall_s,
        "fps": summary.fps,
        "total_s": total_s,
        "stages": stages,
        "per_frame_ms": _per_frame(stages, mean_batch),
        "batch_sizes": dict(sorted(Counter(batch_sizes).items())),
        "line_counts": summary.line_counts,
        "zone_counts": summary.zone_counts,
        "events_written": summary.events_written,
        "failed_streams": [s.stream_id for s in summary.failed_streams],
        "interrupted": summary.interrupted,
        "events_path": str(out_dir / "events.jsonl"),
    }


def _rows(d: Any) -> tuple[list[Any], list[float], list[int]]:
    return d.xyxy.tolist(), d.confidence.tolist(), d.class_id.tolist()


def _per_frame(stages: dict[str, dict[str, float]], mean_batch: float) -> dict[str, Any]:
    """Batched stages divided by the mean batch size: per-frame cost comparable to the baseline."""
    out: dict[str, Any] = {"mean_batch_size": mean_batch}
    for stage, st in stages.items():
        if stage in BATCHED_STAGES:
            out[stage] = {k: st[k] / mean_batch for k in ("p50_ms", "p99_ms")}
    return out


def worker_naive(
    assets: Path, out_dir: Path, dump: str | None, video_writer: str
) -> dict[str, Any]:
    """Run the naive baseline once."""
    import naive_baseline

    settings = naive_baseline.settings_from_config(_demo_config(assets, out_dir), out_dir)
    settings.video_writer = video_writer
    started = time.perf_counter()
    result = naive_baseline.run(settings, dump)
    total_s = time.perf_counter() - started
    return {
        "impl": "naive",
        "frames": result.frames,
        "wall_s": result.wall_s,
        "fps": result.fps,
        "total_s": total_s,
        "stages": naive_baseline.stage_summary(result.stage_ms),
        "line_counts": result.line_counts,
        "zone_counts": result.zone_counts,
        "events_written": result.events_written,
        "decode_backend": result.decode_backend,
        "video_writer": result.video_writer,
        "events_path": str(out_dir / "events.jsonl"),
    }


def worker_model(assets: Path, rounds: int = 3, frames_per_round: int = 120) -> dict[str, Any]:
    """Model-only throughput, the limit of any pipeline using this model on this machine.

    visionflow's ONNX Runtime backend (its session options) on real letterboxed
    frames of the clip, at batch 1 and 4; the median of ``rounds``.
    """
    import cv2
    import numpy as np

    import naive_baseline
    from visionflow.inference.backends.onnxruntime import OnnxRuntimeBackend

    settings = naive_baseline.settings_from_config(_demo_config(assets, Path("unused")), "unused")
    backend = OnnxRuntimeBackend(settings.onnx_path)
    cap = cv2.VideoCapture(settings.video)
    images = []
    for _ in range(4):
        _, frame = cap.read()
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        images.append(naive_baseline.letterbox(rgb, settings.input_size)[0][0])
    cap.release()
    out: dict[str, Any] = {"impl": "model_only", "threads": "ONNX Runtime default (0)"}
    for batch_size in (1, 4):
        batch = np.ascontiguousarray(np.stack(images[:batch_size]))
        backend.run(batch)  # first-run allocations
        rates = []
        for _ in range(rounds):
            n = frames_per_round // batch_size
            started = time.perf_counter()
            for _ in range(n):
                backend.run(batch)
            rates.append(n * batch_size / (time.perf_counter() - started))
        out[f"batch{batch_size}_img_per_s"] = statistics.median(rates)
        out[f"batch{batch_size}_rounds"] = rates
    return out


# -- agreement checks ---------------------------------------------------------------------


def compare_dumps(path_a: str, path_b: str) -> dict[str, Any]:
    """Frame-by-frame comparison of detections and confirmed tracks of two runs."""
    a = {row[0]: row for row in map(json.loads, Path(path_a).read_text().splitlines())}
    b = {row[0]: row for row in map(json.loads, Path(path_b).read_text().splitlines())}
    frames = sorted(set(a) & set(b))
    out: dict[str, Any] = {
        "frames_compared": len(frames),
        "frames_only_in_one": len(set(a) ^ set(b)),
        "frames_same_detection_count": 0,
        "frames_same_track_ids": 0,
        "max_box_diff_px": 0.0,
        "max_confidence_diff": 0.0,
        "first_detection_mismatch": None,
        "first_track_mismatch": None,
    }
    for n in frames:
        dets_a, dets_b, trk_a, trk_b = a[n][1], b[n][1], a[n][2], b[n][2]
        if len(dets_a) == len(dets_b):
            out["frames_same_detection_count"] += 1
            for da, db in zip(dets_a, dets_b, strict=True):
                box = max(abs(x - y) for x, y in zip(da[:4], db[:4], strict=True))
                out["max_box_diff_px"] = max(out["max_box_diff_px"], box)
                out["max_confidence_diff"] = max(out["max_confidence_diff"], abs(da[4] - db[4]))
        elif out["first_detection_mismatch"] is None:
            out["first_detection_mismatch"] = n
        if [t[0] for t in trk_a] == [t[0] for t in trk_b]:
            out["frames_same_track_ids"] += 1
        elif out["first_track_mismatch"] is None:
            out["first_track_mismatch"] = n
    out["identical_within_tolerance"] = (
        out["frames_only_in_one"] == 0
        and out["frames_same_detection_count"] == len(frames)
        and out["frames_same_track_ids"] == len(frames)
        and out["max_box_diff_px"] <= BOX_TOLERANCE_PX
    )
    return out


def event_keys(path: str) -> Counter[tuple[Any, ...]]:
    """Line and zone events as ``(type, frame, track, line/zone, direction)`` keys."""
    keys: Counter[tuple[Any, ...]] = Counter()
    for line in Path(path).read_text().splitlines():
        e = json.loads(line)
        if e["type"] in ("line_crossed", "zone_entered", "zone_exited"):
            where = e.get("line") or e.get("zone")
            keys[(e["type"], e["frame_number"], e["track_id"], where, e.get("direction"))] += 1
    return keys


def compare_events(path_a: str, path_b: str) -> dict[str, Any]:
    ka, kb = event_keys(path_a), event_keys(path_b)
    return {
        "events_visionflow": sum(ka.values()),
        "events_naive": sum(kb.values()),
        "only_visionflow": [list(k) for k in sorted((ka - kb).elements())][:20],
        "only_naive": [list(k) for k in sorted((kb - ka).elements())][:20],
        "identical": ka == kb,
    }


def counts_of(run: dict[str, Any]) -> dict[str, Any]:
    return {"lines": run["line_counts"], "zones": run["zone_counts"]}


# -- orchestration ---------------------------------------------------------------------


def spawn(
    impl: str, args: argparse.Namespace, out_dir: Path, dump: str | None = None
) -> dict[str, Any]:
    """Run one worker in a fresh interpreter and return its JSON result."""
    result_path = out_dir.with_suffix(".json")
    cmd = [sys.executable, __file__, "--worker", impl, "--assets", str(args.assets)]
    cmd += ["--worker-dir", str(out_dir), "--json-out", str(result_path)]
    cmd += ["--baseline-writer", args.baseline_writer]
    if dump:
        cmd += ["--dump", dump]
    env = {**os.environ, "VISIONFLOW_CACHE": str(Path(args.assets) / "cache")}
    load = os.getloadavg()
    busy0, child0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    try:
        subprocess.run(cmd, check=True, env=env, cwd=REPO, timeout=args.run_timeout)
    except subprocess.TimeoutExpired as exc:  # the child was killed
        raise RuntimeError(
            f"{impl} run did not finish in {args.run_timeout} s (hung?); its output is in {out_dir}"
        ) from exc
    busy1, child1, t1 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["load_avg_at_start"] = list(load)
    result["process_cpu_s"] = child1 - child0
    # CPU time the machine spent on anything but this run (other users' jobs).
    foreign = max(busy1 - busy0 - (child1 - child0), 0.0)
    result["foreign_cpu_s"] = foreign
    result["foreign_cpu_share"] = foreign / ((t1 - t0) * (os.cpu_count() or 1))
    return result


def _busy_cpu_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    return {
        "cpu_model": models[0] if models else platform.processor(),
        "logical_cpus": os.cpu_count(),
        "sched_affinity_cpus": len(os.sched_getaffinity(0)),
        "ram_gib": round(mem_kib / 2**20, 1),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    import cv2
    import numpy
    import onnxruntime

    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    out["onnxruntime"] = onnxruntime.__version__
    out["opencv"] = cv2.__version__
    for dist in ("av", "scipy", "visionflow", "opencv-python-headless"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def git_info() -> dict[str, Any]:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")

    changed = git("status", "--porcelain").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed), "changed_paths": changed}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median fps (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["fps"])
    return ordered[(len(ordered) - 1) // 2]


def fps_stats(runs: list[dict[str, Any]]) -> dict[str, float]:
    values = [r["fps"] for r in runs]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.out_dir or tempfile.mkdtemp(prefix="visionflow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "benchmark": "cpu_e2e",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "versions": versions(),
        "git": git_info(),
    }
    config = _demo_config(Path(args.assets), work / "visionflow")
    report["config"] = {
        "clip": config.sources[0].uri,
        "visionflow": json.loads(config.model_dump_json()),
        "baseline_video_writer": args.baseline_writer,
        "repeats": args.repeats,
    }
    warm = {}
    if not args.no_warmup:
        print("warm-up (excluded; dumps detections and tracks for the agreement check)")
        for impl in IMPLS:
            warm[impl] = spawn(impl, args, work / f"warmup-{impl}", str(work / f"{impl}.dump"))
        report["agreement"] = {
            "detections_and_tracks": compare_dumps(
                str(work / "visionflow.dump"), str(work / "naive.dump")
            ),
            "events": compare_events(
                warm["visionflow"]["events_path"], warm["naive"]["events_path"]
            ),
        }
    runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in IMPLS}
    for i in range(args.repeats):
        order = IMPLS if i % 2 == 0 else IMPLS[::-1]
        for impl in order:
            run = spawn(impl, args, work / f"run{i}-{impl}")
            run["repeat"], run["position"] = i, order.index(impl)
            runs[impl].append(run)
            print(
                f"  repeat {i} {impl:<10} {run['fps']:6.2f} fps"
                f"  (load {run['load_avg_at_start'][0]:.2f},"
                f" other processes {100 * run['foreign_cpu_share']:.1f}% of the CPUs)"
            )
    report["load_avg_before"], report["load_avg_after"] = list(load_before), list(os.getloadavg())
    report["runs"] = runs
    report["summary"] = summarise(runs, warm)
    if not args.no_model_only:
        model = spawn("model", args, work / "model-only")
        naive = report["summary"]["fps"]["naive"]["median"]
        best = max(model["batch1_img_per_s"], model["batch4_img_per_s"])
        model["best_img_per_s_over_naive_fps"] = best / naive
        report["model_only"] = model
        print(
            f"  model only: {model['batch1_img_per_s']:.1f} img/s at batch 1, "
            f"{model['batch4_img_per_s']:.1f} at batch 4"
        )
    return report


def summarise(runs: dict[str, list[dict[str, Any]]], warm: dict[str, Any]) -> dict[str, Any]:
    fps = {impl: fps_stats(runs[impl]) for impl in IMPLS}
    ratio = fps["visionflow"]["median"] / fps["naive"]["median"]
    paired = [v["fps"] / n["fps"] for v, n in zip(runs["visionflow"], runs["naive"], strict=True)]
    med = {impl: median_run(runs[impl]) for impl in IMPLS}
    all_runs = [r for impl in IMPLS for r in runs[impl]] + list(warm.values())
    counts = {impl: counts_of(med[impl]) for impl in IMPLS}
    deterministic = all(counts_of(r) == counts[r["impl"]] for r in all_runs)
    same_counts = counts["visionflow"] == counts["naive"]
    return {
        "fps": fps,
        "per_run_fps": {impl: [r["fps"] for r in runs[impl]] for impl in IMPLS},
        "speedup_of_medians": ratio,
        "speedup_paired": {
            "per_repeat": paired,
            "median": statistics.median(paired),
            "min": min(paired),
            "max": max(paired),
        },
        "median_run_stages": {impl: med[impl]["stages"] for impl in IMPLS},
        "median_run_visionflow_per_frame_ms": med["visionflow"]["per_frame_ms"],
        "foreign_cpu_share": {impl: [r["foreign_cpu_share"] for r in runs[impl]] for impl in IMPLS},
        "disturbed_runs": [
            f"repeat {r['repeat']} {r['impl']}"
            for impl in IMPLS
            for r in runs[impl]
            if r["foreign_cpu_share"] > DISTURBED_SHARE
        ],
        "counts": counts,
        "counts_agree": same_counts,
        "counts_identical_in_every_run": deterministic,
        "targets": {
            "visionflow_fps_at_least": TARGET_FPS,
            "visionflow_fps_met": fps["visionflow"]["median"] >= TARGET_FPS,
            "speedup_at_least": TARGET_RATIO,
            "speedup_met": ratio >= TARGET_RATIO,
            "same_counts_met": same_counts and deterministic,
        },
    }


def print_table(report: dict[str, Any]) -> None:
    s = report["summary"]
    vf, nv = s["fps"]["visionflow"], s["fps"]["naive"]
    print()
    print(f"{'':24}{'visionflow':>22}{'naive':>22}")
    row = "{:<24}{:>22}{:>22}"
    print(row.format("fps median (min-max)", _fps(vf), _fps(nv)))
    st_v, st_n = s["median_run_stages"]["visionflow"], s["median_run_stages"]["naive"]
    per_frame = s["median_run_visionflow_per_frame_ms"]
    for stage in ("decode", "preprocess", "inference", "postprocess", "tracking", "analytics"):
        v = st_v.get(stage)
        text_v = f"{v['p50_ms']:.2f} / {v['p99_ms']:.2f}" if v else "-"
        if stage in per_frame:
            text_v = f"({per_frame[stage]['p50_ms']:.2f}) {text_v}"
        n = st_n.get(stage)
        text_n = f"{n['p50_ms']:.2f} / {n['p99_ms']:.2f}" if n else "-"
        print(row.format(f"{stage} p50/p99 ms", text_v, text_n))
    for stage in ("output", "end_to_end"):
        v, n = st_v.get(stage), st_n.get(stage)
        print(
            row.format(
                f"{stage} p50/p99 ms",
                f"{v['p50_ms']:.2f} / {v['p99_ms']:.2f}" if v else "-",
                f"{n['p50_ms']:.2f} / {n['p99_ms']:.2f}" if n else "-",
            )
        )
    for impl in IMPLS:
        print(f"counts {impl:<11} {json.dumps(s['counts'][impl], separators=(',', ':'))}")
    t = s["targets"]
    print(
        f"speed-up {s['speedup_of_medians']:.2f}x"
        f" (paired median {s['speedup_paired']['median']:.2f}x)"
        f" | fps>={TARGET_FPS:g}: {_met(t['visionflow_fps_met'])}"
        f" | speed-up>={TARGET_RATIO:g}x: {_met(t['speedup_met'])}"
        f" | same counts: {_met(t['same_counts_met'])}"
    )
    if "model_only" in report:
        m = report["model_only"]
        print(
            f"model only (the limit): {m['batch1_img_per_s']:.1f} img/s batch 1, "
            f"{m['batch4_img_per_s']:.1f} img/s batch 4 = "
            f"{m['best_img_per_s_over_naive_fps']:.2f}x the naive fps"
        )
    if "agreement" in report:
        a = report["agreement"]
        print(
            "agreement: frames with identical track ids "
            f"{a['detections_and_tracks']['frames_same_track_ids']}/"
            f"{a['detections_and_tracks']['frames_compared']}, max box diff "
            f"{a['detections_and_tracks']['max_box_diff_px']:.2g} px, events identical: "
            f"{a['events']['identical']}"
        )
    loads = ", ".join(f"{x:.2f}" for x in report["load_avg_before"])
    print(f"load average (1/5/15 min) before: {loads}", end="; ")
    print("after: " + ", ".join(f"{x:.2f}" for x in report["load_avg_after"]))
    foreign = max(x for shares in s["foreign_cpu_share"].values() for x in shares)
    print(f"CPU used by other processes during the timed runs: at most {100 * foreign:.1f}%")
    if s["disturbed_runs"]:
        print(f"WARNING: disturbed by other processes: {', '.join(s['disturbed_runs'])}")
    print("(visionflow batched stages: per batch as recorded; (per frame) = / mean batch size)")


def _fps(st: dict[str, float]) -> str:
    return f"{st['median']:.2f} ({st['min']:.2f}-{st['max']:.2f})"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--assets", default=str(REPO / "data"), help="demo assets folder")
    parser.add_argument("--out-dir", help="videos, events, dumps (default: a fresh temp dir)")
    parser.add_argument("--json", default=str(RESULT), help="where to write the result")
    parser.add_argument(
        "--baseline-writer",
        choices=["cv2-mp4v", "pyav-libx264"],
        default="cv2-mp4v",
        help="the baseline's video encoder (visionflow uses libx264 ultrafast by default)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip warm-up and agreement")
    parser.add_argument(
        "--run-timeout", type=float, default=300.0, help="seconds before a run counts as hung"
    )
    parser.add_argument(
        "--no-model-only", action="store_true", help="skip the model-only throughput (the limit)"
    )
    parser.add_argument("--worker", choices=[*IMPLS, "model"], help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        out_dir = Path(args.worker_dir)
        if args.worker == "visionflow":
            result = worker_visionflow(Path(args.assets), out_dir, args.dump)
        elif args.worker == "model":
            result = worker_model(Path(args.assets))
        else:
            result = worker_naive(Path(args.assets), out_dir, args.dump, args.baseline_writer)
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
        return
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    os.environ.setdefault("VISIONFLOW_CACHE", str(Path(args.assets) / "cache"))
    report = orchestrate(args)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
