"""Events: versioned, JSON-serialisable records of what the pipeline saw.

The models and their JSON Schema live in :mod:`visionflow.events.schema`
(documented field by field in ``SCHEMA.md``); publishers write them out.
"""

from __future__ import annotations

from visionflow.events.jsonl import JsonlPublisher, PublisherState
from visionflow.events.schema import (
    SCHEMA_VERSION,
    CountsEvent,
    Event,
    EventBase,
    LineCrossedEvent,
    ZoneEnteredEvent,
    ZoneExitedEvent,
    event_json_schema,
    parse_event,
    render_json_schema,
    utc_now_iso,
)

__all__ = [
    "SCHEMA_VERSION",
    "CountsEvent",
    "Event",
    "EventBase",
    "JsonlPublisher",
    "LineCrossedEvent",
    "PublisherState",
    "ZoneEnteredEvent",
    "ZoneExitedEvent",
    "event_json_schema",
    "parse_event",
    "render_json_schema",
    "utc_now_iso",
]
