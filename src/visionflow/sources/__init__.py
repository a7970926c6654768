"""Video sources: where frames come from, behind one interface chosen by URI.

:func:`create_source` / :func:`open_source` / :func:`source_from_config`
pick the implementation: :class:`FileSource` (video files),
:class:`ImageSequenceSource` (folders and globs of JPEG/PNG), and
:class:`LiveSource` for RTSP, HTTP(S)/HLS, V4L2 and the synthetic test
pattern. Live sources reconnect by themselves through the lifecycle in
:mod:`visionflow.sources.base` (:class:`StreamState`).

``FileSource`` decodes through :mod:`visionflow.decode` (the only
stage-to-stage import in the package). PyAV loads only when a source opens.
"""

from __future__ import annotations

from visionflow.sources._state import SourceState
from visionflow.sources.backoff import ReconnectPolicy
from visionflow.sources.base import (
    IllegalTransitionError,
    Source,
    SourceHealth,
    StateCallback,
    StreamState,
)
from visionflow.sources.factory import (
    SourceOptions,
    create_source,
    open_source,
    options_from_config,
    source_from_config,
)
from visionflow.sources.file import FileSource
from visionflow.sources.images import ImageSequenceSource
from visionflow.sources.live import LiveSource
from visionflow.sources.uri import SourceKind, classify_uri

__all__ = [
    "FileSource",
    "IllegalTransitionError",
    "ImageSequenceSource",
    "LiveSource",
    "ReconnectPolicy",
    "Source",
    "SourceHealth",
    "SourceKind",
    "SourceOptions",
    "SourceState",
    "StateCallback",
    "StreamState",
    "classify_uri",
    "create_source",
    "open_source",
    "options_from_config",
    "source_from_config",
]
