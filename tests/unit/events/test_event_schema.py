"""Event models: JSON round trip, ids, timestamps, and the shipped JSON Schema."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any, get_args

import pytest
from _event_samples import COMMON, TRACK, sample_events
from pydantic import ValidationError

from visionflow.config.schema import EventType
from visionflow.events import (
    SCHEMA_VERSION,
    LineCrossedEvent,
    ZoneExitedEvent,
    event_json_schema,
    parse_event,
    render_json_schema,
    utc_now_iso,
)

SAMPLES = sample_events()
REGENERATE = (
    '.venv/bin/python -c "from visionflow.events import render_json_schema; '
    "open('src/visionflow/events/schema.json', 'w', encoding='utf-8')"
    '.write(render_json_schema())"'
)


@pytest.mark.parametrize("event_type", SAMPLES)
def test_json_round_trip(event_type: str) -> None:
    event = SAMPLES[event_type]
    text = event.model_dump_json()
    again = parse_event(text)
    assert again == event
    assert type(again) is type(event)
    assert json.loads(text)["type"] == event_type


@pytest.mark.parametrize("event_type", SAMPLES)
def test_fields_are_plain_json_types(event_type: str) -> None:
    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, float, bool)

    dumped = SAMPLES[event_type].model_dump()
    assert plain(dumped), dumped
    assert dumped["schema_version"] == SCHEMA_VERSION


def test_numpy_inputs_become_python_numbers() -> None:
    event = SAMPLES["line_crossed"]
    assert isinstance(event, LineCrossedEvent)
    assert (type(event.track_id), type(event.confidence)) == (int, float)
    assert event.bbox_xyxy == [10.5, 20.0, 50.25, 120.0]


def test_event_ids_are_unique() -> None:
    ids = {event.event_id for _ in range(200) for event in sample_events().values()}
    assert len(ids) == 200 * len(SAMPLES)
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids)


def test_wall_time_is_iso_utc_with_milliseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", utc_now_iso())
    assert SAMPLES["counts"].wall_time.endswith("Z")


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        SAMPLES["counts"].stream_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bbox_xyxy": [1.0, 2.0, 3.0]}, "bbox_xyxy"),
        ({"confidence": 1.5}, "confidence"),
        ({"track_id": 0}, "track_id"),
        ({"frame_number": -1}, "frame_number"),
        ({"surprise": 1}, "surprise"),
        ({"wall_time": "yesterday"}, "wall_time"),
    ],
)
def test_invalid_events_are_rejected(change: dict[str, Any], field: str) -> None:
    fields = {
        **COMMON,
        **TRACK,
        "line": "gate",
        "direction": "in",
        "confidence": 0.5,
        "bbox_xyxy": [1.0, 2.0, 3.0, 4.0],
    }
    with pytest.raises(ValidationError, match=field):
        LineCrossedEvent(**{**fields, **change})


def test_zone_exit_needs_explicit_bbox_or_null() -> None:
    with pytest.raises(ValidationError, match="bbox_xyxy"):
        ZoneExitedEvent(**COMMON, **TRACK, zone="plaza", dwell_seconds=1.0)  # type: ignore[call-arg]


def test_unknown_type_is_rejected() -> None:
    data = json.loads(SAMPLES["counts"].model_dump_json())
    with pytest.raises(ValidationError, match="tag"):
        parse_event(json.dumps({**data, "type": "exploded"}))


def test_shipped_schema_json_is_in_sync() -> None:
    shipped = resources.files("visionflow.events").joinpath("schema.json").read_text("utf-8")
    assert shipped == render_json_schema(), f"schema.json is stale; regenerate with: {REGENERATE}"


def test_schema_is_a_discriminated_union_of_every_type() -> None:
    schema = event_json_schema()
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == set(SAMPLES)
    for definition in schema["$defs"].values():
        if "properties" in definition and "type" in definition["properties"]:
            assert {"type", "event_id", "schema_version", "wall_time"} <= set(
                definition["required"]
            )
            assert definition["additionalProperties"] is False


def test_schema_md_examples_are_valid_events() -> None:
    doc = resources.files("visionflow.events").joinpath("SCHEMA.md").read_text("utf-8")
    examples = [line for line in doc.splitlines() if line.startswith('{"type":')]
    types = {parse_event(line).type for line in examples}
    assert types >= {
        "line_crossed",
        "zone_exited",
        "loitering",
        "overcrowding",
        "direction",
        "counts",
        "stream_state",
        "stream_stats",
    }


def test_config_event_types_name_every_event_type() -> None:
    # events.publishers[].event_types must accept exactly the types that exist.
    assert set(get_args(EventType)) == set(SAMPLES)


def test_schema_version_is_documented() -> None:
    doc = resources.files("visionflow.events").joinpath("SCHEMA.md").read_text("utf-8")
    assert f"(version {SCHEMA_VERSION})" in doc
    assert f"**{SCHEMA_VERSION}**" in doc
