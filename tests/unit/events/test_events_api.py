"""The curated public surface of visionflow.events."""

from __future__ import annotations

from visionflow import events


def test_public_names_are_pinned() -> None:
    assert events.__all__ == [
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
    assert all(hasattr(events, name) for name in events.__all__)
