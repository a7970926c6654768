"""Inference backends: run a model on a float32 NCHW batch.

A backend is anything with the :class:`InferenceBackend` shape. Backend
modules import their runtime lazily so ``import visionflow`` stays light.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Dim = int | str | None


class InferenceBackend(Protocol):
    """Runs one model.

    Attributes:
        input_shape: model input shape ``[B, C, H, W]``; dynamic dims are ``str``/``None``.
        output_shape: model output shape, dynamic dims as above.
    """

    input_shape: tuple[Dim, ...]
    output_shape: tuple[Dim, ...]

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the model on ``[B, C, H, W]`` float32 and return its first output."""
        ...


class DeviceBackend(Protocol):
    """Runs one model on device tensors (the GPU detector's backends).

    Attributes:
        device: the ``torch.device`` batches live on.
        dtype: the ``torch.dtype`` the model wants its input in.
        output_shape: model output shape, dynamic dims as above.
    """

    device: Any
    dtype: Any
    output_shape: tuple[Dim, ...]

    def run_tensor(self, batch: Any) -> Any:
        """Run on a ``[B, 3, H, W]`` device tensor; return ``[B, ...]`` on the device."""
        ...

    def warm_up(self) -> None:
        """Take one-time costs (graph captures, engine builds) now, not on the first batch."""
        ...

    def input_buffer(self, batch_size: int) -> Any:
        """A ``[B, 3, H, W]`` device tensor (``B >= batch_size``) whose first ``batch_size``
        slots :meth:`run_tensor` reads without a copy, or ``None`` (it copies any input)."""
        ...

    def input_buffers(self) -> list[Any]:
        """Every input buffer made so far (after :meth:`warm_up`: one per batch size run)."""
        ...

    def output_buffers(self) -> list[Any]:
        """The ``[B, ...]`` device tensors whose first slots :meth:`run_tensor` returns,
        rewritten by every run of their batch size (after :meth:`warm_up`: one per
        batch size run); empty when each run returns a tensor of its own."""
        ...


def available_backends() -> list[tuple[str, bool, str]]:
    """Which inference runtimes this environment has.

    Only ONNX Runtime is imported (to list its execution providers); torch
    and TensorRT are looked up with :func:`importlib.util.find_spec`.

    Returns:
        ``(name, available, detail)`` for ``onnxruntime``, ``torch``, ``tensorrt``.
    """
    return [_onnxruntime_status(), _found("torch"), _found("tensorrt")]


def _onnxruntime_status() -> tuple[str, bool, str]:
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime", False, "not installed: pip install onnxruntime"
    import onnxruntime

    providers = ", ".join(onnxruntime.get_available_providers())
    return "onnxruntime", True, f"{onnxruntime.__version__}; providers: {providers}"


def _found(module: str) -> tuple[str, bool, str]:
    if importlib.util.find_spec(module) is None:
        return module, False, "not installed"
    return module, True, "installed (not imported)"
