"""MqttPublisher against a real mosquitto: topics, QoS, status + Last Will, faults."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _broker_clients import MqttCollector, as_records, check_delivery, make_events, wait_until
from _broker_servers import BrokerServer, TlsFiles, free_port

from visionflow.config.schema import MqttPublisherConfig
from visionflow.errors import MissingDependencyError, PipelineStateError, PublishError
from visionflow.events.publishers.base import Publisher
from visionflow.events.publishers.mqtt import MqttPublisher

CHILD = Path(__file__).with_name("_publisher_child.py")
SECRET = "s3cret-pw"


def config(url: str, **fields: Any) -> MqttPublisherConfig:
    return MqttPublisherConfig(type="mqtt", name="mqtt-test", url=url, **fields)


@pytest.mark.parametrize("qos", [0, 1])
def test_events_arrive_on_their_topics_in_order(mqtt_broker: BrokerServer, qos: int) -> None:
    items = make_events(400)
    collector = MqttCollector(mqtt_broker.port, "visionflow/+/events/#")
    try:
        with MqttPublisher(config(mqtt_broker.url, qos=qos)) as publisher:
            assert isinstance(publisher, Publisher)
            publisher.connect()
            publisher.send(as_records(items[:300]))
            publisher.send(as_records(items[300:], first_seq=301))
            wait_until(lambda: collector.count() >= len(items), 10, "all events")
    finally:
        collector.close()
    messages = collector.messages
    by_id = {item[1]: item for item in items}
    for message in messages:
        stream_id, _, event_type, payload = by_id[_event_id(message.payload)]
        assert message.topic == f"visionflow/{stream_id}/events/{event_type}"
        assert message.payload == payload
        assert not message.retain
    report = check_delivery(
        items, [(m.topic.split("/")[1], _event_id(m.payload)) for m in messages]
    )
    assert (report.missing, report.duplicates, report.in_order) == (0, 0, True)


def test_status_is_retained_online_then_offline(mqtt_broker: BrokerServer) -> None:
    publisher = MqttPublisher(config(mqtt_broker.url, client_id="vf-status", topic_prefix="site"))
    assert publisher.status_topic == "site/status/vf-status"
    publisher.connect()
    assert _retained_status(mqtt_broker, publisher.status_topic) == b"online"
    publisher.close()
    publisher.close()
    assert _retained_status(mqtt_broker, publisher.status_topic) == b"offline"
    with pytest.raises(PipelineStateError):
        publisher.send(as_records(make_events(1)))


def test_last_will_says_offline_when_the_process_is_killed(mqtt_broker: BrokerServer) -> None:
    topic = "visionflow/status/vf-doomed"
    argv = [sys.executable, str(CHILD), "mqtt-lwt", mqtt_broker.url, "vf-doomed"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            assert _retained_status(mqtt_broker, topic) == b"online"
            collector = MqttCollector(mqtt_broker.port, topic)
            child.kill()

            def last_is_offline() -> bool:
                return [m.payload for m in collector.messages][-1:] == [b"offline"]

            wait_until(last_is_offline, 5, "the Last Will")
            collector.close()
        finally:
            child.kill()
    assert _retained_status(mqtt_broker, topic) == b"offline"


def test_unreachable_broker_is_a_quick_publish_error() -> None:
    publisher = MqttPublisher(config(f"mqtt://127.0.0.1:{free_port()}", password=SECRET))
    started = time.monotonic()
    with pytest.raises(PublishError, match="cannot connect"):
        publisher.connect()
    assert time.monotonic() - started < 3
    assert SECRET not in repr(publisher)


def test_broker_restart_fails_a_batch_then_recovers(mqtt_broker: BrokerServer) -> None:
    items = make_events(30)
    publisher = MqttPublisher(config(mqtt_broker.url))
    publisher.connect()
    publisher.send(as_records(items[:10]))
    mqtt_broker.stop()
    started = time.monotonic()
    with pytest.raises(PublishError):
        publisher.send(as_records(items[10:20], first_seq=11))
    with pytest.raises(PublishError):
        publisher.connect()
    assert time.monotonic() - started < 3  # fails fast, no waiting for the ack deadline
    mqtt_broker.start()
    collector = MqttCollector(mqtt_broker.port, "visionflow/+/events/#")
    publisher.connect()
    publisher.send(as_records(items[20:], first_seq=21))
    publisher.close()
    wait_until(lambda: collector.count() == 10, 5, "the events sent after the restart")
    collector.close()


def test_missing_paho_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)  # `import` fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'visionflow\[brokers\]'"):
        MqttPublisher(config("mqtt://127.0.0.1:1883"))


def _retained_status(broker: BrokerServer, topic: str) -> bytes:
    collector = MqttCollector(broker.port, topic)
    try:
        wait_until(lambda: collector.count() > 0, 5, f"a retained message on {topic}")
        message = collector.messages[0]
    finally:
        collector.close()
    assert message.retain
    return message.payload


def _event_id(payload: bytes) -> str:
    return str(json.loads(payload)["event_id"])


@pytest.mark.parametrize(
    ("tls", "trusted"),
    [
        ({"ca_file": "CERT"}, True),
        ({"insecure_skip_verify": True}, True),
        (None, False),  # mqtts:// with the system CAs: our self-signed cert is refused
    ],
)
def test_mqtts_uses_the_tls_options(
    make_mosquitto: Callable[..., BrokerServer],
    tls_files: TlsFiles,
    tls: dict[str, Any] | None,
    trusted: bool,
) -> None:
    broker = make_mosquitto(tls=tls_files)
    assert broker.url.startswith("mqtts://")
    if tls is not None and "ca_file" in tls:
        tls = {"ca_file": tls_files.cert}
    with MqttPublisher(config(broker.url, tls=tls)) as publisher:
        if not trusted:
            with pytest.raises(PublishError, match="certificate verify failed"):
                publisher.connect()
            return
        publisher.send(as_records(make_events(5)))  # returns once PUBACKs came over TLS
