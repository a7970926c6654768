"""The curated public surface of visionflow.events."""

from __future__ import annotations

from visionflow import events


def test_public_names_are_pinned() -> None:
    assert events.__all__ == [
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
    assert all(hasattr(events, name) for name in events.__all__)
