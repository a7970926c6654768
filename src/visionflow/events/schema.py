"""Versioned event models: what visionflow publishes about what it saw.

Every event is a frozen pydantic model whose fields are plain JSON types, so
``event.model_dump_json()`` is the wire format of every publisher. The union
:data:`Event` is discriminated by ``type``; :func:`event_json_schema` gives its
JSON Schema, shipped as ``events/schema.json`` for consumers in other
languages. Field-by-field documentation lives in ``events/SCHEMA.md``.

Versioning: :data:`SCHEMA_VERSION` follows semantic versioning. Adding an
event type or an optional field bumps the minor version; renaming, removing or
retyping a field bumps the major version.

Creating an event validates it (about a microsecond or two per event; events
are rare compared with frames), which also turns NumPy scalars into plain
Python numbers.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = "1.2.0"
"""Version of the event schema, written into every event."""

BBoxXYXY = Annotated[
    list[float],
    Field(
        min_length=4,
        max_length=4,
        description="x1, y1, x2, y2 in source-frame pixels",
    ),
]


def utc_now_iso() -> str:
    """Current wall-clock time as ISO 8601 UTC with milliseconds (``...T12:00:00.123Z``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_event_id() -> str:
    return uuid.uuid4().hex


class EventBase(BaseModel):
    """Fields common to every event."""

    # Consumers read what we serialise, where every defaulted field is present.
    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )

    type: str = Field(description="event type, the discriminator of the union")
    schema_version: str = Field(
        default=SCHEMA_VERSION,
        pattern=r"^\d+\.\d+\.\d+$",
        description="semantic version of the event schema",
    )
    event_id: str = Field(
        default_factory=_new_event_id,
        pattern=r"^[0-9a-f]{32}$",
        description="unique id of this event (uuid4, 32 hex digits)",
    )
    stream_id: str = Field(description="id of the source stream (from the config)")
    frame_number: int = Field(ge=0, description="0-based frame number within the stream")
    pts_seconds: float = Field(description="presentation timestamp of the frame, seconds")
    wall_time: str = Field(
        default_factory=utc_now_iso,
        pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
        description="when the event was created, ISO 8601 UTC with milliseconds",
    )


class _TrackEvent(EventBase):
    track_id: int = Field(ge=1, description="tracker id, unique within the stream")
    class_id: int = Field(ge=0, description="class index of the model's label set")
    class_name: str = Field(description="label of class_id")


class LineCrossedEvent(_TrackEvent):
    """A track crossed a counting line."""

    type: Literal["line_crossed"] = "line_crossed"
    line: str = Field(description="name of the line")
    direction: str = Field(description="name of the direction (the line's in/out names)")
    confidence: float = Field(ge=0, le=1, description="detection confidence of the track's box")
    bbox_xyxy: BBoxXYXY


class ZoneEnteredEvent(_TrackEvent):
    """A track entered a zone."""

    type: Literal["zone_entered"] = "zone_entered"
    zone: str = Field(description="name of the zone")
    bbox_xyxy: BBoxXYXY


class ZoneExitedEvent(_TrackEvent):
    """A track left a zone, or left the scene while inside it."""

    type: Literal["zone_exited"] = "zone_exited"
    zone: str = Field(description="name of the zone")
    dwell_seconds: float = Field(ge=0, description="time spent inside the zone, seconds")
    bbox_xyxy: BBoxXYXY | None = Field(
        description="box in this frame, or null when the track left the scene"
    )
    entry_track_id: int | None = Field(
        default=None,
        ge=1,
        description="track id of the visit's zone_entered when it differs from track_id "
        "(the tracker switched ids inside the zone); null otherwise",
    )


class LoiteringEvent(_TrackEvent):
    """A track stayed inside a zone for the zone's loitering time (once per visit)."""

    type: Literal["loitering"] = "loitering"
    zone: str = Field(description="name of the zone")
    dwell_seconds: float = Field(ge=0, description="time inside the zone so far, seconds")
    threshold_seconds: float = Field(ge=0, description="the zone's loitering time, seconds")
    bbox_xyxy: BBoxXYXY


class OvercrowdingEvent(EventBase):
    """A zone's occupancy reached its threshold (``start``) or fell back below it (``end``)."""

    type: Literal["overcrowding"] = "overcrowding"
    zone: str = Field(description="name of the zone")
    state: Literal["start", "end"] = Field(description="the alert started or ended")
    occupancy: int = Field(ge=0, description="objects inside the zone in this frame")
    threshold: int = Field(ge=1, description="occupancy at which the zone is overcrowded")
    counts: dict[str, int] = Field(description="class name → objects inside in this frame")
    duration_seconds: float = Field(
        ge=0, description="for end: how long the alert lasted, seconds; 0 for start"
    )


class DirectionEvent(_TrackEvent):
    """A track's heading matched one of a detector's named directions: first or changed."""

    type: Literal["direction"] = "direction"
    detector: str = Field(description="name of the direction detector")
    direction: str = Field(description="label of the direction now established")
    previous_direction: str | None = Field(
        description="label of the direction before, or null when first established"
    )
    heading_deg: float = Field(
        description="heading of the anchor, degrees on screen: 0 rightwards, 90 down"
    )
    bbox_xyxy: BBoxXYXY


class CountsEvent(EventBase):
    """Periodic snapshot of cumulative line counts and current zone occupancy."""

    type: Literal["counts"] = "counts"
    lines: dict[str, dict[str, dict[str, int]]] = Field(
        description="line name → direction name → class name → cumulative count"
    )
    zones: dict[str, dict[str, int]] = Field(
        description="zone name → class name → tracks currently inside"
    )


StreamState = Literal["new", "running", "stalled", "reconnecting", "finished", "stopped", "failed"]
"""Lifecycle of a stream: ``new`` → ``running`` → ``finished`` | ``stopped`` | ``failed``;
a live stream may go ``running`` → ``stalled`` → ``reconnecting`` → ``running`` (1.2.0)."""


class StreamStateEvent(EventBase):
    """A stream changed state: it started, reached its end, was stopped, or failed.

    ``frame_number`` and ``pts_seconds`` are those of the last frame processed
    (0 before the first frame).
    """

    type: Literal["stream_state"] = "stream_state"
    state: StreamState = Field(description="the new state")
    previous_state: StreamState = Field(description="the state before this change")
    reason: str | None = Field(
        default=None,
        description="why (the error for failed, stalled and reconnecting; 'removed' for a "
        "stream removed while running; null otherwise)",
    )


class StreamStatsEvent(EventBase):
    """Periodic health and throughput of one stream (wall-clock period).

    ``frame_number`` and ``pts_seconds`` are those of the last frame processed.
    """

    type: Literal["stream_stats"] = "stream_stats"
    frames_decoded: int = Field(ge=0, description="frames decoded since the start")
    frames_processed: int = Field(ge=0, description="frames through analytics since the start")
    fps: float = Field(ge=0, description="frames processed per wall-clock second, last period")
    dropped_frames: int = Field(ge=0, description="frames dropped since the start (live sources)")
    corrupt_packets: int = Field(ge=0, description="undecodable packets skipped since the start")
    interval_s: float = Field(ge=0, description="wall-clock length of the period, seconds")
    state: str | None = Field(
        default=None,
        description="source state: starting, streaming, stalled, reconnecting, failed, "
        "stopped or ended (1.2.0)",
    )
    fps_in: float | None = Field(
        default=None, ge=0, description="frames received per second, last seconds (1.2.0)"
    )
    reconnects: int | None = Field(
        default=None, ge=0, description="successful reconnections since the start (1.2.0)"
    )
    frame_age_p50_ms: float | None = Field(
        default=None, ge=0, description="median arrival → inference wait, ms (1.2.0)"
    )
    frame_age_p99_ms: float | None = Field(
        default=None, ge=0, description="99th percentile arrival → inference wait, ms (1.2.0)"
    )
    last_error: str | None = Field(
        default=None, description="most recent source error, credentials masked (1.2.0)"
    )


Event = Annotated[
    LineCrossedEvent
    | ZoneEnteredEvent
    | ZoneExitedEvent
    | LoiteringEvent
    | OvercrowdingEvent
    | DirectionEvent
    | CountsEvent
    | StreamStateEvent
    | StreamStatsEvent,
    Field(discriminator="type"),
]
"""Any visionflow event; ``type`` says which."""

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes) -> Event:
    """Parse one JSON-encoded event into its model (validates it).

    Raises:
        pydantic.ValidationError: the JSON is not a valid event.
    """
    return _EVENT_ADAPTER.validate_json(data)


def event_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of :data:`Event`, discriminated by ``type``."""
    schema = _EVENT_ADAPTER.json_schema(mode="serialization")
    schema["title"] = "VisionflowEvent"
    schema["$comment"] = f"visionflow event schema {SCHEMA_VERSION}"
    return schema


def render_json_schema() -> str:
    """The exact text of the shipped ``schema.json`` (sorted keys, 2-space indent)."""
    return json.dumps(event_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
