"""Lazy import of torch with an install hint (``import visionflow`` never loads torch)."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from visionflow.errors import MissingDependencyError

GPU_HINT = "pip install 'visionflow[gpu]'"


def require_torch() -> ModuleType:
    """Import and return :mod:`torch`.

    Raises:
        MissingDependencyError: torch is not installed (with the install hint).
    """
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise MissingDependencyError(
            f"the torch backend needs PyTorch, which is not installed: {GPU_HINT}"
        ) from exc


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device (imports torch only if present)."""
    if importlib.util.find_spec("torch") is None:
        return False
    torch = importlib.import_module("torch")
    return bool(torch.cuda.is_available())
