"""Sustained events/s of the Kafka and webhook publishers through the delivery path.

What runs is what the pipeline runs: pipeline-shaped events (``line_crossed``
/ ``zone_exited`` / ``counts`` from 4 streams, ``model_dump_json()`` payloads)
go into a :class:`~visionflow.events.spool.Spool` (SQLite, on disk) and a
:class:`~visionflow.events.delivery.DeliveryWorker` moves them to the
publisher with its default batch of 500 (the webhook POSTs chunks of its
default ``batch_size`` 100).

Brokers: Kafka is librdkafka's mock cluster (3 brokers, real protocol over
TCP on 127.0.0.1, in this process but in native threads; a topic of 4
partitions, replication 3); the webhook receiver is the test suite's
``http.server`` in a separate process (so it does not share our GIL),
parsing every JSON body like a real receiver would.
Both helpers come from ``tests/integration/brokers_kafka_webhook``.

Three measurements per publisher, each a warm-up then ``--repeats`` runs
(median, min, max, spread = (max - min) / median). Every run uses a fresh
publisher that first connects and sends one untimed batch (producer id,
metadata, connections), so the figures are steady-state rates:

- ``publisher_only``: ``publisher.send`` on in-memory batches of 500, no
  spool, no worker: the ceiling of the client library + broker here.
- ``drain``: the spool is pre-filled with ``--events`` events; time for the
  worker to deliver them all (a backlog after an outage).
- ``sustained``: an appender thread writes events to the spool in chunks of
  50 (the pipeline's events thread) as fast as it can while the worker
  delivers; events/s from the first append until the spool is empty.

Usage::

    .venv/bin/python benchmarks/events_kafka_webhook.py [--events 30000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "events_kafka_webhook.json"
HELPERS = REPO / "tests" / "integration" / "brokers_kafka_webhook"
sys.path.insert(0, str(HELPERS))

from kafka_webhook_helpers import MockKafkaCluster, make_items  # noqa: E402

from cpu_e2e import git_info, machine_info  # noqa: E402
from visionflow.config.publishers import (  # noqa: E402
    KafkaPublisherConfig,
    WebhookPublisherConfig,
)
from visionflow.events.delivery import DeliveryWorker  # noqa: E402
from visionflow.events.publishers.base import Publisher, Record  # noqa: E402
from visionflow.events.publishers.kafka import KafkaPublisher  # noqa: E402
from visionflow.events.publishers.webhook import WebhookPublisher  # noqa: E402
from visionflow.events.spool import Spool, SpoolItem  # noqa: E402

STREAMS = ("cam-0", "cam-1", "cam-2", "cam-3")
WORKER_BATCH = 500
APPEND_CHUNK = 50
TOPIC = "visionflow-bench"

_SERVER_CODE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from kafka_webhook_helpers import WebhookServer
server = WebhookServer()
print(server.url, flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def webhook_receiver() -> Iterator[str]:
    """The test suite's webhook server in a child process; yields its URL."""
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVER_CODE, str(HELPERS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


@contextmanager
def kafka_cluster(replication: int) -> Iterator[str]:
    cluster = MockKafkaCluster(brokers=3)
    cluster.create_topic(TOPIC, partitions=4, replication=replication)
    try:
        yield cluster.bootstrap_servers
    finally:
        cluster.close()


def kafka_publisher(bootstrap: str) -> KafkaPublisher:
    config = KafkaPublisherConfig(
        type="kafka", name="bench-kafka", bootstrap_servers=bootstrap, topic=TOPIC
    )
    return KafkaPublisher(config)


def webhook_publisher(url: str) -> WebhookPublisher:
    config = WebhookPublisherConfig(type="webhook", name="bench-hook", url=url, token="bench")
    return WebhookPublisher(config)


# -- one run each ------------------------------------------------------------------------


def warm_up(publisher: Publisher) -> None:
    """Connect and send one batch untimed: producer id, metadata, TCP/TLS connections."""
    publisher.connect()
    records = [Record(i + 1, *item) for i, item in enumerate(make_items(["warm-up"], WORKER_BATCH))]
    publisher.send(records)


def run_publisher_only(publisher: Publisher, items: Sequence[SpoolItem]) -> float:
    records = [Record(i + 1, *item) for i, item in enumerate(items)]
    warm_up(publisher)
    started = time.perf_counter()
    for start in range(0, len(records), WORKER_BATCH):
        publisher.send(records[start : start + WORKER_BATCH])
    return len(records) / (time.perf_counter() - started)


def run_drain(publisher: Publisher, items: Sequence[SpoolItem], folder: Path) -> float:
    spool = Spool(folder / "drain.sqlite3", max_events=len(items) + 1)
    spool.append(items)
    warm_up(publisher)
    worker = DeliveryWorker(spool, publisher, batch_size=WORKER_BATCH)
    started = time.perf_counter()
    worker.start()
    try:
        assert worker.flush(300.0), worker.stats
        elapsed = time.perf_counter() - started
    finally:
        worker.close(5.0)
        spool.close()
    return len(items) / elapsed


def run_sustained(publisher: Publisher, items: Sequence[SpoolItem], folder: Path) -> float:
    spool = Spool(folder / "sustained.sqlite3", max_events=len(items) + 1)
    warm_up(publisher)
    worker = DeliveryWorker(spool, publisher, batch_size=WORKER_BATCH)
    worker.start()

    def append_all() -> None:
        for start in range(0, len(items), APPEND_CHUNK):
            spool.append(items[start : start + APPEND_CHUNK])
            worker.notify()

    appender = threading.Thread(target=append_all)
    started = time.perf_counter()
    appender.start()
    try:
        appender.join()
        assert worker.flush(300.0), worker.stats
        elapsed = time.perf_counter() - started
        assert worker.stats.delivered == len(items), worker.stats
    finally:
        worker.close(5.0)
        spool.close()
    return len(items) / elapsed


def repeat(measure: Callable[[], float], repeats: int) -> dict[str, Any]:
    measure()  # warm-up: connections, caches, SQLite pages
    runs = [round(measure(), 1) for _ in range(repeats)]
    median = statistics.median(runs)
    return {
        "events_per_s": {"median": median, "min": min(runs), "max": max(runs)},
        "spread": round((max(runs) - min(runs)) / median, 3),
        "runs": runs,
    }


def bench(
    name: str, make: Callable[[], Publisher], items: Sequence[SpoolItem], repeats: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vf-bench-") as tmp:
        folder = Path(tmp)
        counter = iter(range(1_000_000))

        def fresh() -> Path:
            path = folder / str(next(counter))
            path.mkdir()
            return path

        def only() -> float:
            publisher = make()
            try:
                return run_publisher_only(publisher, items)
            finally:
                publisher.close()

        result = {
            "publisher_only": repeat(only, repeats),
            "drain": repeat(lambda: run_drain(make(), items, fresh()), repeats),
            "sustained": repeat(lambda: run_sustained(make(), items, fresh()), repeats),
        }
    ceiling = result["publisher_only"]["events_per_s"]["median"]
    for key in ("drain", "sustained"):
        result[key]["vs_publisher_only"] = round(result[key]["events_per_s"]["median"] / ceiling, 3)
    print(
        f"{name}: "
        + ", ".join(f"{k} {v['events_per_s']['median']:.0f}/s" for k, v in result.items())
    )
    return result


# -- context -------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import confluent_kafka

    out = {"python": platform.python_version(), "librdkafka": confluent_kafka.libversion()[0]}
    for dist in ("visionflow", "confluent-kafka", "httpx", "httpcore", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="events per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    items = make_items(STREAMS, per_stream=args.events // len(STREAMS))
    payload_bytes = [len(item[3]) for item in items]
    result: dict[str, Any] = {
        "benchmark": "events_kafka_webhook",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            **machine_info(),
            "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": versions(),
        "git": git_info(),
        "config": {
            "events_per_run": len(items),
            "repeats": args.repeats,
            "streams": len(STREAMS),
            "event_mix": "per stream: 50% line_crossed, 40% zone_exited, 10% counts",
            "payload_bytes_mean": round(statistics.mean(payload_bytes), 1),
            "worker_batch_size": WORKER_BATCH,
            "webhook_batch_size": WebhookPublisherConfig.model_fields["batch_size"].default,
            "sustained_append_chunk": APPEND_CHUNK,
            "kafka": "librdkafka mock cluster, 3 brokers, topic with 4 partitions and "
            "replication 3, acks=all, idempotent producer",
            "webhook": "http.server (ThreadingHTTPServer) in a child process, JSON-parses bodies",
        },
    }
    with kafka_cluster(replication=3) as bootstrap:
        make = functools.partial(kafka_publisher, bootstrap)
        result["kafka"] = bench("kafka", make, items, args.repeats)
    with webhook_receiver() as url:
        result["webhook"] = bench("webhook", lambda: webhook_publisher(url), items, args.repeats)
    result["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
