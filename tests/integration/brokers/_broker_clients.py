"""Test-side broker clients and event helpers: what a consumer would see."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion

from visionflow.config.schema import MqttPublisherConfig, RedisPublisherConfig
from visionflow.events import CountsEvent, LineCrossedEvent
from visionflow.events.publishers.base import Publisher, Record
from visionflow.events.publishers.mqtt import MqttPublisher
from visionflow.events.publishers.redis import RedisPublisher

SpoolItem = tuple[str, str, str, bytes]
"""(stream_id, event_id, event_type, payload): what ``Spool.append`` takes."""


def make_events(count: int, streams: int = 4) -> list[SpoolItem]:
    """``count`` real events round-robin over ``streams`` streams (every 10th is counts)."""
    items: list[SpoolItem] = []
    for i in range(count):
        stream_id = f"cam-{i % streams}"
        frame = i // streams
        common = {"stream_id": stream_id, "frame_number": frame, "pts_seconds": frame / 30}
        if i % 10 == 9:
            event: LineCrossedEvent | CountsEvent = CountsEvent(
                **common, lines={"gate": {"in": {"person": frame}}}, zones={}
            )
        else:
            event = LineCrossedEvent(
                **common,
                track_id=1 + frame,
                class_id=0,
                class_name="person",
                line="gate",
                direction="in",
                confidence=0.9,
                bbox_xyxy=[10.0, 20.0, 50.0, 120.0],
            )
        items.append((stream_id, event.event_id, event.type, event.model_dump_json().encode()))
    return items


def make_publisher(kind: str, url: str, **fields: object) -> Publisher:
    """A RedisPublisher (kind ``redis``) or MqttPublisher (``mqtt``) for ``url``."""
    if kind == "redis":
        return RedisPublisher(
            RedisPublisherConfig.model_validate({"type": "redis", "url": url, **fields})
        )
    return MqttPublisher(MqttPublisherConfig.model_validate({"type": "mqtt", "url": url, **fields}))


def as_records(items: Iterable[SpoolItem], first_seq: int = 1) -> list[Record]:
    return [Record(first_seq + i, *item) for i, item in enumerate(items)]


@dataclass
class DeliveryReport:
    """Arrivals compared with what was sent, after dedupe by event_id."""

    unique: int
    duplicates: int
    missing: int
    in_order: bool


def check_delivery(sent: list[SpoolItem], arrived: list[tuple[str, str]]) -> DeliveryReport:
    """Compare ``arrived`` (stream_id, event_id) in arrival order with ``sent``.

    Order is checked per stream on first arrivals: a duplicate re-sent after
    a fault may come late, but a new event never overtakes an older one.
    """
    seen: set[str] = set()
    first: dict[str, list[str]] = {}
    for stream_id, event_id in arrived:
        if event_id not in seen:
            seen.add(event_id)
            first.setdefault(stream_id, []).append(event_id)
    expected: dict[str, list[str]] = {}
    for stream_id, event_id, _, _ in sent:
        expected.setdefault(stream_id, []).append(event_id)
    missing = sum(1 for item in sent if item[1] not in seen)
    return DeliveryReport(
        unique=len(seen),
        duplicates=len(arrived) - len(seen),
        missing=missing,
        in_order=first == expected,
    )


def xrange_all(client: redis.Redis, key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of a Redis stream, oldest first: (entry id, fields)."""
    return cast("list[tuple[bytes, dict[bytes, bytes]]]", client.xrange(key, "-", "+"))


def redis_arrivals(client: redis.Redis, key: str) -> list[tuple[str, str]]:
    """(stream_id, event_id) of every entry of a Redis stream, oldest first."""
    entries = xrange_all(client, key)
    return [(f[b"stream_id"].decode(), f[b"event_id"].decode()) for _, f in entries]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class MqttCollector:
    """A subscriber that records every message it receives (QoS 1).

    With ``client_id`` it keeps a persistent session (clean_session=False),
    so a durable broker queues messages for it while it is disconnected,
    and it reconnects by itself after a broker restart.
    """

    def __init__(self, port: int, topic: str = "#", client_id: str | None = None) -> None:
        self.topic = topic
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or "",
            clean_session=client_id is None,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.connect("127.0.0.1", port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(5):
            self.close()
            raise AssertionError("test subscriber could not subscribe")

    @property
    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, *args: object) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))
