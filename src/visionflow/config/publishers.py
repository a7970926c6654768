"""Config of event publishers: ``events.publishers``, a list discriminated by ``type``.

Every publisher has a unique ``name``, filters (``event_types``, ``streams``)
and a payload ``format``. Broker publishers (redis, mqtt, kafka, webhook) also
have a durable ``spool`` (events wait there while the broker is slow or down)
and, where the broker supports it, ``tls`` options.

URLs are checked here (scheme, host, port range), so a malformed broker URL is
a config error with its YAML path, never a traceback at run time. Secrets are
``SecretStr`` (hidden in ``repr``, logs and errors) or, better, the name of an
environment variable read at connect time (``password_env``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from visionflow.events.redact import MASK, mask_url

EventType = Literal[
    "line_crossed",
    "zone_entered",
    "zone_exited",
    "loitering",
    "overcrowding",
    "direction",
    "counts",
    "stream_state",
    "stream_stats",
]
PayloadFormat = Literal["visionflow", "nvmsgconv_full", "nvmsgconv_minimal"]
PublisherName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
EnvName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


_SECRET_KEY = re.compile(r"pass|secret|token|auth|key", re.IGNORECASE)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # URLs lose their userinfo password; secret-looking map entries
        # (librdkafka "sasl.password", an "Authorization" header) are hidden.
        for key, value in super().__repr_args__():
            if isinstance(value, str) and key == "url":
                yield key, mask_url(value)
            elif isinstance(value, dict):
                yield key, {k: MASK if _SECRET_KEY.search(str(k)) else v for k, v in value.items()}
            else:
                yield key, value


def check_url(url: str, schemes: tuple[str, ...], example: str) -> str:
    """Validate ``url``'s scheme, host and port; the error masks any password.

    Raises:
        ValueError: with the allowed schemes and an example.
    """
    shown = mask_url(url)
    hint = f"expected {' or '.join(s + '://' for s in schemes)}HOST[:PORT], e.g. {example}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {shown!r}: {exc}; {hint}") from None
    if parts.scheme not in schemes:
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"invalid URL {shown!r}: {got}; {hint}")
    if not parts.hostname:
        raise ValueError(f"invalid URL {shown!r}: no host; {hint}")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"invalid URL {shown!r}: port {port} out of range 1-65535; {hint}")
    return url


def check_host_port(server: str) -> str:
    """Validate a ``host:port`` pair (Kafka bootstrap server)."""
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            f"invalid bootstrap server {server!r}: expected HOST:PORT with a port in "
            "1-65535, e.g. kafka-1:9092"
        )
    return server


class SpoolConfig(_Model):
    """The durable on-disk queue in front of a broker publisher.

    When ``max_events`` are waiting, ``overflow`` decides: ``drop_oldest``
    discards the oldest waiting events (fresh data wins, the default),
    ``reject_new`` discards the new ones (history wins). Either way the
    discarded events are counted (``dropped``) and a warning is logged once.
    """

    max_events: Annotated[int, Field(ge=1)] = 1_000_000
    overflow: Literal["drop_oldest", "reject_new"] = "drop_oldest"


class TlsConfig(_Model):
    """TLS options of a broker connection (the URL's scheme turns TLS on)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False


class _PublisherBase(_Model):
    name: PublisherName | None = None
    event_types: list[EventType] | None = None
    streams: list[str] | None = None
    format: PayloadFormat = "visionflow"

    @property
    def publisher_name(self) -> str:
        """``name``, or the type when no name is given."""
        return self.name or str(getattr(self, "type", "publisher"))


class JsonlPublisherConfig(_PublisherBase):
    """Append events to a JSON Lines file, optionally rotated by size and/or age."""

    type: Literal["jsonl"]
    path: Path | None = None
    rotate_bytes: Annotated[int, Field(ge=1024)] | None = None
    rotate_seconds: Annotated[float, Field(gt=0)] | None = None


class _BrokerBase(_PublisherBase):
    spool: SpoolConfig = SpoolConfig()
    tls: TlsConfig | None = None

    def _tls_needs(self, url: str, scheme: str) -> None:
        if self.tls is not None and urlsplit(url).scheme != scheme:
            raise ValueError(f"tls options need a {scheme}:// URL (got {mask_url(url)!r})")


class RedisPublisherConfig(_BrokerBase):
    """XADD events to a Redis stream (TLS with ``rediss://``)."""

    type: Literal["redis"]
    url: str = "redis://localhost:6379/0"
    stream_key: Annotated[str, Field(min_length=1)] = "visionflow:events"
    maxlen: Annotated[int, Field(ge=1)] | None = 100_000
    username: str | None = None
    password: SecretStr | None = None
    password_env: EnvName | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_url(url, ("redis", "rediss"), "redis://localhost:6379/0")

    @field_validator("stream_key")
    @classmethod
    def _template(cls, key: str) -> str:
        return _check_template(key)

    @model_validator(mode="after")
    def _tls(self) -> RedisPublisherConfig:
        self._tls_needs(self.url, "rediss")
        return self


class MqttPublisherConfig(_BrokerBase):
    """Publish events to MQTT topics ``<topic_prefix>/<stream_id>/events/<event_type>``."""

    type: Literal["mqtt"]
    url: str = "mqtt://localhost:1883"
    topic_prefix: Annotated[str, Field(min_length=1)] = "visionflow"
    qos: Literal[0, 1] = 1
    client_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_env: EnvName | None = None
    keepalive_s: Annotated[int, Field(ge=1, le=65535)] = 60

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_url(url, ("mqtt", "mqtts"), "mqtt://localhost:1883")

    @model_validator(mode="after")
    def _tls(self) -> MqttPublisherConfig:
        self._tls_needs(self.url, "mqtts")
        return self


class KafkaPublisherConfig(_BrokerBase):
    """Produce events to a Kafka topic, keyed by stream id (librdkafka)."""

    type: Literal["kafka"]
    bootstrap_servers: Annotated[list[str], Field(min_length=1)]
    topic: Annotated[str, Field(min_length=1)] = "visionflow-events"
    librdkafka: dict[str, str | int | bool] = {}
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_env: EnvName | None = None

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [s.strip() for s in value.split(",")] if isinstance(value, str) else value

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, servers: list[str]) -> list[str]:
        return [check_host_port(s) for s in servers]


class WebhookPublisherConfig(_BrokerBase):
    """POST batches of events as a JSON array to an HTTP(S) endpoint."""

    type: Literal["webhook"]
    url: str
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    headers: dict[str, str] = {}
    token: SecretStr | None = None
    token_env: EnvName | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_url(url, ("http", "https"), "https://hooks.example.com/visionflow")

    @model_validator(mode="after")
    def _tls(self) -> WebhookPublisherConfig:
        self._tls_needs(self.url, "https")
        return self


BrokerPublisherConfig = (
    RedisPublisherConfig | MqttPublisherConfig | KafkaPublisherConfig | WebhookPublisherConfig
)
PublisherConfig = Annotated[
    JsonlPublisherConfig | BrokerPublisherConfig, Field(discriminator="type")
]
"""Any publisher's config; ``type`` says which."""

PUBLISHER_TYPES: dict[str, type[BaseModel]] = {
    "jsonl": JsonlPublisherConfig,
    "redis": RedisPublisherConfig,
    "mqtt": MqttPublisherConfig,
    "kafka": KafkaPublisherConfig,
    "webhook": WebhookPublisherConfig,
}


def _check_template(key: str) -> str:
    try:
        key.format(stream_id="s", event_type="t")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"invalid template {key!r}: {exc}; allowed placeholders: {{stream_id}}, {{event_type}}"
        ) from None
    return key
