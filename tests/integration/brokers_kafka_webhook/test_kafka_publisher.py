"""KafkaPublisher against librdkafka's mock cluster (real protocol over TCP)."""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka_webhook_helpers import (
    MockKafkaCluster,
    check_exactly_once_in_order,
    consume_all,
    make_items,
)

from visionflow.config.publishers import KafkaPublisherConfig
from visionflow.errors import ConfigError, MissingDependencyError, PipelineStateError, PublishError
from visionflow.events.delivery import DeliveryWorker
from visionflow.events.publishers.base import Publisher, Record
from visionflow.events.publishers.kafka import KafkaPublisher, producer_settings
from visionflow.events.spool import Spool

TOPIC = "vf-events"
PARTITIONS = 4
STREAMS = ("cam-0", "cam-1", "cam-2", "cam-3")


@pytest.fixture
def cluster() -> Iterator[MockKafkaCluster]:
    mock = MockKafkaCluster(brokers=3)
    mock.create_topic(TOPIC, PARTITIONS)
    yield mock
    mock.close()


def kafka_config(bootstrap: str, **fields: Any) -> KafkaPublisherConfig:
    fields.setdefault("librdkafka", {"message.timeout.ms": 2000})
    return KafkaPublisherConfig(
        type="kafka", name="kafka-test", bootstrap_servers=bootstrap, topic=TOPIC, **fields
    )


def deliver(spool: Spool, publisher: KafkaPublisher, *, outage: MockKafkaCluster | None) -> None:
    worker = DeliveryWorker(
        spool, publisher, batch_size=500, backoff_initial_s=0.05, backoff_max_s=0.3
    )
    worker.start()
    try:
        if outage is not None:
            while worker.stats.delivered < 2000:
                time.sleep(0.01)
            outage.set_down()
            time.sleep(3.0)  # longer than message.timeout.ms: batches fail and are retried
            assert worker.stats.retries >= 1
            outage.set_up()
        assert worker.flush(30.0), worker.stats
    finally:
        worker.close(5.0)


@pytest.mark.parametrize("outage", [False, True], ids=["steady", "brokers-down-3s"])
def test_every_event_once_keyed_and_in_order_per_stream(
    cluster: MockKafkaCluster, tmp_path: Path, outage: bool
) -> None:
    items = make_items(STREAMS, per_stream=2500)
    spool = Spool(tmp_path / "kafka.sqlite3")
    spool.append(items)
    publisher = KafkaPublisher(kafka_config(cluster.bootstrap_servers), connect_timeout_s=2.0)
    assert isinstance(publisher, Publisher)

    deliver(spool, publisher, outage=cluster if outage else None)

    assert len(spool) == 0
    spool.close()
    messages = consume_all(cluster.bootstrap_servers, TOPIC, PARTITIONS)
    partitions: dict[str, set[int]] = {}
    received = []
    for message in messages:
        stream = message.key().decode()
        headers = {k: v.decode() for k, v in message.headers()}
        assert headers["event_type"] in {"line_crossed", "zone_exited", "counts"}
        assert f'"event_id":"{headers["event_id"]}"'.encode() in message.value()
        assert f'"stream_id":"{stream}"'.encode() in message.value()
        partitions.setdefault(stream, set()).add(message.partition())
        received.append((stream, headers["event_id"]))
    # Per-stream order is Kafka's per-partition order: one partition per key.
    ordered = sorted(
        zip(received, messages, strict=True), key=lambda rm: (rm[1].partition(), rm[1].offset())
    )
    check_exactly_once_in_order(items, [r for r, _ in ordered])
    assert all(len(p) == 1 for p in partitions.values()), partitions
    # Duplicates only come from batches retried after a failure.
    assert len(messages) == len(items) if not outage else len(messages) >= len(items)


def test_unreachable_cluster_is_a_publish_error() -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    publisher = KafkaPublisher(kafka_config(f"127.0.0.1:{port}"), connect_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(PublishError, match=r"kafka-test.*unreachable"):
        publisher.connect()
    assert time.monotonic() - started < 5.0
    record = Record(1, "cam-0", "0" * 32, "counts", b"{}")
    with pytest.raises(PublishError, match="not delivered"):
        publisher.send([record])  # librdkafka gives up after message.timeout.ms (2 s)
    publisher.close()
    publisher.close()  # idempotent
    with pytest.raises(PipelineStateError):
        publisher.send([record])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {"security.protocol": "PLAINTEXT", "bootstrap.servers": "k1:9092,k2:9093"}),
        ({"tls": {}}, {"security.protocol": "SSL"}),
        (
            {"tls": {"ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}},
            {
                "ssl.ca.location": "/ca.pem",
                "ssl.certificate.location": "/c.pem",
                "ssl.key.location": "/k.pem",
            },
        ),
        (
            {"tls": {"insecure_skip_verify": True}},
            {
                "enable.ssl.certificate.verification": False,
                "ssl.endpoint.identification.algorithm": "none",
            },
        ),
        (
            {"sasl_username": "u", "sasl_password": "pw", "sasl_mechanism": "SCRAM-SHA-512"},
            {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"},
        ),
        (
            {
                "sasl_username": "u",
                "sasl_password": "pw",
                "librdkafka": {"security.protocol": "SASL_PLAINTEXT", "linger.ms": 50},
            },
            {"security.protocol": "SASL_PLAINTEXT", "linger.ms": 50},
        ),
        ({"librdkafka": {"acks": -1}}, {"acks": "all", "enable.idempotence": True}),
    ],
)
def test_config_maps_to_librdkafka_settings(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    settings = producer_settings(kafka_config("k1:9092,k2:9093", **fields))
    assert settings | expected == settings
    assert settings["enable.idempotence"] is True
    assert settings["acks"] == "all"
    assert "sasl.password" not in settings  # added at connect time only


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"librdkafka": {"enable.idempotence": False}}, r"must stay True.*idempotent"),
        ({"librdkafka": {"acks": 1}}, r"librdkafka\['acks'\] must stay 'all'"),
        ({"librdkafka": {"sasl.password": "x"}}, "dedicated field"),
        ({"librdkafka": {"bootstrap.servers": "x:1"}}, "dedicated field"),
        ({"sasl_password": "pw"}, "sasl_username is not"),
    ],
)
def test_conflicting_settings_are_config_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaPublisher(kafka_config("k1:9092", **fields))


def test_password_comes_from_env_and_is_never_shown(
    cluster: MockKafkaCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = kafka_config(
        cluster.bootstrap_servers,
        sasl_username="svc",
        sasl_password_env="VF_TEST_KAFKA_PW",
        librdkafka={"security.protocol": "SASL_PLAINTEXT", "message.timeout.ms": 1000},
    )
    publisher = KafkaPublisher(config, connect_timeout_s=1.0)
    with pytest.raises(ConfigError, match="VF_TEST_KAFKA_PW"):
        publisher.connect()
    monkeypatch.setenv("VF_TEST_KAFKA_PW", "hunter2-secret")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PublishError) as info:  # the mock cluster has no SASL
        publisher.send([Record(1, "cam-0", "0" * 32, "counts", b"{}")])
    publisher.close()
    for text in (repr(publisher), str(info.value), caplog.text, repr(config)):
        assert "hunter2-secret" not in text


def test_missing_client_library_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'visionflow\[brokers\]'"):
        KafkaPublisher(kafka_config("k1:9092"))
