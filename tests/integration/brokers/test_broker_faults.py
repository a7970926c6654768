"""Spool + DeliveryWorker + Redis/MQTT publisher through broker outages and crashes.

Delivery is at-least-once: after dedupe by ``event_id`` every event must
arrive exactly once and in order per stream; duplicates are allowed, and
counted (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from _broker_clients import (
    MqttCollector,
    SpoolItem,
    check_delivery,
    make_events,
    make_publisher,
    redis_arrivals,
    wait_until,
)
from _broker_servers import BrokerServer

from visionflow.config.loader import parse_config
from visionflow.errors import ConfigError
from visionflow.events.delivery import DeliveryWorker
from visionflow.events.spool import Spool

CHILD = Path(__file__).with_name("_publisher_child.py")
KINDS = ["redis", "mqtt"]
OUTAGE_S = 2.0
CHUNK = 100

Arrivals = Callable[[], list[tuple[str, str]]]


def make_broker(request: pytest.FixtureRequest, kind: str, **options: bool) -> BrokerServer:
    factory = request.getfixturevalue("make_redis" if kind == "redis" else "make_mosquitto")
    server: BrokerServer = factory(**options)
    return server


@contextmanager
def consumer(kind: str, broker: BrokerServer) -> Iterator[Arrivals]:
    """A consumer of what reached the broker: a function giving (stream_id, event_id)s.

    The MQTT consumer keeps a persistent session, so a durable mosquitto
    queues events for it while it is down and hands them over after restart.
    """
    if kind == "redis":
        client = redis.Redis(host="127.0.0.1", port=broker.port)
        yield lambda: redis_arrivals(client, "visionflow:events")
        client.close()
        return
    collector = MqttCollector(broker.port, "visionflow/+/events/#", client_id="vf-test-consumer")
    yield lambda: [
        (m.topic.split("/")[1], str(json.loads(m.payload)["event_id"])) for m in collector.messages
    ]
    collector.close()


def assert_all_once_in_order(
    kind: str, sent: list[SpoolItem], arrivals: Arrivals, timeout_s: float
) -> int:
    """Wait for every event (deduped) to arrive; check order; return the duplicates."""
    wanted = {item[1] for item in sent}
    wait_until(lambda: wanted <= {e for _, e in arrivals()}, timeout_s, f"all events on {kind}")
    report = check_delivery(sent, arrivals())
    assert report.missing == 0
    assert report.unique == len(sent)
    assert report.in_order, "a stream's events arrived out of order"
    return report.duplicates


@pytest.mark.parametrize(
    ("kind", "how"),
    [
        ("redis", "stop"),
        # fsync-always AOF: a crash keeps what was acknowledged (not so mosquitto)
        ("redis", "kill"),
        ("mqtt", "stop"),
    ],
)
def test_outage_mid_stream_delivers_everything_in_order(
    kind: str, how: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    broker = make_broker(request, kind, durable=True)
    items = make_events(10_000, streams=4)
    spool = Spool(tmp_path / "spool.sqlite3")
    worker = DeliveryWorker(spool, make_publisher(kind, broker.url), backoff_max_s=0.5)
    with consumer(kind, broker) as arrivals:
        worker.start()
        started = time.monotonic()
        stopped_at = 0.0
        # Paced at ~10 000 events/s so batches are in flight when the broker dies.
        for i, start in enumerate(range(0, len(items), CHUNK)):
            if i == len(items) // CHUNK // 2:
                if how == "stop":
                    broker.stop()
                else:
                    broker.kill()
                stopped_at = time.monotonic()
            spool.append(items[start : start + CHUNK])
            worker.notify()
            time.sleep(0.01)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        broker.start()
        assert worker.flush(20), f"spool not drained: {worker.stats}"
        duplicates = assert_all_once_in_order(kind, items, arrivals, 20)
        stats = worker.stats
        worker.close()
    spool.close()
    assert stats.retries > 0, "the outage went unnoticed"
    print(
        f"\n[{kind}] outage ({how}): {len(items)} events, {duplicates} duplicate(s), "
        f"{stats.retries} failed attempt(s), {time.monotonic() - started:.1f} s"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_events_spooled_by_a_killed_process_are_delivered_by_the_next(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    broker = make_broker(request, kind, start=False)  # down: the child cannot deliver
    path = tmp_path / "spool.sqlite3"
    argv = [sys.executable, str(CHILD), "spool", kind, broker.url, str(path), "3000"]
    log = (tmp_path / "child.log").open("w")
    with log, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "spooled"
            time.sleep(0.5)  # its worker is retrying against the dead broker now
        finally:
            child.kill()  # SIGKILL: no cleanup, no close
    assert child.returncode == -9
    broker.start()
    spool = Spool(path)
    assert len(spool) == 3000
    sent = [(r.stream_id, r.event_id, r.event_type, r.payload) for r in spool.peek(3000)]
    with consumer(kind, broker) as arrivals:
        worker = DeliveryWorker(spool, make_publisher(kind, broker.url))
        worker.start()
        assert worker.flush(10), f"spool not drained: {worker.stats}"
        duplicates = assert_all_once_in_order(kind, sent, arrivals, 10)
        worker.close()
    spool.close()
    print(f"\n[{kind}] after SIGKILL: {len(sent)} spooled events delivered, {duplicates} dup(s)")


CONFIG = """\
sources: [{{id: cam0, uri: clip.mp4}}]
model: {{cfg: m.cfg, weights: m.weights, names: m.names}}
events:
  publishers:
    - {{type: {kind}, name: broker, url: "{url}"}}
"""


@pytest.mark.parametrize(
    ("kind", "url", "needle"),
    [
        ("redis", "redis//localhost:6379", "no scheme"),
        ("redis", "http://localhost:6379/0", "scheme 'http'"),
        ("redis", "redis://:hunter2@localhost:99999/0", "port"),
        ("redis", "redis:///0", "no host"),
        ("mqtt", "mqtt://", "no host"),
        ("mqtt", "mqtt://localhost:port", "invalid URL"),
        ("mqtt", "tcp://localhost:1883", "scheme 'tcp'"),
        ("mqtt", "mqtts://user:hunter2@broker:0", "port"),
    ],
)
def test_malformed_broker_url_is_a_config_error(kind: str, url: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.format(kind=kind, url=url))
    message = str(info.value)
    assert "events.publishers[0].url" in message, message
    assert needle.lower() in message.lower(), message
    assert "hunter2" not in message
    assert f"{kind}://" in message  # the hint shows the expected form


def test_cli_reports_a_malformed_broker_url_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG.format(kind="mqtt", url="mqtt://:hunter2@:1883"))
    result = subprocess.run(
        [sys.executable, "-m", "visionflow", "validate", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "events.publishers[0]" in output and "mqtt://" in output, output
    assert "hunter2" not in output
