"""Video decoders. ``cpu``: PyAV (FFmpeg) to RGB NumPy arrays.

PyAV is imported only when a decoder is opened, so importing this package
is cheap.
"""

from __future__ import annotations

from visionflow.decode._open import ThreadType, VideoStreamInfo
from visionflow.decode.cpu import DEFAULT_MAX_CONSECUTIVE_ERRORS, CpuDecoder, DecodedImage

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_ERRORS",
    "CpuDecoder",
    "DecodedImage",
    "ThreadType",
    "VideoStreamInfo",
]
