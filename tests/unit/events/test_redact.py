"""Credentials never appear: URL masking, secrets from the environment, config repr."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from visionflow.config import parse_config
from visionflow.config.schema import KafkaPublisherConfig, RedisPublisherConfig
from visionflow.errors import ConfigError
from visionflow.events import mask_url, resolve_secret


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://default:hunter2@cache:6380", "rediss://default:***@cache:6380"),
        ("mqtt://user@broker:1883", "mqtt://user@broker:1883"),
        ("https://hooks.example.com/x?y=1", "https://hooks.example.com/x?y=1"),
        ("redis://u:hunter2@h:99999", "redis://u:***@h:99999"),
        ("see redis://u:hunter2@h:1 now", "see redis://u:***@h:1 now"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_resolve_secret_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VF_PW", "from-env")
    assert resolve_secret(SecretStr("literal"), "VF_PW", field="p.password_env") == "from-env"
    assert resolve_secret(SecretStr("literal"), None, field="p") == "literal"
    assert resolve_secret(None, None, field="p") is None


def test_resolve_secret_names_a_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VF_MISSING", raising=False)
    with pytest.raises(ConfigError, match=r"events\.publishers\[0\]\.password_env.*'VF_MISSING'"):
        resolve_secret(None, "VF_MISSING", field="events.publishers[0].password_env")


def test_secrets_never_in_config_repr_str_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    redis = RedisPublisherConfig(
        type="redis", url="redis://u:hunter2@h:6379", password=SecretStr("hunter2")
    )
    kafka = KafkaPublisherConfig(
        type="kafka",
        bootstrap_servers=["k:9092"],
        sasl_password=SecretStr("hunter2"),
        librdkafka={"sasl.password": "hunter2", "acks": "all"},
    )
    logging.getLogger("test").info("configs %s %r %s %r", redis, redis, kafka, kafka)
    texts = [repr(redis), str(redis), repr(kafka), str(kafka), caplog.text]
    assert all("hunter2" not in text for text in texts), texts
    assert "'acks': 'all'" in repr(kafka)
    with pytest.raises(ConfigError) as info:
        parse_config(
            """
sources: [{id: cam0, uri: x}]
model: {cfg: a, weights: b, names: c}
events:
  publishers:
    - {type: redis, url: 'redis://u:hunter2@h:99999', password: hunter2}
    - {type: mqtt, url: 'mqtt://h:1', password: hunter2, bogus: 1}
"""
        )
    assert "hunter2" not in str(info.value)
    assert "u:***@h:99999" in str(info.value)
