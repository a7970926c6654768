"""Config models of ``sources:`` — one entry per input stream, and its reconnect policy."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from visionflow.config._base import ConfigModel as _Model


class ReconnectConfig(_Model):
    """Backoff of a live source: ``min(max_s, initial_s * multiplier**k)`` with jitter."""

    initial_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 0.5
    max_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 10.0
    multiplier: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0
    jitter: Literal["full", "equal", "none"] = "equal"
    max_attempts: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectConfig:
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s ({self.max_s}) must be >= initial_s ({self.initial_s})")
        return self


class SourceConfig(_Model):
    """One input stream; the URI picks the kind (see ``sources.uri`` in default.yaml)."""

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    uri: Annotated[str, Field(min_length=1)]
    loop: bool = False
    realtime: bool = False
    fps: Annotated[float, Field(gt=0.0, le=1000.0)] | None = None
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    latency_ms: Annotated[int, Field(ge=0, le=60000)] | None = None
    open_timeout_s: Annotated[float, Field(gt=0.0, le=600.0)] = 10.0
    stall_timeout_s: Annotated[float, Field(gt=0.0, le=600.0)] = 5.0
    reconnect: ReconnectConfig = ReconnectConfig()
    video_size: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$")] | None = None
    input_format: str | None = None

    @model_validator(mode="after")
    def _options_fit_kind(self) -> SourceConfig:
        from visionflow.sources.uri import classify_uri, misplaced_options

        problems = misplaced_options(classify_uri(self.uri), set(self.model_fields_set))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def kind(self) -> str:
        """``file``, ``images``, ``rtsp``, ``http``, ``v4l2`` or ``synthetic``."""
        from visionflow.sources.uri import classify_uri

        return classify_uri(self.uri)
