"""visionflow: real-time multi-stream video analytics in Python.

Importing this package is light: it loads NumPy and the core types only.
Stages (PyAV, ONNX Runtime, torch) are imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from visionflow.errors import (
    ConfigError,
    CorruptStreamError,
    MissingDependencyError,
    ModelError,
    ModelFormatError,
    ModelNotFoundError,
    OutputError,
    PipelineStateError,
    PublishError,
    SourceError,
    SourceNotFoundError,
    SourceOpenError,
    VisionflowError,
)
from visionflow.geometry import Line, Point, Polygon
from visionflow.types import NO_TRACK, Detections, Frame, FrameBatch

if TYPE_CHECKING:
    from visionflow.config import PipelineConfig, load_config
    from visionflow.pipeline import Pipeline, PipelineState, RunSummary

__version__ = "0.1.0"

# Names whose modules pull heavy dependencies (pydantic, PyAV, ONNX Runtime)
# load on first attribute access, so `import visionflow` stays light.
_LAZY = {
    "Pipeline": "visionflow.pipeline",
    "PipelineConfig": "visionflow.config",
    "PipelineState": "visionflow.pipeline",
    "RunSummary": "visionflow.pipeline",
    "load_config": "visionflow.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'visionflow' has no attribute {name!r}")


__all__ = [
    "NO_TRACK",
    "ConfigError",
    "CorruptStreamError",
    "Detections",
    "Frame",
    "FrameBatch",
    "Line",
    "MissingDependencyError",
    "ModelError",
    "ModelFormatError",
    "ModelNotFoundError",
    "OutputError",
    "Pipeline",
    "PipelineConfig",
    "PipelineState",
    "PipelineStateError",
    "Point",
    "Polygon",
    "PublishError",
    "RunSummary",
    "SourceError",
    "SourceNotFoundError",
    "SourceOpenError",
    "VisionflowError",
    "__version__",
    "load_config",
]
