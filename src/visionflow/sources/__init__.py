"""Video sources: where frames come from.

``FileSource`` reads any media file FFmpeg understands; it decodes through
:mod:`visionflow.decode` (the only stage-to-stage import in the package).
"""

from __future__ import annotations

from visionflow.sources._state import SourceState
from visionflow.sources.file import FileSource

__all__ = ["FileSource", "SourceState"]
