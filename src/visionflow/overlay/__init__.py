"""Overlay: draw boxes, track labels, counting lines and zones on frames (cv2 loaded lazily)."""

from __future__ import annotations

from visionflow.overlay.annotator import PALETTE_RGB, Annotator, box_colors
from visionflow.overlay.shapes import LineOverlay, ZoneOverlay

__all__ = ["PALETTE_RGB", "Annotator", "LineOverlay", "ZoneOverlay", "box_colors"]
