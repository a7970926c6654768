"""Batching: frames of many streams grouped for one model call."""

from __future__ import annotations

from visionflow.batching.batcher import FrameBatcher

__all__ = ["FrameBatcher"]
