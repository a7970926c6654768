"""The naive CPU pipeline a first prototype would write (DESIGN.md §1), as a baseline.

Single thread, strictly sequential, one frame at a time::

    cv2.VideoCapture.read()            decode (BGR)
    cvtColor + cv2.resize + pad        preprocess (NumPy letterbox, batch of 1)
    InferenceSession.run()             inference (ONNX Runtime, batch 1)
    for row in output: ...             postprocess (decode + greedy NMS in Python loops)
    STrack objects, own Kalman each    tracking (ByteTrack shape, scipy Hungarian)
    for track in tracks: ...           analytics (line crossing + zone, per object)
    cv2.rectangle/putText + VideoWriter output (annotated mp4v video + events JSONL)

It is meant to be *honest*, not slow on purpose: the same ONNX model and ONNX
Runtime session options visionflow uses, OpenCV for resizing and drawing, and
scipy's ``linear_sum_assignment``. What makes it "naive" is only the shape:
per-frame model calls, per-box and per-object Python, no overlap between stages.

The semantics deliberately follow visionflow's, so the counts are comparable:

* letterbox: ``INTER_LINEAR`` resize, centred on a 0.5 grey float canvas, RGB 0..1;
* detections: score = objectness x best class probability, kept when ``> 0.25``,
  class filter applied to the best class, greedy class-aware NMS on source-pixel
  boxes (suppressed when IoU ``> 0.45``), at most 300 per frame;
* tracking: visionflow's ByteTrack variant, not the reference repo's, where they
  differ: every track (tentative ones too) is predicted each frame; tracks are
  confirmed after ``min_hits`` consecutive matches (no first-frame exception)
  and get their id on confirmation; matching is class-aware; IoU has no ``+1``
  pixel convention; the Hungarian step clips costs at the threshold (the
  ``lapjv(cost_limit=...)`` optimum); no removal of duplicate tracks; one track
  list in creation order (so ids come out in the same order as visionflow's);
* lines and zones: the hysteresis rules of visionflow's ``LineCounter`` and
  ``ZoneCounter`` (``min_frames`` consecutive observations, crossings must touch
  the segment, ``forget_frames`` to drop unseen tracks, bottom-centre anchor).

Run alone: ``python benchmarks/naive_baseline.py --json-out result.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import scipy.linalg
from scipy.optimize import linear_sum_assignment

STAGES = (
    "decode",
    "preprocess",
    "inference",
    "postprocess",
    "tracking",
    "analytics",
    "output",
    "end_to_end",
)
"""Per-frame stages timed by the baseline; ``end_to_end`` is their sum for one frame."""

REPO = Path(__file__).resolve().parents[1]

# Track states, as plain ints like the reference ByteTrack code.
TENTATIVE, CONFIRMED, LOST = 0, 1, 2


# -- settings --------------------------------------------------------------------------


@dataclass
class Settings:
    """Everything the baseline needs; :func:`settings_from_config` fills it from the demo."""

    video: str
    onnx_path: str
    class_names: list[str]
    out_dir: str
    stream_id: str = "vtest"
    input_size: int = 416
    confidence: float = 0.25
    nms_iou: float = 0.45
    class_ids: list[int] | None = None
    max_detections: int = 300
    tracker: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    zones: list[dict[str, Any]] = field(default_factory=list)
    forget_frames: int = 60
    counts_interval_s: float = 5.0
    video_writer: str = "cv2-mp4v"  # or "pyav-libx264" (visionflow's encoder settings)


def settings_from_config(config: Any, out_dir: str | os.PathLike[str]) -> Settings:
    """Build :class:`Settings` from a visionflow ``PipelineConfig`` (the demo's, normally).

    Only plain values are read from it (paths, thresholds, the line and the
    zone); none of visionflow's processing code is used by the baseline.
    """
    from visionflow.inference import export_darknet_onnx
    from visionflow.pipeline.build import default_cache_dir

    model = config.model
    names = [s.strip() for s in Path(model.names).read_text().splitlines() if s.strip()]
    onnx_path = export_darknet_onnx(
        model.cfg, model.weights, model.input_size_wh, model.cache_dir or default_cache_dir()
    )
    det = config.detector
    class_ids = None if det.classes is None else [_class_id(c, names) for c in det.classes]
    t = config.tracker
    lines = [
        {
            "name": lc.name,
            "start": list(lc.start),
            "end": list(lc.end),
            "in_name": lc.in_name,
            "out_name": lc.out_name,
            "classes": None if lc.classes is None else [_class_id(c, names) for c in lc.classes],
            "min_frames": lc.min_frames,
        }
        for lc in config.analytics.lines
    ]
    zones = [
        {
            "name": zc.name,
            "polygon": [list(p) for p in zc.polygon],
            "classes": None if zc.classes is None else [_class_id(c, names) for c in zc.classes],
            "min_frames": zc.min_frames,
        }
        for zc in config.analytics.zones
    ]
    return Settings(
        video=config.sources[0].uri,
        onnx_path=str(onnx_path),
        class_names=names,
        out_dir=str(out_dir),
        stream_id=config.sources[0].id,
        input_size=model.input_size_wh[0],
        confidence=det.confidence,
        nms_iou=det.nms_iou,
        class_ids=class_ids,
        max_detections=det.max_detections,
        tracker={
            "high_threshold": t.high_threshold,
            "low_threshold": t.low_threshold,
            "new_track_threshold": t.new_track_threshold,
            "match_threshold": t.match_threshold,
            "lost_buffer_frames": t.lost_buffer_frames,
            "min_hits": t.min_hits,
            "class_aware": t.class_aware,
        },
        lines=lines,
        zones=zones,
        forget_frames=config.analytics.forget_frames,
        counts_interval_s=config.events.counts_interval_s,
    )


def _class_id(ref: int | str, names: list[str]) -> int:
    return ref if isinstance(ref, int) else names.index(ref)


# -- decode ----------------------------------------------------------------------------


def open_frames(path: str) -> tuple[Iterator[np.ndarray], float, str]:
    """BGR frames of ``path``: OpenCV's capture, or PyAV frame by frame if it cannot open it.

    Returns:
        ``(frames, fps, backend)`` where backend names what decoded the file.
    """
    cap = cv2.VideoCapture(path)
    if cap.isOpened():
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0

        def read_cv2() -> Iterator[np.ndarray]:
            try:
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        return
                    yield frame
            finally:
                cap.release()

        return read_cv2(), fps, f"cv2.VideoCapture ({cap.getBackendName()})"
    import av

    container = av.open(path)
    stream = container.streams.video[0]
    fps = float(stream.average_rate or 30.0)

    def read_av() -> Iterator[np.ndarray]:
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="bgr24")
        finally:
            container.close()

    return read_av(), fps, "PyAV (OpenCV could not open the file)"


# -- preprocess ------------------------------------------------------------------------


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """Resize keeping the aspect ratio, centre on 0.5 grey; ``[1, 3, size, size]`` float32."""
    h, w = rgb.shape[:2]
    scale = min(size / w, size / h)
    new_w = max(1, min(size, round(w * scale)))
    new_h = max(1, min(size, round(h * scale)))
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), 0.5, dtype=np.float32)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.astype(np.float32) / 255.0
    blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None])
    return blob, scale, pad_x, pad_y


# -- postprocess -----------------------------------------------------------------------


@dataclass
class Detection:
    """One box in source pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    class_id: int


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two ``x1, y1, x2, y2`` boxes (no +1 pixel convention)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def decode_output(
    output: np.ndarray, scale: float, pad: tuple[int, int], frame_wh: tuple[int, int], s: Settings
) -> list[Detection]:
    """``[N, 85]`` rows (cx, cy, w, h, objectness, classes) → detections in frame pixels."""
    found = []
    width, height = frame_wh
    for row in output:
        objectness = row[4]
        if objectness <= s.confidence:  # score = obj * p <= obj: cannot pass
            continue
        class_id = int(np.argmax(row[5:]))
        score = float(objectness * row[5 + class_id])  # float32 product, like the model
        if score <= s.confidence:
            continue
        if s.class_ids is not None and class_id not in s.class_ids:
            continue
        cx, cy, w, h = (float(v) for v in row[:4])
        x1 = min(max((cx - w / 2 - pad[0]) / scale, 0.0), width)
        y1 = min(max((cy - h / 2 - pad[1]) / scale, 0.0), height)
        x2 = min(max((cx + w / 2 - pad[0]) / scale, 0.0), width)
        y2 = min(max((cy + h / 2 - pad[1]) / scale, 0.0), height)
        found.append(Detection(x1, y1, x2, y2, score, class_id))
    return found


def nms(detections: list[Detection], iou_threshold: float, max_detections: int) -> list[Detection]:
    """Greedy class-aware NMS: best first, drop boxes overlapping a kept one of their class."""
    ordered = sorted(detections, key=lambda d: -d.score)
    kept: list[Detection] = []
    for det in ordered:
        box = (det.x1, det.y1, det.x2, det.y2)
        suppressed = False
        for other in kept:
            if other.class_id != det.class_id:
                continue
            if box_iou(box, (other.x1, other.y1, other.x2, other.y2)) > iou_threshold:
                suppressed = True
                break
        if not suppressed:
            kept.append(det)
    return kept[:max_detections]


# -- tracking --------------------------------------------------------------------------


class KalmanFilter:
    """ByteTrack's 8-state constant-velocity filter (``cx, cy, a, h`` + velocities), one track.

    The code is the reference's (``yolox/tracker/kalman_filter.py``), except for the
    aspect-ratio terms of :meth:`initiate`, which follow visionflow's ``KalmanFilterXYAH``.
    """

    def __init__(self) -> None:
        self._motion_mat = np.eye(8)
        for i in range(4):
            self._motion_mat[i, 4 + i] = 1.0
        self._update_mat = np.eye(4, 8)
        self._std_weight_position = 1.0 / 20
        self._std_weight_velocity = 1.0 / 160

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.r_[measurement, np.zeros(4)]
        h = measurement[3]
        std = [
            2 * self._std_weight_position * h,
            2 * self._std_weight_position * h,
            1e-2,  # as reference ByteTrack
            2 * self._std_weight_position * h,
            10 * self._std_weight_velocity * h,
            10 * self._std_weight_velocity * h,
            1e-5,  # as reference ByteTrack
            10 * self._std_weight_velocity * h,
        ]
        return mean, np.diag(np.square(std))

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        std_pos = [self._std_weight_position * h, self._std_weight_position * h, 1e-2]
        std_pos.append(self._std_weight_position * h)
        std_vel = [self._std_weight_velocity * h, self._std_weight_velocity * h, 1e-5]
        std_vel.append(self._std_weight_velocity * h)
        motion_cov = np.diag(np.square(np.r_[std_pos, std_vel]))
        mean = np.dot(mean, self._motion_mat.T)
        covariance = (
            np.linalg.multi_dot((self._motion_mat, covariance, self._motion_mat.T)) + motion_cov
        )
        return mean, covariance

    def project(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        std = [self._std_weight_position * h, self._std_weight_position * h, 1e-1]
        std.append(self._std_weight_position * h)
        innovation_cov = np.diag(np.square(std))
        mean = np.dot(self._update_mat, mean)
        covariance = np.linalg.multi_dot((self._update_mat, covariance, self._update_mat.T))
        return mean, covariance + innovation_cov

    def update(
        self, mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        projected_mean, projected_cov = self.project(mean, covariance)
        chol_factor, lower = scipy.linalg.cho_factor(projected_cov, lower=True, check_finite=False)
        kalman_gain = scipy.linalg.cho_solve(
            (chol_factor, lower), np.dot(covariance, self._update_mat.T).T, check_finite=False
        ).T
        innovation = measurement - projected_mean
        new_mean = mean + np.dot(innovation, kalman_gain.T)
        new_covariance = covariance - np.linalg.multi_dot(
            (kalman_gain, projected_cov, kalman_gain.T)
        )
        return new_mean, new_covariance


def tlbr_to_xyah(box: tuple[float, float, float, float]) -> np.ndarray:
    w = box[2] - box[0]
    h = max(box[3] - box[1], 1e-6)
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, w / h, h])


class STrack:
    """One tracked object with its own Kalman filter."""

    def __init__(self, det: Detection) -> None:
        self.kalman_filter = KalmanFilter()
        self.mean, self.covariance = self.kalman_filter.initiate(
            tlbr_to_xyah((det.x1, det.y1, det.x2, det.y2))
        )
        self.track_id = 0  # handed out on confirmation
        self.state = TENTATIVE
        self.hits = 1
        self.frames_since_update = 0
        self.score = det.score
        self.class_id = det.class_id
        self.det_index = -1  # detection matched in the current frame

    def predict(self) -> None:
        mean_state = self.mean.copy()
        if self.state == LOST:
            mean_state[7] = 0.0
        self.mean, self.covariance = self.kalman_filter.predict(mean_state, self.covariance)
        self.frames_since_update += 1

    def update(self, det: Detection) -> None:
        self.mean, self.covariance = self.kalman_filter.update(
            self.mean, self.covariance, tlbr_to_xyah((det.x1, det.y1, det.x2, det.y2))
        )
        self.frames_since_update = 0
        self.score = det.score
        self.class_id = det.class_id

    @property
    def tlbr(self) -> tuple[float, float, float, float]:
        cx, cy, a, h = (float(v) for v in self.mean[:4])
        w = a * h
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


class BYTETracker:
    """ByteTrack over a list of :class:`STrack` objects (semantics: see the module docstring)."""

    def __init__(
        self,
        *,
        high_threshold: float = 0.5,
        low_threshold: float = 0.1,
        new_track_threshold: float = 0.6,
        match_threshold: float = 0.8,
        second_match_threshold: float = 0.5,
        unconfirmed_match_threshold: float = 0.7,
        lost_buffer_frames: int = 30,
        min_hits: int = 2,
        class_aware: bool = True,
        fuse_score: bool = True,
    ) -> None:
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.new_track_threshold = new_track_threshold
        self.match_threshold = match_threshold
        self.second_match_threshold = second_match_threshold
        self.unconfirmed_match_threshold = unconfirmed_match_threshold
        self.lost_buffer_frames = lost_buffer_frames
        self.min_hits = min_hits
        self.class_aware = class_aware
        self.fuse_score = fuse_score
        self.tracks: list[STrack] = []
        self.next_id = 1

    def update(self, dets: list[Detection]) -> list[tuple[Detection, int]]:
        """One frame; returns ``(detection, track_id)`` of confirmed tracks, in detection order."""
        for track in self.tracks:
            track.det_index = -1
            track.predict()
        high = [i for i, d in enumerate(dets) if d.score >= self.high_threshold]
        low = [i for i, d in enumerate(dets) if self.low_threshold <= d.score < self.high_threshold]

        pool = [t for t in self.tracks if t.state != TENTATIVE]
        pool_left, high_left = self._match(pool, high, dets, self.match_threshold, self.fuse_score)
        tracked_left = [t for t in pool_left if t.state == CONFIRMED]
        self._match(tracked_left, low, dets, self.second_match_threshold, False)
        tentative = [t for t in self.tracks if t.state == TENTATIVE]
        _, high_left = self._match(
            tentative, high_left, dets, self.unconfirmed_match_threshold, self.fuse_score
        )

        self._correct_and_prune(dets)
        self._spawn(dets, high_left)
        return self._output(dets)

    def _correct_and_prune(self, dets: list[Detection]) -> None:
        survivors = []
        for track in self.tracks:
            if track.det_index >= 0:
                track.update(dets[track.det_index])
                track.hits += 1
                if track.state == LOST or (
                    track.state == TENTATIVE and track.hits >= self.min_hits
                ):
                    track.state = CONFIRMED
            else:
                track.hits = 0
                if track.state == CONFIRMED:
                    track.state = LOST
            if track.state == TENTATIVE and track.det_index < 0:
                continue  # an unconfirmed track that missed a frame dies
            if track.state == LOST and track.frames_since_update > self.lost_buffer_frames:
                continue
            survivors.append(track)
        self.tracks = survivors

    def _spawn(self, dets: list[Detection], high_left: list[int]) -> None:
        for i in high_left:
            if dets[i].score >= self.new_track_threshold:
                track = STrack(dets[i])
                track.det_index = i
                if self.min_hits <= 1:
                    track.state = CONFIRMED
                self.tracks.append(track)

    def _output(self, dets: list[Detection]) -> list[tuple[Detection, int]]:
        out = []
        for track in self.tracks:
            if track.state == CONFIRMED and track.track_id == 0:
                track.track_id = self.next_id
                self.next_id += 1
            if track.state == CONFIRMED and track.det_index >= 0:
                out.append((track.det_index, track.track_id))
        out.sort()
        return [(dets[i], track_id) for i, track_id in out]

    def _match(
        self,
        tracks: list[STrack],
        det_indices: list[int],
        dets: list[Detection],
        threshold: float,
        fuse: bool,
    ) -> tuple[list[STrack], list[int]]:
        """Hungarian matching on ``1 - IoU`` (x score when fused); returns what is left."""
        if not tracks or not det_indices:
            return tracks, det_indices
        cost = np.zeros((len(tracks), len(det_indices)))
        for r, track in enumerate(tracks):
            box = track.tlbr
            for c, i in enumerate(det_indices):
                det = dets[i]
                iou = box_iou(box, (det.x1, det.y1, det.x2, det.y2))
                cost[r, c] = 1.0 - iou * det.score if fuse else 1.0 - iou
                if self.class_aware and track.class_id != det.class_id:
                    cost[r, c] = np.inf
        rows, cols = linear_sum_assignment(np.minimum(cost, threshold))
        matched_cols = set()
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] <= threshold:
                tracks[r].det_index = det_indices[c]
                matched_cols.add(c)
        tracks_left = [t for t in tracks if t.det_index < 0]
        dets_left = [i for c, i in enumerate(det_indices) if c not in matched_cols]
        return tracks_left, dets_left


# -- analytics -------------------------------------------------------------------------


def bottom_center(det: Detection) -> tuple[float, float]:
    return (det.x1 + det.x2) / 2, det.y2


def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


@dataclass
class LineTrackState:
    settled_side: int = 0
    observed_side: int = 0
    settled_xy: tuple[float, float] = (0.0, 0.0)
    first_new_xy: tuple[float, float] = (0.0, 0.0)
    pending: int = 0
    last_seen: int = 0


class LineCounter:
    """Per-object line crossing with visionflow's hysteresis rules."""

    def __init__(self, spec: dict[str, Any], forget_frames: int) -> None:
        self.name = spec["name"]
        self.start = tuple(spec["start"])
        self.end = tuple(spec["end"])
        self.in_name, self.out_name = spec["in_name"], spec["out_name"]
        self.classes = spec["classes"]
        self.min_frames = spec["min_frames"]
        self.forget_frames = forget_frames
        self.states: dict[int, LineTrackState] = {}
        self.counts: dict[str, dict[int, int]] = {self.in_name: {}, self.out_name: {}}

    def update(
        self, tracks: list[tuple[Detection, int]], frame_number: int
    ) -> list[tuple[Detection, int, str]]:
        crossings = []
        for det, track_id in tracks:
            if self.classes is not None and det.class_id not in self.classes:
                continue
            state = self.states.setdefault(track_id, LineTrackState())
            state.last_seen = frame_number
            point = bottom_center(det)
            value = cross(self.start, self.end, point)
            side = (value > 0) - (value < 0)
            if side == 0:
                side = state.observed_side
            state.observed_side = side
            stay = side != 0 and (state.settled_side in (0, side))
            flipped = state.settled_side != 0 and side == -state.settled_side
            state.pending = state.pending + 1 if flipped else 0
            if flipped and state.pending == 1:
                state.first_new_xy = point
            done = state.pending >= self.min_frames
            if done and self._path_hits(state.settled_xy, state.first_new_xy):
                direction = self.in_name if side > 0 else self.out_name
                per_class = self.counts[direction]
                per_class[det.class_id] = per_class.get(det.class_id, 0) + 1
                crossings.append((det, track_id, direction))
            if stay or done:
                state.settled_side = side
                state.settled_xy = point
            if done:
                state.pending = 0
        for track_id in list(self.states):
            if frame_number - self.states[track_id].last_seen >= self.forget_frames:
                del self.states[track_id]
        return crossings

    def _path_hits(self, p: tuple[float, float], q: tuple[float, float]) -> bool:
        a, b = self.start, self.end
        return cross(a, b, p) * cross(a, b, q) <= 0 and cross(p, q, a) * cross(p, q, b) <= 0


@dataclass
class ZoneTrackState:
    inside: bool = False
    pending: int = 0
    run_start: int = 0
    enter_frame: int = 0
    last_inside: int = 0
    last_seen: int = 0
    class_id: int = 0


class ZoneCounter:
    """Per-object zone entry/exit with visionflow's hysteresis rules."""

    def __init__(self, spec: dict[str, Any], forget_frames: int) -> None:
        self.name = spec["name"]
        self.polygon = [tuple(p) for p in spec["polygon"]]
        self.classes = spec["classes"]
        self.min_frames = spec["min_frames"]
        self.forget_frames = forget_frames
        self.states: dict[int, ZoneTrackState] = {}
        self.entered: dict[int, int] = {}

    def contains(self, point: tuple[float, float]) -> bool:
        """Even-odd ray casting."""
        px, py = point
        inside = False
        n = len(self.polygon)
        for i in range(n):
            x0, y0 = self.polygon[i]
            x1, y1 = self.polygon[(i + 1) % n]
            if (y0 > py) != (y1 > py):
                x_at = x0 + (x1 - x0) / (y1 - y0) * (py - y0)
                if px < x_at:
                    inside = not inside
        return inside

    def update(
        self, tracks: list[tuple[Detection, int]], frame_number: int
    ) -> tuple[list[tuple[Detection | None, int, int]], list[tuple[Detection | None, int, int]]]:
        """Returns ``(entered, exited)`` as ``(det or None, track_id, dwell_frames)``."""
        entered: list[tuple[Detection | None, int, int]] = []
        exited: list[tuple[Detection | None, int, int]] = []
        for det, track_id in tracks:
            if self.classes is not None and det.class_id not in self.classes:
                continue
            state = self.states.setdefault(track_id, ZoneTrackState())
            state.last_seen = frame_number
            state.class_id = det.class_id
            inside_now = self.contains(bottom_center(det))
            if inside_now:
                state.last_inside = frame_number
            if inside_now != state.inside:
                state.pending += 1
                if state.pending == 1:
                    state.run_start = frame_number
            else:
                state.pending = 0
            if state.pending >= self.min_frames:
                state.inside = inside_now
                state.pending = 0
                if inside_now:
                    state.enter_frame = state.run_start
                    self.entered[det.class_id] = self.entered.get(det.class_id, 0) + 1
                    entered.append((det, track_id, 0))
                else:
                    exited.append((det, track_id, state.last_inside - state.enter_frame + 1))
        for track_id in list(self.states):
            state = self.states[track_id]
            if frame_number - state.last_seen >= self.forget_frames:
                if state.inside:
                    exited.append((None, track_id, state.last_inside - state.enter_frame + 1))
                del self.states[track_id]
        return entered, exited

    def occupancy(self) -> dict[int, int]:
        counts: dict[int, int] = dict.fromkeys(sorted(self.classes or ()), 0)
        for state in self.states.values():
            if state.inside:
                counts[state.class_id] = counts.get(state.class_id, 0) + 1
        return counts


# -- output ----------------------------------------------------------------------------


PALETTE_BGR = [
    (75, 25, 230), (75, 180, 60), (25, 225, 255), (200, 130, 0), (48, 130, 245),
    (180, 30, 145), (240, 240, 70), (230, 50, 240), (60, 245, 210), (212, 190, 250),
]  # fmt: skip
ZONE_BGR = (255, 200, 0)


def put_label(image: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int]) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    x = min(max(x, 0), max(image.shape[1] - tw, 0))
    y = max(y, th + base)
    cv2.rectangle(image, (x, y - th - base), (x + tw, y), color, -1)
    cv2.putText(
        image, text, (x, y - base), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
    )


def draw(
    frame: np.ndarray,
    tracks: list[tuple[Detection, int]],
    lines: list[LineCounter],
    zones: list[ZoneCounter],
    names: list[str],
) -> None:
    """Zones (translucent), lines with their counts, then one box and label per track."""
    for zone in zones:
        points = np.array(zone.polygon, np.int32)
        overlay = frame.copy()
        cv2.fillPoly(overlay, [points], ZONE_BGR)
        cv2.addWeighted(overlay, 0.25, frame, 0.75, 0, dst=frame)
        cv2.polylines(frame, [points], True, ZONE_BGR, 2)
        top = min(zone.polygon, key=lambda p: p[1])
        text = f"{zone.name}: {sum(zone.occupancy().values())}"
        put_label(frame, text, int(top[0]), int(top[1]), ZONE_BGR)
    for line in lines:
        a = (round(line.start[0]), round(line.start[1]))
        b = (round(line.end[0]), round(line.end[1]))
        cv2.line(frame, a, b, (255, 255, 255), 2)
        n_in = sum(line.counts[line.in_name].values())
        n_out = sum(line.counts[line.out_name].values())
        text = f"{line.name}: {line.in_name} {n_in} / {line.out_name} {n_out}"
        put_label(frame, text, (a[0] + b[0]) // 2, (a[1] + b[1]) // 2, (255, 255, 255))
    for det, track_id in tracks:
        color = PALETTE_BGR[track_id % len(PALETTE_BGR)]
        p1 = (round(det.x1), round(det.y1))
        cv2.rectangle(frame, p1, (round(det.x2), round(det.y2)), color, 2)
        put_label(frame, f"{names[det.class_id]} #{track_id} {det.score:.2f}", *p1, color)


class PyAvWriter:
    """libx264 (crf 23, ultrafast) through PyAV: visionflow's default encoder settings."""

    def __init__(self, path: str, fps: float, size_wh: tuple[int, int]) -> None:
        import av

        self._av = av
        self.container = av.open(path, "w")
        self.stream = self.container.add_stream(
            "libx264", rate=round(fps), options={"crf": "23", "preset": "ultrafast"}
        )
        self.stream.width, self.stream.height = size_wh
        self.stream.pix_fmt = "yuv420p"

    def write(self, bgr: np.ndarray) -> None:
        frame = self._av.VideoFrame.from_ndarray(bgr, format="bgr24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def release(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()


def open_writer(s: Settings, fps: float, size_wh: tuple[int, int]) -> Any:
    path = Path(s.out_dir) / f"{s.stream_id}.mp4"
    if s.video_writer == "pyav-libx264":
        return PyAvWriter(str(path), fps, size_wh)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size_wh)
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write mp4v to {path}")
    return writer


def make_event(kind: str, s: Settings, frame_number: int, fps: float, **fields: Any) -> str:
    event = {
        "type": kind,
        "schema_version": "1.0.0",
        "event_id": uuid.uuid4().hex,
        "stream_id": s.stream_id,
        "frame_number": frame_number,
        "pts_seconds": frame_number / fps,
        "wall_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z",
        **fields,
    }
    return json.dumps(event)


# -- the loop --------------------------------------------------------------------------


@dataclass
class NaiveResult:
    """What one run did; ``stage_ms`` holds one duration per frame for every stage."""

    frames: int
    wall_s: float
    decode_backend: str
    video_writer: str
    line_counts: dict[str, Any]
    zone_counts: dict[str, Any]
    events_written: int
    stage_ms: dict[str, list[float]] = field(repr=False)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


class Analytics:
    """Lines, zones and their events for one stream."""

    def __init__(self, s: Settings, fps: float) -> None:
        self.s = s
        self.fps = fps
        self.lines = [LineCounter(spec, s.forget_frames) for spec in s.lines]
        self.zones = [ZoneCounter(spec, s.forget_frames) for spec in s.zones]
        self.next_counts_s = 0.0

    def update(self, tracks: list[tuple[Detection, int]], n: int) -> list[str]:
        s, names, events = self.s, self.s.class_names, []
        for line in self.lines:
            for det, track_id, direction in line.update(tracks, n):
                events.append(
                    make_event(
                        "line_crossed",
                        s,
                        n,
                        self.fps,
                        track_id=track_id,
                        class_id=det.class_id,
                        class_name=names[det.class_id],
                        line=line.name,
                        direction=direction,
                        confidence=det.score,
                        bbox_xyxy=[det.x1, det.y1, det.x2, det.y2],
                    )
                )
        for zone in self.zones:
            entered, exited = zone.update(tracks, n)
            for det, track_id, _ in entered:
                assert det is not None
                events.append(
                    make_event(
                        "zone_entered",
                        s,
                        n,
                        self.fps,
                        track_id=track_id,
                        class_id=det.class_id,
                        class_name=names[det.class_id],
                        zone=zone.name,
                        bbox_xyxy=[det.x1, det.y1, det.x2, det.y2],
                    )
                )
            for det, track_id, dwell in exited:
                bbox = None if det is None else [det.x1, det.y1, det.x2, det.y2]
                events.append(
                    make_event(
                        "zone_exited",
                        s,
                        n,
                        self.fps,
                        track_id=track_id,
                        zone=zone.name,
                        dwell_seconds=dwell / self.fps,
                        bbox_xyxy=bbox,
                    )
                )
        if s.counts_interval_s > 0 and n / self.fps >= self.next_counts_s:
            self.next_counts_s = n / self.fps + s.counts_interval_s
            events.append(self.counts_event(n))
        return events

    def counts_event(self, n: int) -> str:
        lines, zones = self.totals()
        return make_event(
            "counts",
            self.s,
            n,
            self.fps,
            lines=lines,
            zones={name: z["occupancy"] for name, z in zones.items()},
        )

    def totals(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Line and zone totals shaped like visionflow's ``RunSummary`` (one stream)."""
        names = self.s.class_names
        lines = {
            line.name: {d: {names[c]: n for c, n in pc.items()} for d, pc in line.counts.items()}
            for line in self.lines
        }
        zones = {
            zone.name: {
                "occupancy": {names[c]: n for c, n in zone.occupancy().items()},
                "entered": {names[c]: n for c, n in zone.entered.items()},
            }
            for zone in self.zones
        }
        return lines, zones


def run(s: Settings, dump_path: str | None = None) -> NaiveResult:
    """Run the naive pipeline over the whole clip.

    Args:
        s: the settings.
        dump_path: write every frame's detections and confirmed tracks there
            (JSON Lines) for a comparison with visionflow; off when timing.
    """
    Path(s.out_dir).mkdir(parents=True, exist_ok=True)
    session = ort.InferenceSession(s.onnx_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    frames, fps, backend = open_frames(s.video)
    tracker = BYTETracker(**s.tracker)
    analytics = Analytics(s, fps)
    stage_ms: dict[str, list[float]] = {stage: [] for stage in STAGES}
    dump = open(dump_path, "w") if dump_path else None  # noqa: SIM115
    events_file = open(Path(s.out_dir) / "events.jsonl", "w")  # noqa: SIM115
    writer = None
    events_written = 0
    n = 0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            break
        t1 = time.perf_counter()
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        blob, scale, pad_x, pad_y = letterbox(rgb, s.input_size)
        t2 = time.perf_counter()
        output = session.run(None, {input_name: blob})[0]
        t3 = time.perf_counter()
        size_wh = (frame.shape[1], frame.shape[0])
        dets = nms(
            decode_output(output[0], scale, (pad_x, pad_y), size_wh, s),
            s.nms_iou,
            s.max_detections,
        )
        t4 = time.perf_counter()
        tracks = tracker.update(dets)
        t5 = time.perf_counter()
        events = analytics.update(tracks, n)
        t6 = time.perf_counter()
        draw(frame, tracks, analytics.lines, analytics.zones, s.class_names)
        if writer is None:
            writer = open_writer(s, fps, size_wh)
        writer.write(frame)
        for event in events:
            events_file.write(event + "\n")
        events_file.flush()
        events_written += len(events)
        t7 = time.perf_counter()
        marks = (t0, t1, t2, t3, t4, t5, t6, t7)
        for stage, begin, end in zip(STAGES[:-1], marks[:-1], marks[1:], strict=True):
            stage_ms[stage].append((end - begin) * 1e3)
        stage_ms["end_to_end"].append((t7 - t0) * 1e3)
        if dump is not None:
            dump.write(json.dumps(_dump_row(n, dets, tracks)) + "\n")
        n += 1
    final = analytics.counts_event(max(n - 1, 0))
    events_file.write(final + "\n")
    events_written += 1
    events_file.close()
    if writer is not None:
        writer.release()
    wall_s = time.perf_counter() - start
    if dump is not None:
        dump.close()
    lines, zones = analytics.totals()
    return NaiveResult(
        frames=n,
        wall_s=wall_s,
        decode_backend=backend,
        video_writer=s.video_writer,
        line_counts={s.stream_id: lines},
        zone_counts={s.stream_id: zones},
        events_written=events_written,
        stage_ms=stage_ms,
    )


def _dump_row(n: int, dets: list[Detection], tracks: list[tuple[Detection, int]]) -> list[Any]:
    return [
        n,
        [[d.x1, d.y1, d.x2, d.y2, d.score, d.class_id] for d in dets],
        [[t, d.x1, d.y1, d.x2, d.y2, d.score, d.class_id] for d, t in tracks],
    ]


def stage_summary(stage_ms: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50/p90/p99/max in ms per stage (NumPy's default linear percentiles, as visionflow)."""
    out = {}
    for stage, values in stage_ms.items():
        if not values:
            continue
        arr = np.asarray(values)
        p50, p90, p99 = np.percentile(arr, [50, 90, 99])
        out[stage] = {
            "samples": int(arr.size),
            "p50_ms": float(p50),
            "p90_ms": float(p90),
            "p99_ms": float(p99),
            "max_ms": float(arr.max()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=str(REPO / "data"), help="demo assets folder")
    parser.add_argument("--out-dir", default="/tmp/visionflow-bench/naive")
    parser.add_argument("--video-writer", choices=["cv2-mp4v", "pyav-libx264"], default="cv2-mp4v")
    parser.add_argument("--json-out", help="write the result (and stage samples) here")
    parser.add_argument("--dump", help="write per-frame detections and tracks here (JSONL)")
    args = parser.parse_args()
    os.environ.setdefault("VISIONFLOW_CACHE", str(Path(args.assets) / "cache"))
    from visionflow.cli.demo import demo_config

    settings = settings_from_config(demo_config(Path(args.assets)), args.out_dir)
    settings.video_writer = args.video_writer
    result = run(settings, args.dump)
    summary = {
        **{k: v for k, v in asdict(result).items() if k != "stage_ms"},
        "fps": result.fps,
        "stages": stage_summary(result.stage_ms),
        "settings": asdict(settings),
    }
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"naive baseline: {result.frames} frames in {result.wall_s:.2f} s = {result.fps:.2f} fps "
        f"(decode: {result.decode_backend}, writer: {result.video_writer})"
    )
    print("lines:", json.dumps(result.line_counts), "zones:", json.dumps(result.zone_counts))
    for stage, st in summary["stages"].items():
        print(f"  {stage:<12} p50 {st['p50_ms']:8.2f} ms   p99 {st['p99_ms']:8.2f} ms")


if __name__ == "__main__":
    main()
