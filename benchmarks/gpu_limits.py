"""Physical limits on the GPU: NVDEC decode rate vs sessions, model throughput vs batch size.

Runs on the GPU machine (see the closing notes of issue 3 for the exact command)::

    python benchmarks/gpu_limits.py --clips .gpu_assets/vtest_1080p_h264.mp4 \
        .gpu_assets/vtest_1080p_hevc.mp4 --out benchmarks/results/gpu_limits.json

* **decode**: N threads, each with its own PyNvVideoCodec demuxer + decoder
  (device memory, native NV12), decode the clip ``--loops`` times; decoders
  are created before the clock starts. fps = all frames / wall time. Raw
  NVDEC (no copy) and visionflow's :class:`NvdecDecoder` (DLPack + one
  device copy per frame + stream sync) are both measured.
* **model**: the YOLOv3-tiny torch module at 416x416, fp16, channels_last,
  replaying its CUDA graph (and eager, for the ratio), timed with CUDA events
  on random inputs; images/s per batch size.
* **pre/post**: device letterbox of 1080p NV12 frames and device decode + NMS
  on the model's real outputs, per batch size; post-processing both as the
  kernels launched one by one and as the replay of its CUDA graph (what the
  pipeline runs on the model graph's output).

Every figure is the median of ``--repeats`` runs, with min/max.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import Any

from gpu_common import RESULTS, git_info, gpu_info, spread, write_result

MODELS = Path("data/models")
BATCHES = (1, 2, 4, 8, 16, 32, 64)
SESSIONS = (1, 2, 4, 8, 16, 32)


def decode_run(clip: Path, sessions: int, loops: int, wrapper: bool) -> tuple[int, float]:
    import PyNvVideoCodec as nvc  # noqa: N813

    from visionflow.decode.nvdec import NvdecDecoder

    counts = [0] * sessions
    barrier = threading.Barrier(sessions + 1, timeout=300)

    def raw(i: int) -> None:
        decoder = None
        barrier_passed = False
        for _ in range(loops):
            demuxer = nvc.CreateDemuxer(filename=str(clip))
            if decoder is None:
                decoder = nvc.CreateDecoder(
                    gpuid=0, codec=demuxer.GetNvCodecId(), usedevicememory=True
                )
            if not barrier_passed:
                barrier.wait()
                barrier_passed = True
            for packet in demuxer:
                counts[i] += len(decoder.Decode(packet))

    def ours(i: int) -> None:
        decoders = [NvdecDecoder(clip) for _ in range(loops)]
        barrier.wait()
        for decoder in decoders:
            for _ in decoder.frames():
                counts[i] += 1

    threads = [
        threading.Thread(target=ours if wrapper else raw, args=(i,)) for i in range(sessions)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - start


def bench_decode(clips: list[Path], loops: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for clip in clips:
        for wrapper in (False, True):
            for sessions in SESSIONS if not wrapper else (1, 8, 32):
                fps, frames = [], 0
                for _ in range(repeats):
                    frames, wall = decode_run(clip, sessions, loops, wrapper)
                    fps.append(frames / wall)
                row = {
                    "clip": clip.name,
                    "decoder": "visionflow" if wrapper else "raw_nvdec",
                    "sessions": sessions,
                    "frames_per_run": frames,
                    "fps": spread(fps),
                }
                print(
                    f"decode {clip.name} {row['decoder']:10s} sessions={sessions:2d} "
                    f"frames={frames} fps={row['fps']['median']:.0f}"
                )
                rows.append(row)
    return rows


def _cuda_time_ms(fn: Any, iters: int) -> float:
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return float(start.elapsed_time(end)) / iters


def _model_variants() -> list[tuple[str, bool]]:
    """(runtime, cuda_graphs): torch with and without graphs, ONNX Runtime CUDA when installed."""
    from visionflow.inference.backends.onnxruntime_cuda import gpu_providers

    variants = [("torch", True), ("torch", False)]
    if "cuda" in gpu_providers():
        variants.append(("onnxruntime-cuda", False))
    return variants


def bench_model(repeats: int, iters: int) -> list[dict[str, Any]]:
    import torch

    from visionflow.inference.gpu_detector import GpuDetector

    rows = []
    for runtime, graphs in _model_variants():
        det = GpuDetector.from_darknet(
            MODELS / "yolov3-tiny.cfg",
            MODELS / "yolov3-tiny.weights",
            MODELS / "coco.names",
            cuda_graphs=graphs,
            runtime=runtime,  # type: ignore[arg-type]
            cache_dir=Path(os.environ.get("VISIONFLOW_CACHE", "/tmp/vfcache")),
        )
        dtype = det.backend.dtype
        for batch in BATCHES:
            inputs = [torch.rand(batch, 3, 416, 416, device="cuda").to(dtype) for _ in range(4)]
            for x in inputs:  # warm up: capture, cudnn autotune
                det.backend.run_tensor(x)
            rates = []
            for r in range(repeats):
                x = inputs[r % len(inputs)]
                ms = _cuda_time_ms(lambda x=x, d=det: d.backend.run_tensor(x), iters)
                rates.append(batch / ms * 1e3)
            row = {
                "runtime": runtime,
                "dtype": str(dtype).removeprefix("torch."),
                "cuda_graphs": graphs,
                "batch": batch,
                "images_per_s": spread(rates),
                "ms_per_batch": batch / spread(rates)["median"] * 1e3,
            }
            print(
                f"model {runtime} graphs={graphs!s:5s} batch={batch:2d} "
                f"img/s={row['images_per_s']['median']:.0f} ms={row['ms_per_batch']:.3f}"
            )
            rows.append(row)
    return rows


def bench_pre_post(clip: Path, repeats: int, iters: int) -> list[dict[str, Any]]:
    import torch

    from visionflow.decode.nvdec import NvdecDecoder
    from visionflow.inference.gpu_detector import GpuDetector
    from visionflow.inference.gpu_postprocess import DevicePostprocessor

    det = GpuDetector.from_darknet(
        MODELS / "yolov3-tiny.cfg", MODELS / "yolov3-tiny.weights", MODELS / "coco.names"
    )
    det.warm_up()  # as the pipeline: letterbox and post-processing graphs captured
    classes = len(det.class_names)
    finishers = {  # NMS always on the device / always on the host, whatever the candidates
        "device": DevicePostprocessor(det.layout, classes, det.config, det.device, 0),
        "host": DevicePostprocessor(det.layout, classes, det.config, det.device, 1 << 30),
    }
    frames = [f.nv12 for f, _ in zip(NvdecDecoder(clip).frames(), range(64), strict=False)]
    rows = []
    with torch.inference_mode():
        for batch in BATCHES:
            chunk = frames[:batch]
            pre_ms = [
                _cuda_time_ms(lambda c=chunk: det.letterbox(c, "nv12"), iters)
                for _ in range(repeats)
            ]
            x, geometry = det.letterbox(chunk, "nv12")
            static = det.backend.run_tensor(x)  # a prefix of the graph's output: post replays
            graphed_ms = _wall_ms(det._post, (static, geometry), repeats, iters)
            raw = static.clone()  # read by no graph: the kernels are launched
            post_ms = _wall_ms(det._post, (raw, geometry), repeats, iters)
            nms_ms = {
                where: _wall_ms(post, (raw, geometry), repeats, iters)
                for where, post in finishers.items()
            }
            end_ms = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(iters):
                    det.detect(chunk, "nv12")
                end_ms.append((time.perf_counter() - t0) / iters * 1e3)
            row = {
                "batch": batch,
                "preprocess_ms": spread(pre_ms),
                "letterbox": "triton" if det.letterbox.fused_nv12 else "torch",
                "candidates": len(det._post._candidates(raw)[2]),
                "postprocess_ms_wall": spread(post_ms),
                "postprocess_graphed_ms_wall": spread(graphed_ms),
                "postprocess_nms_on_device_ms_wall": spread(nms_ms["device"]),
                "postprocess_nms_on_host_ms_wall": spread(nms_ms["host"]),
                "detect_ms_wall": spread(end_ms),
                "detect_frames_per_s": batch / spread(end_ms)["median"] * 1e3,
            }
            print(
                f"pre/post batch={batch:2d} pre={row['preprocess_ms']['median']:.3f}ms "
                f"post={row['postprocess_ms_wall']['median']:.3f}ms "
                f"graphed={row['postprocess_graphed_ms_wall']['median']:.3f}ms "
                f"(nms device {row['postprocess_nms_on_device_ms_wall']['median']:.3f} "
                f"host {row['postprocess_nms_on_host_ms_wall']['median']:.3f}, "
                f"{row['candidates']} candidates) "
                f"detect={row['detect_ms_wall']['median']:.3f}ms "
                f"({row['detect_frames_per_s']:.0f} fps)"
            )
            rows.append(row)
    return rows


def _wall_ms(run: Any, args: tuple[Any, ...], repeats: int, iters: int) -> list[float]:
    """Wall ms per ``run(*args)`` (which ends with a device->host copy), one per repeat."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            run(*args)
        times.append((time.perf_counter() - t0) / iters * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", type=Path, required=True)
    parser.add_argument("--loops", type=int, default=2, help="decode passes over the clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--skip", nargs="*", default=(), choices=("decode", "model", "prepost"))
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_limits.json")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "gpu_limits", "machine": gpu_info(), "git": git_info()}
    if "model" not in args.skip:
        result["model"] = bench_model(args.repeats, args.iters)
    if "prepost" not in args.skip:
        result["pre_post"] = bench_pre_post(args.clips[0], args.repeats, args.iters)
    if "decode" not in args.skip:
        result["decode"] = bench_decode(args.clips, args.loops, args.repeats)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
