"""ONNX Runtime on the GPU: the CUDA or TensorRT execution provider, device tensors in and out.

:class:`OrtGpuBackend` has the device interface of
:class:`~visionflow.inference.backends.torch_backend.TorchBackend`
(``run_tensor``, ``warm_up``, ``device``, ``dtype``, ``output_shape``), so the
GPU detector's letterbox, decode and NMS stay the same whichever runtime runs
the model. Batches never leave the device: the input is a torch CUDA tensor
bound to the session by its address (ONNX Runtime's I/O binding) and the
model writes into a torch tensor bound the same way.

Ordering: the session runs on ONNX Runtime's own CUDA stream. Before a run
the torch stream that produced the batch is synchronised, and ONNX Runtime
synchronises its stream before ``run_with_iobinding`` returns, so the output
is complete when :meth:`OrtGpuBackend.run_tensor` returns.

The model runs in float32 (ONNX Runtime does not convert a float32 graph to
float16 by itself). ``onnxruntime`` (the ``onnxruntime-gpu`` build) and torch
are imported when a backend is built.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from visionflow.errors import (
    MissingDependencyError,
    ModelError,
    ModelFormatError,
    ModelNotFoundError,
)
from visionflow.inference.backends import Dim
from visionflow.inference.backends._torch import require_torch

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

GpuProvider = Literal["cuda", "tensorrt"]
_PROVIDERS: dict[str, str] = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
ORT_GPU_HINT = "pip uninstall -y onnxruntime && pip install onnxruntime-gpu"


class OrtGpuBackend:
    """An ONNX model in ONNX Runtime on one GPU, bound to torch device tensors.

    Not thread-safe: the output of :meth:`run_tensor` is reused by the next
    call with the same batch size.

    Args:
        model_path: the ``.onnx`` file (one ``[B, 3, H, W]`` float input).
        input_size_wh: model input ``(width, height)``.
        device: ``"cuda"`` or ``"cuda:N"``.
        provider: ``"cuda"`` or ``"tensorrt"`` (TensorRT builds its engine at
            the first run of each batch size; it falls back to CUDA for nodes
            TensorRT does not take).
        max_batch_size: the largest batch; larger ones are split. A model
            exported with a fixed batch size ``b`` runs in batches of ``b``,
            the last one zero-padded.

    Raises:
        ModelNotFoundError: ``model_path`` does not exist.
        MissingDependencyError: torch is missing, or ONNX Runtime lacks the
            provider (the CPU build of ``onnxruntime`` has none).
        ModelFormatError: ONNX Runtime cannot load the file, or its input is
            not one ``[B, 3, H, W]`` tensor.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        input_size_wh: tuple[int, int],
        *,
        device: str = "cuda",
        provider: GpuProvider = "cuda",
        max_batch_size: int = 64,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelNotFoundError(
                f"model_path={str(model_path)!r} does not exist or is not a file"
            )
        if provider not in _PROVIDERS:
            raise ValueError(f"provider={provider!r} must be one of {sorted(_PROVIDERS)}")
        _require_provider(provider)
        self._torch = require_torch()
        self.device = self._torch.device(device)
        if self.device.type != "cuda":
            raise ValueError(f"device={device!r}: ONNX Runtime's GPU providers need a CUDA device")
        self.dtype = self._torch.float32
        self.provider = provider
        self.max_batch_size = max_batch_size
        self.path = path
        self._session = _open_session(path, provider, self.device.index or 0)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [tuple(i.shape) for i in inputs]
            raise ModelFormatError(f"{path}: expected one [B, C, H, W] input, got inputs {shapes}")
        self._input_name: str = inputs[0].name
        self._output_name: str = outputs[0].name
        width, height = input_size_wh
        self._input_hw = (int(height), int(width))
        self.input_shape: tuple[Dim, ...] = tuple(inputs[0].shape)
        fixed = self.input_shape[0]
        # A model exported for one batch size runs every batch padded up to it.
        self._fixed_batch = fixed if isinstance(fixed, int) and fixed > 0 else None
        if self._fixed_batch is not None:
            self.max_batch_size = self._fixed_batch
        self._outputs: dict[int, torch.Tensor] = {}
        # One run shapes the output rows; every batch size then gets its tensor without one.
        size = self._fixed_batch or 1
        probe = self._torch.zeros((size, 3, *self._input_hw), device=self.device)
        self._row_shape = tuple(self._run(probe, None).get_outputs()[0].shape())[1:]
        self.output_shape: tuple[Dim, ...] = ("batch", *self._row_shape)
        logger.info("ONNX Runtime %s provider on %s: %s", provider, self.device, path.name)

    def warm_up(self, sizes: list[int] | None = None) -> None:
        """Run every batch size in ``sizes`` (default: 1 and ``max_batch_size``) once now."""
        th = self._torch
        for size in sizes or sorted({self._fixed_batch or 1, self.max_batch_size}):
            self.run_tensor(th.zeros((size, 3, *self._input_hw), device=self.device))

    def input_buffer(self, batch_size: int) -> None:
        """None: ONNX Runtime binds whatever tensor :meth:`run_tensor` gets, no copy."""
        del batch_size

    def input_buffers(self) -> list[torch.Tensor]:
        """None made (see :meth:`input_buffer`)."""
        return []

    def output_buffers(self) -> list[torch.Tensor]:
        """None offered: the reused outputs are bound by ONNX Runtime, which runs on
        its own schedule, so a graph captured on them would not be ordered after it."""
        return []

    def run_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """Run on a ``[B, 3, H, W]`` tensor on the device; returns ``[B, ...]`` on the device.

        Raises:
            ModelError: ONNX Runtime failed on the batch.
        """
        th = self._torch
        if len(batch) > self.max_batch_size:
            parts = th.split(batch, self.max_batch_size)
            joined: torch.Tensor = th.cat([self.run_tensor(p).clone() for p in parts])
            return joined
        n = len(batch)
        if self._fixed_batch is not None and n < self._fixed_batch:
            padded = th.zeros((self._fixed_batch, *batch.shape[1:]), device=self.device)
            padded[:n] = batch
            batch = padded
        batch = batch.to(th.float32).contiguous()
        out = self._output(len(batch))
        th.cuda.current_stream(self.device).synchronize()  # the batch is written
        self._run(batch, out)
        return out[:n]

    def _output(self, size: int) -> torch.Tensor:
        """The output tensor of batch size ``size`` (made once, then reused)."""
        out = self._outputs.get(size)
        if out is None:
            th = self._torch
            shape = (size, *self._row_shape)
            out = self._outputs[size] = th.empty(shape, dtype=th.float32, device=self.device)
        return out

    def _bind(self, batch: torch.Tensor, out: torch.Tensor | None) -> Any:
        """An I/O binding of ``batch`` and ``out`` (``None``: ONNX Runtime allocates it)."""
        binding = self._session.io_binding()
        device_id = self.device.index or 0
        shape = tuple(batch.shape)
        binding.bind_input(self._input_name, "cuda", device_id, np.float32, shape, batch.data_ptr())
        if out is None:
            binding.bind_output(self._output_name, "cuda", device_id)
        else:
            binding.bind_output(
                self._output_name, "cuda", device_id, np.float32, tuple(out.shape), out.data_ptr()
            )
        return binding

    def _run(self, batch: torch.Tensor, out: torch.Tensor | None) -> Any:
        """Run ``batch`` into ``out`` (``None``: ONNX Runtime allocates); return the binding."""
        binding = self._bind(batch, out)
        try:
            self._session.run_with_iobinding(binding)
        except Exception as exc:  # onnxruntime raises its own non-exported classes
            raise ModelError(
                f"{self.path}: ONNX Runtime ({self.provider}) failed on input "
                f"{tuple(batch.shape)} (model input {self.input_shape}): {exc}"
            ) from exc
        return binding


def gpu_providers() -> list[str]:
    """The GPU providers (``cuda``, ``tensorrt``) the installed ONNX Runtime has."""
    try:
        import onnxruntime
    except ImportError:
        return []
    available = set(onnxruntime.get_available_providers())
    return [name for name, ort_name in _PROVIDERS.items() if ort_name in available]


def _require_provider(provider: GpuProvider) -> None:
    """Raise ``MissingDependencyError`` unless ONNX Runtime lists ``provider``."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX Runtime on the GPU needs the onnxruntime-gpu package: {ORT_GPU_HINT}"
        ) from exc
    name, available = _PROVIDERS[provider], onnxruntime.get_available_providers()
    if name not in available:
        raise MissingDependencyError(
            f"ONNX Runtime {onnxruntime.__version__} has no {name} (it has "
            f"{', '.join(available)}): {ORT_GPU_HINT}"
        )


def _open_session(path: Path, provider: GpuProvider, device_id: int) -> Any:
    import onnxruntime

    name = _PROVIDERS[provider]
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers: list[Any] = [(name, {"device_id": device_id})]
    if provider == "tensorrt":  # nodes TensorRT does not take run on CUDA
        providers.append(("CUDAExecutionProvider", {"device_id": device_id}))
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # InvalidProtobuf, InvalidGraph, a provider that fails to load ...
        raise ModelFormatError(f"{path}: ONNX Runtime ({name}) cannot load it: {exc}") from exc
    if name not in session.get_providers():  # ORT falls back to the CPU with a warning
        libraries = "TensorRT (pip install tensorrt)" if provider == "tensorrt" else "CUDA/cuDNN"
        raise MissingDependencyError(
            f"ONNX Runtime could not start {name} on cuda:{device_id} (session has "
            f"{', '.join(session.get_providers())}): are the {libraries} libraries installed?"
        )
    return session
