"""events.publishers: the discriminated union, URL checks with YAML paths, defaults."""

from __future__ import annotations

import pytest
import yaml

from visionflow.config import parse_config
from visionflow.config.schema import (
    JsonlPublisherConfig,
    KafkaPublisherConfig,
    RedisPublisherConfig,
)
from visionflow.errors import ConfigError

BASE = {
    "sources": [{"id": "cam0", "uri": "x"}, {"id": "cam1", "uri": "y"}],
    "model": {"cfg": "a", "weights": "b", "names": "c"},
}


def config_with(events: dict[str, object]) -> str:
    return yaml.safe_dump({**BASE, "events": events})


def problems(events: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(config_with(events))
    return info.value.problems


@pytest.mark.parametrize(
    ("publisher", "expected"),
    [
        ({"type": "redis", "url": "redis://:99999"}, "events.publishers[1].url: invalid URL"),
        ({"type": "redis", "url": "redis://h:0"}, "port 0 out of range 1-65535"),
        ({"type": "redis", "url": "http://h:1"}, "scheme 'http'; expected redis:// or rediss://"),
        ({"type": "mqtt", "url": "mqtt:/nohost"}, "events.publishers[1].url: invalid URL"),
        ({"type": "mqtt", "url": "mqtt:/nohost"}, "no host"),
        ({"type": "mqtt", "url": "mqtt://h", "qos": 2}, "events.publishers[1].qos"),
        ({"type": "webhook", "url": "http//x"}, "events.publishers[1].url: invalid URL 'http//x'"),
        ({"type": "webhook", "url": "ftp://x"}, "expected http:// or https://"),
        ({"type": "webhook"}, "events.publishers[1].url: required option is missing"),
        ({"type": "kafka"}, "events.publishers[1].bootstrap_servers: required option is missing"),
        ({"type": "kafka", "bootstrap_servers": []}, "bootstrap_servers: List should have"),
        ({"type": "kafka", "bootstrap_servers": "k:x"}, "invalid bootstrap server 'k:x'"),
        ({"type": "redis", "urll": "redis://h"}, "publishers[1].urll: unknown key; did you mean"),
        ({"type": "nats"}, "events.publishers[1]: Input tag 'nats'"),
        ({"type": "redis", "tls": {"ca_file": "ca.pem"}}, "tls options need a rediss:// URL"),
        ({"type": "redis", "stream_key": "vf:{camera}"}, "allowed placeholders"),
        ({"type": "redis", "password_env": "1BAD"}, "publishers[1].password_env"),
        ({"type": "redis", "streams": ["cam9"]}, "names unknown streams ['cam9']"),
        ({"type": "redis", "event_types": ["boom"]}, "publishers[1].event_types[0]"),
        ({"type": "redis", "format": "xml"}, "publishers[1].format"),
        ({"type": "redis", "spool": {"overflow": "drop_newest"}}, "spool.overflow"),
        ({"type": "jsonl", "rotate_bytes": 10}, "publishers[1].rotate_bytes"),
    ],
)
def test_bad_publishers_name_their_yaml_path(publisher: dict[str, object], expected: str) -> None:
    found = problems({"publishers": [{"type": "jsonl", "name": "file"}, publisher]})
    assert any(expected in p for p in found), found


def test_names_must_be_unique() -> None:
    found = problems({"publishers": [{"type": "redis"}, {"type": "redis"}]})
    assert any("publisher names must be unique, repeated: ['redis']" in p for p in found)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ({}, [("jsonl", "jsonl")]),
        ({"jsonl": False}, []),
        ({"publishers": [{"type": "redis"}]}, [("jsonl", "jsonl"), ("redis", "redis")]),
        ({"jsonl": False, "publishers": [{"type": "redis"}]}, [("redis", "redis")]),
        ({"publishers": [{"type": "jsonl", "name": "all"}]}, [("all", "jsonl")]),
    ],
)
def test_jsonl_true_keeps_the_default_file(
    events: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    config = parse_config(config_with(events))
    got = [(p.publisher_name, p.type) for p in config.events.effective_publishers()]
    assert got == expected


def test_defaults_and_all_publisher_types_parse() -> None:
    config = parse_config(
        config_with(
            {
                "publishers": [
                    {"type": "jsonl", "rotate_bytes": 1_000_000, "rotate_seconds": 3600},
                    {"type": "redis", "url": "rediss://:pw@cache:6380/0", "tls": {}},
                    {"type": "mqtt", "url": "mqtts://b:8883", "username": "u"},
                    {"type": "kafka", "bootstrap_servers": "k1:9092, k2:9092"},
                    {"type": "webhook", "url": "https://h/x", "token_env": "TOKEN"},
                ]
            }
        )
    )
    jsonl, redis, mqtt, kafka, webhook = config.events.publishers
    assert isinstance(jsonl, JsonlPublisherConfig) and jsonl.path is None
    assert isinstance(redis, RedisPublisherConfig)
    assert (redis.stream_key, redis.maxlen, redis.spool.max_events) == (
        "visionflow:events",
        100_000,
        1_000_000,
    )
    assert (mqtt.topic_prefix, mqtt.qos) == ("visionflow", 1)  # type: ignore[union-attr]
    assert isinstance(kafka, KafkaPublisherConfig)
    assert kafka.bootstrap_servers == ["k1:9092", "k2:9092"]
    assert kafka.topic == "visionflow-events"
    assert webhook.format == "visionflow"
    assert config.events.spool_dir is None and config.events.flush_timeout_s == 10.0
