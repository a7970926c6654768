"""Events: versioned, JSON-serialisable records of what the pipeline saw, and their delivery.

The models and their JSON Schema live in :mod:`visionflow.events.schema`
(documented field by field in ``SCHEMA.md``). Delivery: the
:class:`EventRouter` fans events out to publishers — the JSON Lines file
directly, brokers through a durable :class:`Spool` and a
:class:`DeliveryWorker` each, so a slow or absent broker never blocks the
pipeline.
"""

from __future__ import annotations

from visionflow.events.delivery import DeliveryStats, DeliveryWorker
from visionflow.events.formats import FORMATS, PayloadFormat, serialize
from visionflow.events.jsonl import JsonlPublisher, PublisherState
from visionflow.events.publishers.base import Publisher, Record
from visionflow.events.redact import mask_url, resolve_secret
from visionflow.events.router import DirectRoute, EventRouter, RouteFilter, SpooledRoute
from visionflow.events.schema import (
    SCHEMA_VERSION,
    CountsEvent,
    DirectionEvent,
    Event,
    EventBase,
    LineCrossedEvent,
    LoiteringEvent,
    OvercrowdingEvent,
    StreamState,
    StreamStateEvent,
    StreamStatsEvent,
    ZoneEnteredEvent,
    ZoneExitedEvent,
    event_json_schema,
    parse_event,
    render_json_schema,
    utc_now_iso,
)
from visionflow.events.spool import Spool

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "CountsEvent",
    "DeliveryStats",
    "DeliveryWorker",
    "DirectRoute",
    "DirectionEvent",
    "Event",
    "EventBase",
    "EventRouter",
    "JsonlPublisher",
    "LineCrossedEvent",
    "LoiteringEvent",
    "OvercrowdingEvent",
    "PayloadFormat",
    "Publisher",
    "PublisherState",
    "Record",
    "RouteFilter",
    "Spool",
    "SpooledRoute",
    "StreamState",
    "StreamStateEvent",
    "StreamStatsEvent",
    "ZoneEnteredEvent",
    "ZoneExitedEvent",
    "event_json_schema",
    "mask_url",
    "parse_event",
    "render_json_schema",
    "resolve_secret",
    "serialize",
    "utc_now_iso",
]
