"""Payload formats: visionflow JSON, and DeepStream nvmsgconv full / minimal shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _event_samples import sample_events

from visionflow.events import FORMATS, SCHEMA_VERSION, ZoneExitedEvent, parse_event, serialize
from visionflow.events.formats import nvmsgconv_full

SAMPLES = sample_events()
OBJECT_EVENTS = ["line_crossed", "zone_entered", "zone_exited"]

# Keys of DeepStream's documented full schema message and its parts.
FULL_KEYS = {
    "messageid",
    "mdsversion",
    "@timestamp",
    "place",
    "sensor",
    "analyticsModule",
    "object",
    "event",
    "videoPath",
}
SENSOR_KEYS = {"id", "type", "description", "location", "coordinate"}
ANALYTICS_KEYS = {"id", "description", "source", "version"}
BBOX_KEYS = {"topleftx", "toplefty", "bottomrightx", "bottomrighty"}
OBJECT_KEYS = {"id", "speed", "direction", "orientation", "bbox", "location", "coordinate"}
MINIMAL_KEYS = {"version", "id", "@timestamp", "sensorId", "objects"}


def load(event_type: str, fmt: str) -> Any:
    data = serialize(SAMPLES[event_type], fmt)  # type: ignore[arg-type]
    assert data is not None
    return json.loads(data)


@pytest.mark.parametrize("event_type", SAMPLES)
def test_visionflow_format_is_the_event_json(event_type: str) -> None:
    data = serialize(SAMPLES[event_type], "visionflow")
    assert data is not None
    assert parse_event(data) == SAMPLES[event_type]


@pytest.mark.parametrize(
    ("event_type", "event_kind", "module_id", "category"),
    [
        ("line_crossed", "moving", "line:gate", "person"),
        ("zone_entered", "entry", "zone:plaza", "person"),
        ("zone_exited", "exit", "zone:plaza", "person"),
    ],
)
def test_nvmsgconv_full_shape(
    event_type: str, event_kind: str, module_id: str, category: str
) -> None:
    event = SAMPLES[event_type]
    msg = load(event_type, "nvmsgconv_full")
    assert set(msg) == FULL_KEYS
    assert msg["messageid"] == event.event_id and msg["@timestamp"] == event.wall_time
    assert set(msg["sensor"]) == SENSOR_KEYS and msg["sensor"]["id"] == "cam-1"
    assert set(msg["analyticsModule"]) == ANALYTICS_KEYS
    assert msg["analyticsModule"]["id"] == module_id
    assert msg["analyticsModule"]["version"] == SCHEMA_VERSION
    assert msg["event"] == {"id": event.event_id, "type": event_kind}
    obj = msg["object"]
    assert set(obj) == OBJECT_KEYS | {category}
    assert obj["id"] == "7"
    assert set(obj["bbox"]) == BBOX_KEYS
    expected_box = [0, 0, 0, 0] if event_type == "zone_exited" else [10, 20, 50, 120]
    corners = ["topleftx", "toplefty", "bottomrightx", "bottomrighty"]
    assert [obj["bbox"][k] for k in corners] == expected_box


@pytest.mark.parametrize(
    ("class_name", "key", "detail"),
    [
        ("person", "person", {"confidence": 0.0}),
        ("car", "vehicle", {"type": "car", "confidence": 0.0}),
        ("truck", "vehicle", {"type": "truck", "confidence": 0.0}),
        ("dog", "dog", {"confidence": 0.0}),
    ],
)
def test_nvmsgconv_object_category(class_name: str, key: str, detail: dict[str, Any]) -> None:
    event = ZoneExitedEvent(
        stream_id="s",
        frame_number=1,
        pts_seconds=0.1,
        track_id=3,
        class_id=0,
        class_name=class_name,
        zone="z",
        dwell_seconds=1.0,
        bbox_xyxy=[1.4, 2.6, 3.0, 4.0],
    )
    obj = nvmsgconv_full(event)["object"]
    assert obj[key] == detail
    assert obj["bbox"] == {"topleftx": 1, "toplefty": 3, "bottomrightx": 3, "bottomrighty": 4}


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("line_crossed", "7|10|20|50|120|Person|#|line_crossed|gate|in|0.875"),
        ("zone_entered", "7|10|20|50|120|Person|#|zone_entered|plaza||"),
        ("zone_exited", "7|0|0|0|0|Person|#|zone_exited|plaza||"),
    ],
)
def test_nvmsgconv_minimal_shape(event_type: str, expected: str) -> None:
    msg = load(event_type, "nvmsgconv_minimal")
    assert set(msg) == MINIMAL_KEYS
    assert msg["version"] == "4.0"
    assert msg["id"] == 42 and msg["sensorId"] == "cam-1"
    assert msg["objects"] == [expected]


@pytest.mark.parametrize("fmt", ["nvmsgconv_full", "nvmsgconv_minimal"])
@pytest.mark.parametrize("event_type", ["counts", "stream_state", "stream_stats"])
def test_nvmsgconv_skips_events_without_an_object(fmt: str, event_type: str) -> None:
    assert serialize(SAMPLES[event_type], fmt) is None  # type: ignore[arg-type]


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown payload format"):
        serialize(SAMPLES["line_crossed"], "xml")  # type: ignore[arg-type]


def test_config_and_events_agree_on_format_names() -> None:
    from typing import get_args

    from visionflow.config.schema import PayloadFormat

    assert set(get_args(PayloadFormat)) == set(FORMATS)
    assert [t for t in SAMPLES if serialize(SAMPLES[t], "nvmsgconv_full")] == OBJECT_EVENTS
