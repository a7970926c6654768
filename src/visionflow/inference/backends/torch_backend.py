"""PyTorch backend: fp16, channels_last, one CUDA graph per batch-size bucket (imports torch).

:class:`TorchBackend` runs any ``nn.Module`` that maps ``[B, 3, H, W]`` to one
tensor: the Darknet module of :mod:`.torch_darknet`, or a user ONNX model
converted with ``onnx2torch`` (:func:`load_onnx_module`).

On CUDA, batches are padded up to a bucket (powers of two up to
``max_batch_size``) and each bucket's forward pass is captured once as a CUDA
graph: a replay launches the whole network with one call, which removes the
per-layer launch cost that dominates small models at small batches. Captures
happen lazily, on the first batch of each bucket (a few hundred ms each); call
:meth:`TorchBackend.warm_up` to take that cost up front.

On the CPU (development, tests) the module runs eagerly in float32.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from visionflow.errors import MissingDependencyError, ModelError, ModelNotFoundError
from visionflow.inference.backends import Dim
from visionflow.inference.backends._torch import GPU_HINT

logger = logging.getLogger(__name__)

_WARMUP_RUNS = 3


def batch_buckets(max_batch_size: int) -> list[int]:
    """Powers of two below ``max_batch_size``, then ``max_batch_size`` itself."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return [*sizes, max_batch_size]


class TorchBackend:
    """Runs a module on ``[B, 3, H, W]`` batches; on CUDA in fp16 with CUDA graphs.

    Not thread-safe: the output of :meth:`run_tensor` is a view of a graph's
    static buffer, valid until the next call with the same bucket.

    Args:
        module: maps ``[B, 3, H, W]`` (0..1 RGB) to the raw detections.
        input_size_wh: model input ``(width, height)``.
        device: ``"cuda"``, ``"cuda:N"`` or ``"cpu"``.
        half: run in float16 on CUDA (ignored on the CPU).
        cuda_graphs: capture CUDA graphs (ignored on the CPU).
        max_batch_size: the largest batch; larger ones are split.
        buckets: batch sizes that get a CUDA graph (a batch is padded up to the
            next one); default: powers of two, then ``max_batch_size``. Use one
            bucket for modules that cache shape-dependent tensors in their
            state (Ultralytics' ``Detect`` head does): a capture for another
            batch size would free a tensor an earlier graph still reads.
    """

    def __init__(
        self,
        module: nn.Module,
        input_size_wh: tuple[int, int],
        *,
        device: str = "cuda",
        half: bool = True,
        cuda_graphs: bool = True,
        max_batch_size: int = 64,
        buckets: list[int] | None = None,
    ) -> None:
        self.device = torch.device(device)
        on_cuda = self.device.type == "cuda"
        self.dtype = torch.float16 if (half and on_cuda) else torch.float32
        self.cuda_graphs = cuda_graphs and on_cuda
        self.max_batch_size = max_batch_size
        self.buckets = sorted(buckets or batch_buckets(max_batch_size))
        if self.buckets[-1] < max_batch_size:
            raise ValueError(f"buckets={buckets!r} must include max_batch_size={max_batch_size}")
        width, height = input_size_wh
        self.input_shape: tuple[Dim, ...] = ("batch", 3, height, width)
        fmt = torch.channels_last if on_cuda else torch.contiguous_format
        self.memory_format = fmt
        self.module = module.to(self.device, dtype=self.dtype).eval()
        if on_cuda:
            self.module = self.module.to(memory_format=fmt)  # type: ignore[call-overload]
        self._input_hw = (int(height), int(width))
        with torch.inference_mode():
            probe = self.module(torch.zeros(1, 3, height, width, dtype=self.dtype, device=device))
        self.output_shape: tuple[Dim, ...] = ("batch", *probe.shape[1:])
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def warm_up(self, sizes: list[int] | None = None) -> None:
        """Capture the CUDA graphs of ``sizes`` (default: every bucket) now."""
        if self.cuda_graphs:
            for size in sizes or self.buckets:
                self._graph(self._bucket(size))

    def run_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """Run on a ``[B, 3, H, W]`` tensor already on the device; returns ``[B, ...]``."""
        if len(batch) > self.max_batch_size:
            parts = torch.split(batch, self.max_batch_size)
            return torch.cat([self.run_tensor(p).clone() for p in parts])
        if not self.cuda_graphs:
            with torch.inference_mode():
                out: torch.Tensor = self.module(
                    batch.to(self.dtype).contiguous(memory_format=self.memory_format)
                )
                return out
        graph, static_in, static_out = self._graph(self._bucket(len(batch)))
        if batch.data_ptr() != static_in.data_ptr():  # else written in place (input_buffer)
            static_in[: len(batch)].copy_(batch)
        graph.replay()
        return static_out[: len(batch)]

    def input_buffer(self, batch_size: int) -> torch.Tensor | None:
        """The static input of the CUDA graph that runs ``batch_size`` frames (its whole
        bucket): a letterbox that writes its first slots saves :meth:`run_tensor` a copy.
        ``None`` without CUDA graphs or above ``max_batch_size``."""
        if not self.cuda_graphs or not 0 < batch_size <= self.max_batch_size:
            return None
        return self._graph(self._bucket(batch_size))[1]

    def input_buffers(self) -> list[torch.Tensor]:
        """The static inputs of the CUDA graphs captured so far."""
        return [entry[1] for entry in self._graphs.values()]

    def output_buffers(self) -> list[torch.Tensor]:
        """The static outputs of the CUDA graphs captured so far (:meth:`run_tensor`
        returns a prefix of one)."""
        return [entry[2] for entry in self._graphs.values()]

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """:class:`~visionflow.inference.backends.InferenceBackend` entry: NumPy in and out."""
        tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        return self.run_tensor(tensor).float().cpu().numpy()

    def _bucket(self, size: int) -> int:
        return next(b for b in self.buckets if b >= size)

    def _graph(self, size: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        entry = self._graphs.get(size)
        if entry is not None:
            return entry
        static_in = torch.full(
            (size, 3, *self._input_hw), 0.5, dtype=self.dtype, device=self.device
        ).contiguous(memory_format=self.memory_format)
        side = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(_WARMUP_RUNS):
                self.module(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: decoder threads keep issuing CUDA calls (NVDEC copies) while this
        # thread captures; the default "global" mode would make their calls fail.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"), torch.inference_mode():
            static_out = self.module(static_in)
        self._graphs[size] = (graph, static_in, static_out)
        logger.debug("captured a CUDA graph for batch size %d", size)
        return graph, static_in, static_out


def load_onnx_module(path: str | os.PathLike[str]) -> nn.Module:
    """Convert an ONNX model to a torch module with ``onnx2torch``.

    Raises:
        ModelNotFoundError: ``path`` does not exist.
        MissingDependencyError: ``onnx2torch`` is not installed.
        ModelError: the conversion failed (an operator onnx2torch lacks, say).
    """
    model_path = Path(path)
    if not model_path.is_file():
        raise ModelNotFoundError(f"onnx_path={str(path)!r} does not exist or is not a file")
    try:
        onnx2torch = importlib.import_module("onnx2torch")
    except ImportError as exc:
        raise MissingDependencyError(
            "running an ONNX model on the torch backend needs onnx2torch: "
            f"pip install onnx2torch (or {GPU_HINT})"
        ) from exc
    try:
        module: Any = onnx2torch.convert(str(model_path))
    except Exception as exc:  # onnx2torch raises NotImplementedError, KeyError, ...
        raise ModelError(f"{model_path}: onnx2torch cannot convert it: {exc}") from exc
    return module  # type: ignore[no-any-return]
