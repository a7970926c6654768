"""RedisPublisher against a real redis-server: XADD layout, trimming, faults, secrets."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from _broker_clients import as_records, check_delivery, make_events, redis_arrivals, xrange_all
from _broker_servers import BrokerServer, TlsFiles, free_port

from visionflow.config.schema import RedisPublisherConfig
from visionflow.errors import MissingDependencyError, PipelineStateError, PublishError
from visionflow.events import parse_event
from visionflow.events.publishers.base import Publisher
from visionflow.events.publishers.redis import RedisPublisher

SECRET = "s3cret-pw"


def config(url: str, **fields: Any) -> RedisPublisherConfig:
    return RedisPublisherConfig(type="redis", name="redis-test", url=url, **fields)


def reader(broker: BrokerServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=broker.port, password=None)


def test_a_batch_arrives_as_stream_entries_in_order(redis_broker: BrokerServer) -> None:
    items = make_events(200)
    with RedisPublisher(config(redis_broker.url)) as publisher:
        assert isinstance(publisher, Publisher)
        publisher.connect()
        publisher.send(as_records(items[:150]))
        publisher.send(as_records(items[150:], first_seq=151))
    entries = xrange_all(reader(redis_broker), "visionflow:events")
    assert len(entries) == 200
    for (_, fields), (stream_id, event_id, event_type, payload) in zip(entries, items, strict=True):
        assert fields == {
            b"event_id": event_id.encode(),
            b"stream_id": stream_id.encode(),
            b"type": event_type.encode(),
            b"payload": payload,
        }
    assert parse_event(entries[-1][1][b"payload"]).event_id == items[-1][1]


def test_stream_key_template_splits_streams(redis_broker: BrokerServer) -> None:
    items = make_events(40)
    publisher = RedisPublisher(config(redis_broker.url, stream_key="vf:{stream_id}:events"))
    publisher.send(as_records(items))  # connects on first use
    publisher.close()
    client = reader(redis_broker)
    assert sorted(client.keys("vf:*")) == [f"vf:cam-{i}:events".encode() for i in range(4)]
    for i in range(4):
        arrived = redis_arrivals(client, f"vf:cam-{i}:events")
        sent = [item for item in items if item[0] == f"cam-{i}"]
        assert check_delivery(sent, arrived).in_order


def test_maxlen_trims_approximately(redis_broker: BrokerServer) -> None:
    with RedisPublisher(config(redis_broker.url, maxlen=100)) as publisher:
        for start in range(0, 1000, 250):
            items = make_events(250)
            publisher.send(as_records(items, first_seq=start + 1))
    length = reader(redis_broker).xlen("visionflow:events")
    assert 100 <= length < 1000  # "MAXLEN ~" trims whole nodes, never below maxlen


def test_unreachable_server_is_a_quick_publish_error_without_the_password() -> None:
    url = f"redis://user:{SECRET}@127.0.0.1:{free_port()}/0"
    publisher = RedisPublisher(config(url))
    started = time.monotonic()
    with pytest.raises(PublishError) as info:
        publisher.connect()
    assert time.monotonic() - started < 3
    assert "cannot connect" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(publisher)
    assert "user:***@" in repr(publisher)


def test_broker_restart_fails_a_batch_then_recovers(redis_broker: BrokerServer) -> None:
    items = make_events(30)
    with RedisPublisher(config(redis_broker.url)) as publisher:
        publisher.send(as_records(items[:10]))
        redis_broker.stop()
        with pytest.raises(PublishError):
            publisher.send(as_records(items[10:20], first_seq=11))
        with pytest.raises(PublishError):
            publisher.connect()  # still down
        redis_broker.start()
        publisher.connect()
        publisher.send(as_records(items[20:], first_seq=21))
    # Non-persistent server: only what came after the restart is there.
    assert len(redis_arrivals(reader(redis_broker), "visionflow:events")) == 10


def test_password_from_env_and_a_refused_password(
    redis_broker: BrokerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader(redis_broker).config_set("requirepass", SECRET)
    monkeypatch.setenv("VF_TEST_REDIS_PASSWORD", SECRET)
    with RedisPublisher(config(redis_broker.url, password_env="VF_TEST_REDIS_PASSWORD")) as ok:
        ok.send(as_records(make_events(5)))
        assert SECRET not in repr(ok)
    wrong = RedisPublisher(config(redis_broker.url, password="not-" + SECRET))
    with pytest.raises(PublishError) as info:
        wrong.connect()
    assert "not-" + SECRET not in str(info.value)
    authed = redis.Redis(host="127.0.0.1", port=redis_broker.port, password=SECRET)
    assert authed.xlen("visionflow:events") == 5


def test_close_is_idempotent_and_final(redis_broker: BrokerServer) -> None:
    publisher = RedisPublisher(config(redis_broker.url))
    publisher.connect()
    publisher.close()
    publisher.close()
    assert publisher.state.value == "closed"
    with pytest.raises(PipelineStateError, match="closed"):
        publisher.send(as_records(make_events(1)))


def test_missing_redis_package_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'visionflow\[brokers\]'"):
        RedisPublisher(config("redis://127.0.0.1:6379/0"))


@pytest.mark.parametrize(
    ("tls", "trusted"),
    [
        ({"ca_file": "CERT"}, True),
        ({"insecure_skip_verify": True}, True),
        (None, False),  # rediss:// with the system CAs: our self-signed cert is refused
    ],
)
def test_rediss_uses_the_tls_options(
    make_redis: Callable[..., BrokerServer],
    tls_files: TlsFiles,
    tls: dict[str, Any] | None,
    trusted: bool,
) -> None:
    broker = make_redis(tls=tls_files)
    assert broker.url.startswith("rediss://")
    if tls is not None and "ca_file" in tls:
        tls = {"ca_file": tls_files.cert}
    publisher = RedisPublisher(config(broker.url, tls=tls))
    with publisher:
        if not trusted:
            with pytest.raises(PublishError, match="certificate verify failed"):
                publisher.connect()
            return
        publisher.send(as_records(make_events(5)))
    client = redis.Redis(
        host="127.0.0.1", port=broker.port, ssl=True, ssl_ca_certs=str(tls_files.cert)
    )
    assert client.xlen("visionflow:events") == 5
    client.close()
