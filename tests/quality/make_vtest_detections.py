"""Freeze the detections of the sample clip for the tracking-quality suite.

Runs visionflow's CPU detector (YOLOv3-tiny, 416x416, ONNX Runtime) once over
``data/vtest.mp4`` and writes every person box scoring at least 0.1 to
``tests/quality/data/vtest_detections.npz``. The low threshold matters:
ByteTrack's second association only sees boxes between ``low_threshold`` and
``high_threshold``, so a set cut at the usual 0.25 would leave that stage idle.

The file is committed: the quality tests must not depend on the detector, the
ONNX Runtime version or the decoder, only on the trackers. Re-run this script
only to change the frozen set on purpose, then refresh the baseline scores
(see ``tests/quality/test_tracking_quality.py``).

Usage::

    VISIONFLOW_ASSETS=data VISIONFLOW_CACHE=data/cache \\
        .venv/bin/python tests/quality/make_vtest_detections.py

Arrays in the file (``N`` boxes in total, ``F`` frames):
    ``xyxy [N, 4]`` float32 source pixels, ``confidence [N]`` float32,
    ``class_id [N]`` int32 (all 0 = person), ``frame [N]`` int32 (0-based),
    ``num_frames`` (scalar), ``fps`` (scalar), ``resolution_wh [2]``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from visionflow.decode import CpuDecoder
from visionflow.inference.detector import Detector

ROOT = Path(__file__).resolve().parents[2]
PERSON = 0


def main() -> None:
    assets = Path(os.environ.get("VISIONFLOW_ASSETS", ROOT / "data"))
    cache = Path(os.environ.get("VISIONFLOW_CACHE", assets / "cache"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=assets / "vtest.mp4")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "tests/quality/data/vtest_detections.npz"
    )
    parser.add_argument("--confidence", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    models = assets / "models"
    detector = Detector.from_darknet(
        models / "yolov3-tiny.cfg",
        models / "yolov3-tiny.weights",
        models / "coco.names",
        input_size_wh=(416, 416),
        cache_dir=cache,
        confidence=args.confidence,
        class_ids=[PERSON],
    )
    decoder = CpuDecoder(args.video)
    info = decoder.open()
    parts, batch, first = [], [], 0
    for image in decoder.decode():
        batch.append(image.image_rgb)
        if len(batch) == args.batch:
            parts.append(_detect(detector, batch, first))
            first += len(batch)
            batch = []
    if batch:
        parts.append(_detect(detector, batch, first))
        first += len(batch)
    decoder.close()
    xyxy, conf, cls, frame = (np.concatenate(p) for p in zip(*parts, strict=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        xyxy=xyxy.astype(np.float32),
        confidence=conf.astype(np.float32),
        class_id=cls.astype(np.int32),
        frame=frame.astype(np.int32),
        num_frames=np.int32(first),
        fps=np.float64(info.fps),
        resolution_wh=np.asarray(info.resolution_wh, np.int32),
    )
    print(f"{args.out}: {len(conf)} boxes over {first} frames ({info.fps:.2f} fps)")


def _detect(
    detector: Detector, images: list[np.ndarray], first: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    dets = detector.detect(images)
    return dets.xyxy, dets.confidence, dets.class_id, dets.frame_index + first


if __name__ == "__main__":
    main()
