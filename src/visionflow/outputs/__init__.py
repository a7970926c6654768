"""Outputs: annotated video files (PyAV/FFmpeg encoders, imported lazily)."""

from __future__ import annotations

from visionflow.outputs.video import VideoWriter, WriterState, even_resolution, frame_rate_fraction

__all__ = ["VideoWriter", "WriterState", "even_resolution", "frame_rate_fraction"]
