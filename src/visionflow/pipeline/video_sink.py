"""Annotate frames and record one MP4 per stream: the video thread's work."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from visionflow.outputs import VideoWriter
from visionflow.overlay import Annotator, LineOverlay, ZoneOverlay
from visionflow.pipeline.stats import LatencyStats
from visionflow.types import Detections, Frame

FrameItem = tuple[Frame, Detections, tuple[list[LineOverlay], list[ZoneOverlay]]]


@dataclass(frozen=True, slots=True)
class CloseStream:
    """Video-queue marker: finalise the MP4 of a removed stream."""

    stream_id: str


VideoItem = FrameItem | CloseStream


@dataclass
class VideoSink:
    """Annotate frames and encode one MP4 per stream (runs on the video thread)."""

    directory: Path
    annotator: Annotator
    fps: dict[str, float]
    codec: str
    crf: int
    preset: str
    stats: LatencyStats
    _writers: dict[str, VideoWriter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, item: VideoItem) -> None:
        """Draw ``item``'s tracks and overlays and encode it (or close a removed stream)."""
        if isinstance(item, CloseStream):
            self._close_stream(item.stream_id)
            return
        frame, tracks, (lines, zones) = item
        t0 = time.perf_counter()
        image = _host_rgb(frame)
        self.annotator.annotate(image, tracks, lines=lines, zones=zones)
        self._writer(frame).write(image)
        self.stats.add("output", time.perf_counter() - t0)

    def close(self) -> None:
        """Finalise every MP4 (idempotent)."""
        with self._lock:
            for writer in self._writers.values():
                writer.close()

    def _close_stream(self, stream_id: str) -> None:
        with self._lock:
            writer = self._writers.pop(stream_id, None)
        self.fps.pop(stream_id, None)
        if writer is not None:
            writer.close()

    def _writer(self, frame: Frame) -> VideoWriter:
        writer = self._writers.get(frame.stream_id)
        if writer is None:
            path = self.directory / f"{frame.stream_id}.mp4"
            writer = VideoWriter(
                path,
                fps=self.fps[frame.stream_id],
                resolution_wh=frame.resolution_wh,
                codec=self.codec,
                crf=self.crf,
                preset=self.preset,
            ).open()
            with self._lock:
                self._writers[frame.stream_id] = writer
        return writer


def _host_rgb(frame: Frame) -> npt.NDArray[np.uint8]:
    """A writable RGB copy of the picture; NVDEC frames are copied from the GPU here,
    on the video thread, only because a video is being recorded."""
    if not frame.on_device:
        return np.array(frame.image_rgb, copy=True)
    nv12 = np.ascontiguousarray(frame.image_nv12_device.cpu().numpy())
    return np.asarray(cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12), np.uint8)
