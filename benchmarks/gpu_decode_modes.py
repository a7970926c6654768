"""NVDEC decode rate and GIL pressure by decode mode and number of streams.

Runs on the GPU machine::

    python benchmarks/gpu_decode_modes.py --clip .gpu_assets/vtest_1080p_h264.mp4 \
        --streams 16 64 128 --out benchmarks/results/gpu_decode_modes.json

One Python thread per stream, as the pipeline has, each looping over the clip
for ``--seconds`` and taking every picture as a torch CUDA tensor of its own:

* ``packet``: visionflow's :class:`NvdecDecoder` in per-packet mode (Python
  demuxes, calls ``Decode`` per packet, copies each picture);
* ``threaded``: :class:`NvdecDecoder` in threaded mode (PyNvVideoCodec's
  ``ThreadedDecoder`` demuxes and decodes on a native thread; Python takes
  pictures in small batches and copies them in one kernel per batch);
* ``raw``: bare ``Decode`` per packet with no copy (the NVDEC ceiling).

A busy pure-Python thread runs beside them and counts its loop iterations:
``python_share`` is its rate during decoding over its rate alone, i.e. how
much of the interpreter the decoders leave to the rest of a pipeline
(inference, tracking, analytics). fps and share are medians of
``--repeats`` runs, with min/max.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gpu_common import RESULTS, git_info, gpu_info, spread, write_result


def _meter(stop: threading.Event, out: list[int]) -> None:
    n = 0
    while not stop.is_set():
        for _ in range(1000):
            n += 1
    out.append(n)


def metered(seconds: float) -> tuple[float, float]:
    """Run a busy Python thread for ``seconds``: (elapsed s, its loop iterations per s)."""
    stop, out = threading.Event(), []  # type: ignore[var-annotated]
    meter = threading.Thread(target=_meter, args=(stop, out))
    start = time.perf_counter()
    meter.start()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - start
    meter.join()
    return elapsed, out[0] / elapsed


def python_rate(seconds: float) -> float:
    """Loop iterations per second of a busy Python thread with nothing beside it."""
    return metered(seconds)[1]


def run_mode(clip: Path, mode: str, streams: int, seconds: float) -> tuple[float, float]:
    """(decoded pictures per second in total, busy-thread iterations per second)."""
    import PyNvVideoCodec as nvc  # noqa: N813

    from visionflow.decode.nvdec import NvdecDecoder

    counts = [0] * streams
    stop = threading.Event()
    barrier = threading.Barrier(streams + 1, timeout=300)

    def ours(i: int) -> None:
        decoder = NvdecDecoder(clip, threaded=mode == "threaded")
        barrier.wait()
        while not stop.is_set():
            for frame in decoder.frames():
                frame.consume()
                counts[i] += 1
                if stop.is_set():
                    break
            decoder.rewind()
        decoder.close()

    def raw(i: int) -> None:
        demuxer = nvc.CreateDemuxer(filename=str(clip))
        decoder = nvc.CreateDecoder(gpuid=0, codec=demuxer.GetNvCodecId(), usedevicememory=True)
        barrier.wait()
        while not stop.is_set():
            for packet in demuxer:
                counts[i] += len(decoder.Decode(packet))
                if stop.is_set():
                    break
            demuxer = nvc.CreateDemuxer(filename=str(clip))

    threads = [
        threading.Thread(target=raw if mode == "raw" else ours, args=(i,)) for i in range(streams)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(1.0)  # warm-up: sessions start, buffers fill
    c0 = sum(counts)
    elapsed, rate = metered(seconds)
    frames = sum(counts) - c0
    stop.set()
    for t in threads:
        t.join()
    return frames / elapsed, rate


def probe(clip: Path) -> dict[str, Any]:
    """What ThreadedDecoder does: pts, end of file, reconfigure, memory reuse."""
    import PyNvVideoCodec as nvc  # noqa: N813
    import torch

    stream = torch.cuda.Stream()
    dec = nvc.ThreadedDecoder(str(clip), 8, gpu_id=0, cuda_stream=stream.cuda_stream)
    meta = dec.get_stream_metadata()
    info: dict[str, Any] = {
        "metadata": {k: str(getattr(meta, k)) for k in dir(meta) if not k.startswith("_")}
    }
    t0 = time.perf_counter()
    first = dec.get_batch_frames(4)
    info["first_batch"] = {"n": len(first), "s": time.perf_counter() - t0}
    f = first[0]
    info["frame_attrs"] = [k for k in dir(f) if not k.startswith("_")]
    info["pts"] = [int(x.getPTS()) for x in first]
    keep = torch.from_dlpack(f)
    snap = keep.clone()
    torch.cuda.synchronize()
    time.sleep(0.3)  # the native thread fills its buffer meanwhile
    info["held_frame_overwritten_before_next_call"] = bool((keep != snap).any().item())
    info["shape"] = list(keep.shape)
    from visionflow.decode.nvdec import NvdecDecoder

    packet_pts = [
        f.pts_seconds for f, _ in zip(NvdecDecoder(clip).frames(), range(4), strict=False)
    ]
    info["packet_mode_pts_s"] = packet_pts
    total, sizes = len(first), []
    while True:
        batch = dec.get_batch_frames(8)
        sizes.append(len(batch))
        if not batch:
            break
        total += len(batch)
        if total > 5000:
            break
    torch.cuda.synchronize()
    info["frames_first_pass"] = total
    info["batch_sizes_tail"] = sizes[-4:]
    info["first_frame_memory_reused"] = bool((keep != snap).any().item())
    t0 = time.perf_counter()
    dec.reconfigure_decoder(str(clip), 0)
    again = dec.get_batch_frames(8)
    info["after_reconfigure"] = {
        "n": len(again),
        "pts": [int(x.getPTS()) for x in again],
        "s": time.perf_counter() - t0,
    }
    dec.end()
    return info


def gil_probe(clip: Path, streams: int, seconds: float) -> dict[str, Any]:
    """Where the GIL goes with ThreadedDecoders: time per call of each step, and how
    much of the interpreter a busy thread still gets while consumers wait for frames."""
    import PyNvVideoCodec as nvc  # noqa: N813
    import torch

    steps = ("get_batch_frames", "from_dlpack", "stack", "sync")
    totals = {k: [0.0] * streams for k in steps}
    calls = [0] * streams
    stop = threading.Event()
    barrier = threading.Barrier(streams + 1, timeout=300)

    def consume(i: int) -> None:
        cuda_stream = torch.cuda.Stream()
        dec = nvc.ThreadedDecoder(str(clip), 8, gpu_id=0, cuda_stream=cuda_stream.cuda_stream)
        barrier.wait()
        while not stop.is_set():
            t0 = time.perf_counter()
            batch = dec.get_batch_frames(4)
            t1 = time.perf_counter()
            if not batch:
                dec.reconfigure_decoder(str(clip), 0)
                continue
            with torch.cuda.stream(cuda_stream):
                views = [torch.from_dlpack(f) for f in batch]
                t2 = time.perf_counter()
                torch.stack(views)
                t3 = time.perf_counter()
            cuda_stream.synchronize()
            t4 = time.perf_counter()
            for key, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                totals[key][i] += dt
            calls[i] += 1
        dec.end()

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    barrier.wait()
    elapsed, rate = metered(seconds)
    stop.set()
    for t in threads:
        t.join()
    n = max(sum(calls), 1)
    return {
        "streams": streams,
        "calls_per_s": sum(calls) / elapsed,
        "ms_per_call": {k: 1e3 * sum(v) / n for k, v in totals.items()},
        "meter_rate": rate,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", type=Path, required=True)
    p.add_argument("--streams", type=int, nargs="*", default=[16, 64, 128])
    p.add_argument("--modes", nargs="+", default=["packet", "threaded", "raw"])
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--probe", action="store_true", help="print ThreadedDecoder's behaviour first")
    p.add_argument("--switch-interval-ms", type=float, default=1.0, help="as the GPU pipeline sets")
    p.add_argument("--gil-probe", type=int, nargs="*", default=[], help="streams for gil_probe")
    p.add_argument("--out", type=Path, default=RESULTS / "gpu_decode_modes.json")
    args = p.parse_args()
    sys.setswitchinterval(args.switch_interval_ms / 1e3)
    result: dict[str, Any] = {
        "benchmark": "gpu_decode_modes",
        "machine": gpu_info(),
        "git": git_info(),
    }
    if args.probe:
        try:
            result["probe"] = probe(args.clip)
        except Exception as exc:  # still measure what works
            import traceback

            traceback.print_exc()
            result["probe"] = {"error": repr(exc)}
        print(result["probe"], flush=True)
    alone = [python_rate(1.0) for _ in range(3)]
    result["python_rate_alone"] = spread(alone)
    result["gil_probe"] = []
    for streams in args.gil_probe:
        row = gil_probe(args.clip, streams, args.seconds)
        row["python_share"] = row["meter_rate"] / result["python_rate_alone"]["median"]
        result["gil_probe"].append(row)
        print(row, flush=True)
    rows = []
    for streams in args.streams:
        for mode in args.modes:
            try:
                runs = [
                    run_mode(args.clip, mode, streams, args.seconds) for _ in range(args.repeats)
                ]
            except Exception as exc:
                print(f"{mode} streams={streams}: failed: {exc!r}", flush=True)
                continue
            fps = [r[0] for r in runs]
            share = [r[1] / result["python_rate_alone"]["median"] for r in runs]
            row = {
                "clip": args.clip.name,
                "mode": mode,
                "streams": streams,
                "fps": spread(fps),
                "python_share": spread(share),
            }
            rows.append(row)
            print(
                f"{mode:9s} streams={streams:3d} fps={row['fps']['median']:7.0f} "
                f"python_share={row['python_share']['median']:.2f}",
                flush=True,
            )
    result["runs"] = rows
    write_result(result, args.out)


if __name__ == "__main__":
    main()
