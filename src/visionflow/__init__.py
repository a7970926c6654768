"""visionflow: real-time multi-stream video analytics in Python.

Importing this package is light: it loads NumPy and the core types only.
Stages (PyAV, ONNX Runtime, torch) are imported when first used.
"""

from __future__ import annotations

from visionflow.errors import (
    ConfigError,
    CorruptStreamError,
    MissingDependencyError,
    ModelError,
    ModelFormatError,
    ModelNotFoundError,
    OutputError,
    PipelineStateError,
    SourceError,
    SourceNotFoundError,
    SourceOpenError,
    VisionflowError,
)
from visionflow.geometry import Line, Point, Polygon
from visionflow.types import NO_TRACK, Detections, Frame, FrameBatch

__version__ = "0.1.0"

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
    "PipelineStateError",
    "Point",
    "Polygon",
    "SourceError",
    "SourceNotFoundError",
    "SourceOpenError",
    "VisionflowError",
    "__version__",
]
