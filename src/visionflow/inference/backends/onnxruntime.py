"""ONNX Runtime CPU backend.

``onnxruntime`` is imported when a backend is created, not at module import.
Errors from ONNX Runtime are translated here: a missing file becomes
:class:`~visionflow.errors.ModelNotFoundError`, a file ONNX Runtime cannot
load becomes :class:`~visionflow.errors.ModelFormatError`, a failed run
becomes :class:`~visionflow.errors.ModelError`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from visionflow.errors import ModelError, ModelFormatError, ModelNotFoundError
from visionflow.inference.backends import Dim

logger = logging.getLogger(__name__)


class OnnxRuntimeBackend:
    """A CPU :class:`onnxruntime.InferenceSession` with full graph optimisation.

    A model with a fixed batch dimension ``b`` is run in chunks of ``b``
    (the last chunk zero-padded), so callers may always pass any batch size.

    Args:
        model_path: the ``.onnx`` file.
        threads: ``intra_op_num_threads``; 0 lets ONNX Runtime choose (one per core).

    Raises:
        ModelNotFoundError: ``model_path`` does not exist.
        ModelFormatError: ONNX Runtime cannot load the file, or the model
            does not have one ``[B, C, H, W]`` input.
    """

    def __init__(self, model_path: str | os.PathLike[str], *, threads: int = 0) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelNotFoundError(
                f"model_path={str(model_path)!r} does not exist or is not a file"
            )
        if threads < 0:
            raise ValueError(f"threads={threads!r} must be >= 0 (0 = ONNX Runtime default)")
        self._session = _open_session(path, threads)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [tuple(i.shape) for i in inputs]
            raise ModelFormatError(f"{path}: expected one [B, C, H, W] input, got inputs {shapes}")
        self._input_name: str = inputs[0].name
        self.input_shape: tuple[Dim, ...] = tuple(inputs[0].shape)
        self.output_shape: tuple[Dim, ...] = tuple(outputs[0].shape)
        self.path = path
        logger.debug("loaded %s: input %s output %s", path, self.input_shape, self.output_shape)

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the model on ``[B, C, H, W]`` float32; returns the first output.

        Raises:
            ModelError: ONNX Runtime rejected the input or failed.
        """
        fixed = self.input_shape[0]
        if not isinstance(fixed, int) or fixed == len(batch):
            return self._run_once(batch)
        chunks = [
            self._run_padded(batch[i : i + fixed], fixed) for i in range(0, len(batch), fixed)
        ]
        return np.concatenate(chunks)[: len(batch)]

    def _run_padded(self, chunk: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
        if len(chunk) < size:
            pad = np.zeros((size - len(chunk), *chunk.shape[1:]), np.float32)
            chunk = np.concatenate([chunk, pad])
        return self._run_once(chunk)

    def _run_once(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        try:
            outputs = self._session.run(None, {self._input_name: batch})
        except Exception as exc:  # onnxruntime raises its own non-exported classes
            raise ModelError(
                f"{self.path}: ONNX Runtime failed on input {batch.shape} {batch.dtype} "
                f"(model input {self.input_shape}): {exc}"
            ) from exc
        return np.asarray(outputs[0], dtype=np.float32)


def _open_session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    # Idle ORT workers spin by default; in a pipeline they would burn the cores
    # that decode and encode threads need (measured on 2 cores: 26.9 → 28.4 fps).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # InvalidProtobuf, InvalidGraph, Fail, NoSuchFile ...
        raise ModelFormatError(f"{path}: ONNX Runtime cannot load it as a model: {exc}") from exc
