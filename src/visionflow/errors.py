"""The visionflow exception tree.

Every error visionflow raises on purpose derives from :class:`VisionflowError`.
Subclasses also inherit the built-in exception they mean, so callers that
already catch ``FileNotFoundError`` or ``ValueError`` keep working::

    VisionflowError
    ├── ConfigError(ValueError)            invalid YAML / schema violations
    ├── SourceError                         a video source failed
    │   ├── SourceNotFoundError(FileNotFoundError)
    │   ├── SourceOpenError(OSError)        unreadable / not a video
    │   └── CorruptStreamError(SourceError) decoding failed mid-stream
    ├── ModelError                          model loading / running
    │   ├── ModelNotFoundError(FileNotFoundError)
    │   └── ModelFormatError(ValueError)    bad cfg, cfg/weights mismatch, unknown layout
    ├── OutputError(OSError)                writing video or events failed
    ├── PublishError(ConnectionError)       a broker did not accept events (transient)
    ├── MissingDependencyError(ImportError) an optional extra is not installed
    └── PipelineStateError(RuntimeError)    lifecycle misuse (reopen a closed pipeline)

Foreign exceptions (PyAV, ONNX Runtime, pydantic) are translated at the
module boundary that calls the foreign library, with ``raise ... from exc``.
"""

from __future__ import annotations


class VisionflowError(Exception):
    """Root of every error raised by visionflow on purpose."""


class ConfigError(VisionflowError, ValueError):
    """The configuration is invalid.

    Attributes:
        problems: one line per problem, each ``path: message (got value)``.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class SourceError(VisionflowError):
    """A video source failed."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The source path or device does not exist."""


class SourceOpenError(SourceError, OSError):
    """The source exists but cannot be opened as video (unreadable, not a video)."""


class CorruptStreamError(SourceError):
    """The stream opened but its data could not be decoded."""


class ModelError(VisionflowError):
    """The model could not be loaded or run."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model file (cfg, weights, ONNX) does not exist."""


class ModelFormatError(ModelError, ValueError):
    """A model file is malformed, or its parts do not match each other."""


class OutputError(VisionflowError, OSError):
    """Writing an output (video, events) failed."""


class PublishError(VisionflowError, ConnectionError):
    """A broker did not accept a batch of events; delivery retries it later."""


class MissingDependencyError(VisionflowError, ImportError):
    """An optional dependency is not installed; the message carries the pip hint."""


class PipelineStateError(VisionflowError, RuntimeError):
    """A lifecycle method was called in a state that does not allow it."""
