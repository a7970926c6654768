"""Payload formats: how an event is serialised for a publisher.

- ``visionflow`` (default): the event's own JSON (``event.model_dump_json()``),
  documented in ``SCHEMA.md``; every event type.
- ``nvmsgconv_full``: the shape of DeepStream's Gst-nvmsgconv *full* JSON
  schema (one object per message), for consumers written for DeepStream.
- ``nvmsgconv_minimal``: the shape of its *minimal* schema.

Only events about a tracked object (``line_crossed``, ``zone_entered``,
``zone_exited``) have a DeepStream counterpart; :func:`serialize` returns None
for the others (``counts``, ``stream_state``, ``stream_stats``) in the
nvmsgconv formats, and the router does not send them to that publisher.

Mapping to the full schema (keys as DeepStream documents them)::

    messageid        event_id                  @timestamp   wall_time
    mdsversion       "1.0"                     videoPath    ""
    sensor.id        stream_id                 sensor.type  "Camera"
    place            id = stream_id, the rest empty / zero (no place config)
    analyticsModule  id = "line:<name>" | "zone:<name>", source "visionflow",
                     description = "<event type> <line|zone> [<direction>]",
                     version = SCHEMA_VERSION
    object.id        str(track_id)
    object.person | object.vehicle | object.<class name>
                     {"confidence": ...} (+ vehicle "type" = class name);
                     COCO person → person; car, truck, bus, motorcycle,
                     bicycle, train, boat, airplane → vehicle
    object.bbox      topleftx, toplefty, bottomrightx, bottomrighty: ints (pixels)
    event.id         event_id
    event.type       zone_entered → "entry", zone_exited → "exit",
                     line_crossed → "moving"
    speed, direction, orientation, location, coordinate: 0 (not measured)

Minimal schema: ``{"version": "4.0", "id": frame_number, "@timestamp":
wall_time, "sensorId": stream_id, "objects": ["<track>|<left>|<top>|<right>|
<bottom>|<label>|#|<event type>|<line or zone>|<direction>|<confidence>"]}``
— DeepStream's ``id|left|top|right|bottom|label`` fields, then after ``#`` the
visionflow analytics attributes (empty where they do not apply).
"""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from visionflow.events.schema import (
    SCHEMA_VERSION,
    Event,
    LineCrossedEvent,
    ZoneEnteredEvent,
    ZoneExitedEvent,
)

PayloadFormat = Literal["visionflow", "nvmsgconv_full", "nvmsgconv_minimal"]
FORMATS: tuple[str, ...] = get_args(PayloadFormat)

NVMSGCONV_FULL_VERSION = "1.0"
NVMSGCONV_MINIMAL_VERSION = "4.0"
VEHICLE_CLASSES = frozenset(
    {"car", "truck", "bus", "motorcycle", "motorbike", "bicycle", "train", "boat", "airplane"}
)
_EVENT_TYPES = {"zone_entered": "entry", "zone_exited": "exit", "line_crossed": "moving"}

TrackEvent = LineCrossedEvent | ZoneEnteredEvent | ZoneExitedEvent


def serialize(event: Event, fmt: PayloadFormat) -> bytes | None:
    """``event`` as UTF-8 JSON in ``fmt``; None when ``fmt`` cannot express it.

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt == "visionflow":
        return event.model_dump_json().encode()
    if fmt not in FORMATS:
        raise ValueError(f"unknown payload format {fmt!r}; expected one of {list(FORMATS)}")
    if not isinstance(event, LineCrossedEvent | ZoneEnteredEvent | ZoneExitedEvent):
        return None
    shape = nvmsgconv_full(event) if fmt == "nvmsgconv_full" else nvmsgconv_minimal(event)
    return json.dumps(shape, separators=(",", ":")).encode()


def nvmsgconv_full(event: TrackEvent) -> dict[str, Any]:
    """The DeepStream full-schema message of one tracked-object event."""
    zero_location = {"lat": 0.0, "lon": 0.0, "alt": 0.0}
    zero_coordinate = {"x": 0.0, "y": 0.0, "z": 0.0}
    return {
        "messageid": event.event_id,
        "mdsversion": NVMSGCONV_FULL_VERSION,
        "@timestamp": event.wall_time,
        "place": {
            "id": event.stream_id,
            "name": "",
            "type": "",
            "location": zero_location,
        },
        "sensor": {
            "id": event.stream_id,
            "type": "Camera",
            "description": "",
            "location": zero_location,
            "coordinate": zero_coordinate,
        },
        "analyticsModule": _analytics_module(event),
        "object": _object(event, zero_location, zero_coordinate),
        "event": {"id": event.event_id, "type": _EVENT_TYPES[event.type]},
        "videoPath": "",
    }


def nvmsgconv_minimal(event: TrackEvent) -> dict[str, Any]:
    """The DeepStream minimal-schema message of one tracked-object event."""
    left, top, right, bottom = _bbox_ints(event)
    rule, direction = _rule(event)
    confidence = event.confidence if isinstance(event, LineCrossedEvent) else ""
    key, is_known = _category(event.class_name)
    label = key.capitalize() if is_known else event.class_name
    fields = [event.track_id, left, top, right, bottom, label, "#"]
    fields += [event.type, rule, direction, confidence]
    return {
        "version": NVMSGCONV_MINIMAL_VERSION,
        "id": event.frame_number,
        "@timestamp": event.wall_time,
        "sensorId": event.stream_id,
        "objects": ["|".join(str(f) for f in fields)],
    }


def _analytics_module(event: TrackEvent) -> dict[str, str]:
    rule, direction = _rule(event)
    kind = "line" if isinstance(event, LineCrossedEvent) else "zone"
    description = " ".join(p for p in (event.type, kind, rule, direction) if p)
    return {
        "id": f"{kind}:{rule}",
        "description": description,
        "source": "visionflow",
        "version": SCHEMA_VERSION,
    }


def _object(
    event: TrackEvent, location: dict[str, float], coordinate: dict[str, float]
) -> dict[str, Any]:
    left, top, right, bottom = _bbox_ints(event)
    key, is_known = _category(event.class_name)
    confidence = event.confidence if isinstance(event, LineCrossedEvent) else 0.0
    details: dict[str, Any] = {"confidence": confidence}
    if key == "vehicle":
        details = {"type": event.class_name, **details}
    return {
        "id": str(event.track_id),
        "speed": 0.0,
        "direction": 0.0,
        "orientation": 0.0,
        (key if is_known else event.class_name): details,
        "bbox": {
            "topleftx": left,
            "toplefty": top,
            "bottomrightx": right,
            "bottomrighty": bottom,
        },
        "location": location,
        "coordinate": coordinate,
    }


def _category(class_name: str) -> tuple[str, bool]:
    """``("person" | "vehicle", True)`` for those classes, else ``(class_name, False)``."""
    name = class_name.lower()
    if name == "person":
        return "person", True
    if name in VEHICLE_CLASSES:
        return "vehicle", True
    return class_name, False


def _rule(event: TrackEvent) -> tuple[str, str]:
    if isinstance(event, LineCrossedEvent):
        return event.line, event.direction
    return event.zone, ""


def _bbox_ints(event: TrackEvent) -> tuple[int, int, int, int]:
    if event.bbox_xyxy is None:  # zone_exited after the object left the scene
        return (0, 0, 0, 0)
    x1, y1, x2, y2 = (round(v) for v in event.bbox_xyxy)
    return (x1, y1, x2, y2)
