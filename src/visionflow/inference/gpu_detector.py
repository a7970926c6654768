"""The detector on the torch backend: letterbox, model, decode and NMS on the device.

:class:`GpuDetector` has the interface of :class:`~visionflow.inference.Detector`
(``detect(images) -> Detections``, ``class_names``, ``input_size_wh``,
``last_timings``) and also takes device frames: ``[H, W, 3]`` uint8 RGB or
NV12 ``[H * 3 // 2, W]`` uint8 CUDA tensors straight from NVDEC. Host NumPy
frames (the CPU decoder's) are uploaded with one pinned copy per batch.

Box decode and NMS finish on the host when few candidates pass the
thresholds (a frame or a few: see :mod:`~visionflow.inference.gpu_postprocess`).
Stage timings come from CUDA events (device time of each stage); reading
them costs nothing extra because post-processing ends with the one
device->host copy of the detections, which synchronises anyway.

torch is imported when a detector is built, not when this module is imported;
without torch the constructors raise
:class:`~visionflow.errors.MissingDependencyError` with the install hint.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from visionflow.errors import ModelError
from visionflow.inference.backends._torch import GPU_HINT, require_torch
from visionflow.inference.detector import StageTimings, _frozen, _labels
from visionflow.inference.postprocess import PostprocessConfig, detect_layout
from visionflow.types import Detections, Frame

if TYPE_CHECKING:
    import torch

    from visionflow.inference.backends import DeviceBackend
    from visionflow.inference.gpu_preprocess import PixelFormat

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
GRAPHED_LETTERBOX_MAX_FRAMES = 4
"""Batches up to this size are letterboxed by a graph replay into the model's input.

Measured on H200s (``gpu_handoffs_ab_graphed_letterbox.json``,
``live_streams_gpu96_ab_c7e3223.json``): one live stream gained 0.3-0.7 ms
end to end, but 96 streams (batches of ~32-64) lost: preprocess p50
2.1-3.1 ms against 1.2-1.7 and more frames dropped, in two of two pairs,
for a cause not yet found. Larger batches keep the kernel
launched from Python into a new tensor, copied into the model's input."""
GpuRuntime = Literal["torch", "onnxruntime-cuda", "onnxruntime-tensorrt"]
"""What runs the model on the GPU: the torch module, or ONNX Runtime with a GPU provider."""


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` is checked.

    Raises:
        ValueError: ``device`` is not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        MissingDependencyError: ``cuda`` was asked for and torch is missing.
        ModelError: ``cuda`` was asked for and torch sees no GPU.
    """
    from visionflow.inference.backends._torch import cuda_available

    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cpu":
        return device
    if device != "cuda" and not device.startswith("cuda:"):
        raise ValueError(f"device={device!r} must be one of 'auto', 'cpu', 'cuda', 'cuda:N'")
    torch = require_torch()
    if not torch.cuda.is_available():
        raise ModelError(
            f"device={device!r} but torch {torch.__version__} sees no CUDA GPU; use "
            f"device: auto or cpu, or install a CUDA build of torch ({GPU_HINT})"
        )
    return device


class GpuDetector:
    """Detects objects in batches of frames with a device backend (torch or ONNX Runtime).

    Not thread-safe; use one per inference thread.

    Args:
        backend: a :class:`~visionflow.inference.backends.torch_backend.TorchBackend`
            or an :class:`~visionflow.inference.backends.onnxruntime_cuda.OrtGpuBackend`.
        class_names: label of each class id.
        input_size_wh: model input ``(width, height)``.
        config: thresholds for decoding and NMS.
    """

    def __init__(
        self,
        backend: DeviceBackend,
        class_names: Sequence[str],
        input_size_wh: tuple[int, int],
        config: PostprocessConfig,
    ) -> None:
        from visionflow.inference.gpu_postprocess import DevicePostprocessor
        from visionflow.inference.gpu_preprocess import DeviceLetterboxer

        self.class_names = list(class_names)
        self.input_size_wh = input_size_wh
        self.config = config
        self.layout = detect_layout(backend.output_shape, len(self.class_names))
        self.backend = backend
        self.device = backend.device
        self.last_timings = StageTimings()
        self.letterbox = DeviceLetterboxer(input_size_wh, backend.device, backend.dtype)
        self._post = DevicePostprocessor(self.layout, len(self.class_names), config, self.device)
        self._torch = require_torch()
        self._pinned: Any = None
        self._events: list[Any] | None = None
        # Made once: on a CPU that slept between frames, building the context took
        # ~60 µs and looking the current stream up ~110 µs of one batch's host time
        # (H200, batch 1, paced at 30 fps; .notes/predictions.md, 2026-11-22).
        self._inference_mode = self._torch.inference_mode()
        self._stream: Any = None
        self._stream_handle = -1
        self._raw_stream = getattr(self._torch._C, "_cuda_getCurrentRawStream", None)

    @classmethod
    def from_darknet(
        cls,
        cfg_path: PathLike,
        weights_path: PathLike,
        class_names: PathLike | Sequence[str],
        *,
        input_size_wh: tuple[int, int] = (416, 416),
        device: str = "cuda",
        fix_tiny_mask: bool = True,
        confidence: float = 0.25,
        nms_iou: float = 0.45,
        class_ids: Collection[int] | None = None,
        max_detections: int = 300,
        max_batch_size: int = 64,
        half: bool = True,
        cuda_graphs: bool = True,
        runtime: GpuRuntime = "torch",
        cache_dir: PathLike | None = None,
    ) -> GpuDetector:
        """Build the Darknet model as a torch module (fp16 + CUDA graphs on CUDA).

        Arguments as :meth:`visionflow.inference.Detector.from_darknet`, plus
        ``device`` (``cuda``, ``cuda:N`` or ``cpu``), ``max_batch_size`` (the
        largest CUDA graph), ``half`` and ``cuda_graphs``. ``runtime``
        ``onnxruntime-cuda`` or ``onnxruntime-tensorrt`` runs the model's
        ONNX export (kept in ``cache_dir``) in ONNX Runtime instead.
        """
        require_torch()
        backend: DeviceBackend
        if runtime != "torch":
            from visionflow.inference.darknet import export_darknet_onnx

            if cache_dir is None:
                raise ValueError(f"runtime={runtime!r} needs cache_dir for the ONNX export")
            onnx_path = export_darknet_onnx(
                cfg_path, weights_path, input_size_wh, cache_dir, fix_tiny_mask=fix_tiny_mask
            )
            backend = _ort_backend(onnx_path, input_size_wh, device, runtime, max_batch_size)
        else:
            from visionflow.inference.backends.torch_backend import TorchBackend
            from visionflow.inference.backends.torch_darknet import build_darknet_module
            from visionflow.inference.darknet import load_cfg, read_weights

            sections = load_cfg(cfg_path, fix_tiny_mask=fix_tiny_mask)
            values = read_weights(weights_path).values
            backend = TorchBackend(
                build_darknet_module(sections, values, input_size_wh),
                input_size_wh,
                device=device,
                half=half,
                cuda_graphs=cuda_graphs,
                max_batch_size=max_batch_size,
            )
        config = PostprocessConfig(confidence, nms_iou, _frozen(class_ids), max_detections)
        return cls(backend, _labels(class_names), input_size_wh, config)

    @classmethod
    def from_onnx(
        cls,
        onnx_path: PathLike,
        class_names: PathLike | Sequence[str],
        *,
        input_size_wh: tuple[int, int] = (640, 640),
        device: str = "cuda",
        confidence: float = 0.25,
        nms_iou: float = 0.45,
        class_ids: Collection[int] | None = None,
        max_detections: int = 300,
        max_batch_size: int = 64,
        half: bool = True,
        cuda_graphs: bool = True,
        runtime: GpuRuntime = "torch",
    ) -> GpuDetector:
        """A YOLOv5/v8/11 ONNX export: converted to torch with ``onnx2torch``, or run as is.

        ``runtime`` ``torch`` converts the model (fp16, CUDA graphs);
        ``onnxruntime-cuda`` / ``onnxruntime-tensorrt`` run the file in ONNX
        Runtime's CUDA or TensorRT execution provider (float32).
        """
        require_torch()
        backend: DeviceBackend
        if runtime != "torch":
            backend = _ort_backend(onnx_path, input_size_wh, device, runtime, max_batch_size)
        else:
            from visionflow.inference.backends.torch_backend import TorchBackend, load_onnx_module

            backend = TorchBackend(
                load_onnx_module(onnx_path),
                input_size_wh,
                device=device,
                half=half,
                cuda_graphs=cuda_graphs,
                max_batch_size=max_batch_size,
            )
        config = PostprocessConfig(confidence, nms_iou, _frozen(class_ids), max_detections)
        return cls(backend, _labels(class_names), input_size_wh, config)

    def warm_up(self) -> None:
        """Capture every CUDA graph and compile the letterbox kernel now, not on first use.

        The NV12 letterbox is captured too, one graph per model input buffer
        of up to :data:`GRAPHED_LETTERBOX_MAX_FRAMES` frames, writing straight
        into the model's input; and the post-processing's candidate gather,
        one graph per model output buffer. Call it before any decoder works
        on the GPU: work from other threads can invalidate a capture.
        """
        self.backend.warm_up()
        self.letterbox.warm_up()
        for buffer in self.backend.input_buffers():
            if len(buffer) <= GRAPHED_LETTERBOX_MAX_FRAMES:
                self.letterbox.capture(buffer)
        for output in self.backend.output_buffers():
            self._post.capture(output)

    def detect(
        self, images: Sequence[Any], pixel_format: PixelFormat | Sequence[PixelFormat] = "rgb"
    ) -> Detections:
        """Detect objects in a batch.

        Args:
            images: RGB uint8 ``[H, W, 3]`` NumPy arrays, or device tensors in
                ``pixel_format`` (``rgb`` ``[H, W, 3]`` or ``nv12`` ``[H*3//2, W]``).
            pixel_format: layout of the device tensors, one for all or one per
                image (NumPy input is always RGB).

        Returns:
            Boxes in each frame's own pixels; ``frame_index`` is the position
            in ``images``. Sorted by frame, then descending confidence.
        """
        if not images:
            self.last_timings = StageTimings()
            return Detections.empty()
        with self._inference_mode:
            events = self._timing_events() if self._cuda else []
            # The stream named: Event.record() without one looks it up through
            # torch.cuda.is_available(), about 40 µs of host time per call.
            stream = self._current_stream() if events else None
            self._record(events, 0, stream)
            t0 = time.perf_counter()
            frames = self._on_device(images)
            into = None
            if len(frames) <= GRAPHED_LETTERBOX_MAX_FRAMES:
                into = self.backend.input_buffer(len(frames))
            batch, geometry = self.letterbox(frames, pixel_format, into, stream)
            self._record(events, 1, stream)
            t1 = time.perf_counter()
            raw = self.backend.run_tensor(batch)
            self._record(events, 2, stream)
            t2 = time.perf_counter()
            detections = self._post(raw, geometry)
            self._record(events, 3, stream)
            t3 = time.perf_counter()
        self.last_timings = self._timings(events, (t0, t1, t2, t3))
        return detections

    def detect_frames(self, frames: Sequence[Frame]) -> Detections:
        """Detect on pipeline frames: NVDEC frames from their device NV12, others from RGB.

        A batch may mix GPU-decoded and CPU-decoded frames (a stream that fell
        back to the CPU decoder): host frames are uploaded, each frame is
        letterboxed from its own layout, all in the same batch.
        """
        if not frames or not any(f.on_device for f in frames):
            return self.detect([f.image_rgb for f in frames])
        if all(f.on_device for f in frames):  # one format: the letterbox's quickest path
            return self.detect([f.image_nv12_device for f in frames], "nv12")
        th = self._torch
        images = [
            f.image_nv12_device if f.on_device else th.from_numpy(f.image_rgb) for f in frames
        ]
        formats: list[PixelFormat] = ["nv12" if f.on_device else "rgb" for f in frames]
        return self.detect(images, formats)

    def _current_stream(self) -> Any:
        """``torch.cuda.current_stream(self.device)``, the same object while its handle
        (one C call to read) stays current."""
        th = self._torch
        if self._raw_stream is None:
            return th.cuda.current_stream(self.device)
        if (
            self._stream is None
            or self._raw_stream(self._stream.device_index) != self._stream_handle
        ):
            self._stream = th.cuda.current_stream(self.device)
            self._stream_handle = self._stream.cuda_stream
        return self._stream

    @property
    def _cuda(self) -> bool:
        return bool(self.device.type == "cuda")

    def _timing_events(self) -> list[Any]:
        """The four CUDA timing events of a call, made once: each call records them
        anew and reads them (:meth:`_timings`, after a wait) before it returns."""
        if self._events is None:
            self._events = [self._torch.cuda.Event(enable_timing=True) for _ in range(4)]
        return self._events

    @staticmethod
    def _record(events: list[Any], index: int, stream: Any) -> None:
        if events:
            events[index].record(stream)

    def _timings(self, events: list[Any], wall: tuple[float, ...]) -> StageTimings:
        if not events:
            return StageTimings(wall[1] - wall[0], wall[2] - wall[1], wall[3] - wall[2])
        events[3].synchronize()  # recorded after the detections came to the host: at once
        ms = [events[i].elapsed_time(events[i + 1]) / 1e3 for i in range(3)]
        return StageTimings(*ms)

    def _on_device(self, images: Sequence[Any]) -> list[torch.Tensor]:
        th = self._torch
        if isinstance(images[0], th.Tensor):
            index = self.letterbox.device_index  # -1 on the CPU, as Tensor.get_device()
            return [
                im if im.get_device() == index else im.to(self.device, non_blocking=True)
                for im in images
            ]
        shapes = {im.shape for im in images}
        if len(shapes) != 1 or not self._cuda:
            return [th.from_numpy(np.ascontiguousarray(im)).to(self.device) for im in images]
        stacked = self._pinned_buffer(len(images), next(iter(shapes)))
        np.stack(images, out=stacked.numpy())
        return list(stacked.to(self.device, non_blocking=True).unbind(0))

    def _pinned_buffer(self, count: int, shape: tuple[int, ...]) -> torch.Tensor:
        th = self._torch
        buffer = self._pinned
        if buffer is None or buffer.shape[0] < count or tuple(buffer.shape[1:]) != shape:
            buffer = th.empty((count, *shape), dtype=th.uint8, pin_memory=True)
            self._pinned = buffer
        # a non_blocking copy may still read the buffer: wait for the last one to finish
        th.cuda.current_stream(self.device).synchronize()
        return buffer[:count]  # type: ignore[no-any-return]


def _ort_backend(
    onnx_path: PathLike,
    input_size_wh: tuple[int, int],
    device: str,
    runtime: GpuRuntime,
    max_batch_size: int,
) -> DeviceBackend:
    from visionflow.inference.backends.onnxruntime_cuda import OrtGpuBackend

    provider: Literal["cuda", "tensorrt"] = "tensorrt" if runtime.endswith("tensorrt") else "cuda"
    return OrtGpuBackend(
        onnx_path, input_size_wh, device=device, provider=provider, max_batch_size=max_batch_size
    )


__all__ = ["GRAPHED_LETTERBOX_MAX_FRAMES", "GpuDetector", "GpuRuntime", "resolve_device"]
