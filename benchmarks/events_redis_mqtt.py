"""Events/s of the Redis and MQTT publishers, alone and behind Spool + DeliveryWorker.

Starts a real ``redis-server`` and ``mosquitto`` on free 127.0.0.1 ports (no
persistence), then for each publisher (Redis XADD in MULTI/EXEC; MQTT QoS 1
waiting for every PUBACK; MQTT QoS 0) measures, on the same real events
(``LineCrossedEvent`` / ``CountsEvent`` JSON, about 400 bytes, 4 streams):

* **send**: ``publisher.send`` in batches of ``--batch`` records: the
  publisher's own ceiling;
* **drain**: a spool pre-filled with ``--events`` events, emptied by a
  ``DeliveryWorker`` (peek, send, ack): what a backlog drains at after an outage;
* **sustained**: a producer appends chunks of 100 events to the spool as fast
  as it can while the worker delivers; events / (first append → spool empty):
  the end-to-end rate the pipeline can emit without the spool growing.

Every figure is the median of ``--repeats`` runs, with min and max. Brokers,
worker and producer share the machine's cores, as they would in production
on one box. The result goes to ``benchmarks/results/events_redis_mqtt.json``.

Usage::

    .venv/bin/python benchmarks/events_redis_mqtt.py [--events 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration" / "brokers"))

from _broker_clients import SpoolItem, as_records, make_events, make_publisher  # noqa: E402
from _broker_servers import BrokerServer, mosquitto_server, redis_server  # noqa: E402

from cpu_e2e import git_info, machine_info  # noqa: E402
from visionflow.events.delivery import DeliveryWorker  # noqa: E402
from visionflow.events.publishers.base import Publisher  # noqa: E402
from visionflow.events.spool import Spool  # noqa: E402

RESULT = HERE / "results" / "events_redis_mqtt.json"
CHUNK = 100


def bench_send(make: Callable[[], Publisher], items: list[SpoolItem], batch: int) -> float:
    records = as_records(items)
    publisher = make()
    publisher.connect()
    started = time.perf_counter()
    for start in range(0, len(records), batch):
        publisher.send(records[start : start + batch])
    elapsed = time.perf_counter() - started
    publisher.close()
    return len(records) / elapsed


def bench_drain(
    make: Callable[[], Publisher], items: list[SpoolItem], batch: int, workdir: Path
) -> float:
    spool = Spool(workdir / f"drain-{time.monotonic_ns()}.sqlite3")
    spool.append(items)
    worker = DeliveryWorker(spool, make(), batch_size=batch)
    started = time.perf_counter()
    worker.start()
    if not worker.flush(300):
        raise RuntimeError(f"drain did not finish: {worker.stats}")
    elapsed = time.perf_counter() - started
    worker.close()
    spool.close()
    return len(items) / elapsed


def bench_sustained(
    make: Callable[[], Publisher], items: list[SpoolItem], batch: int, workdir: Path
) -> dict[str, float]:
    spool = Spool(workdir / f"sustained-{time.monotonic_ns()}.sqlite3")
    worker = DeliveryWorker(spool, make(), batch_size=batch)
    worker.start()
    peak_pending = 0

    def watch(stop: threading.Event) -> None:
        nonlocal peak_pending
        while not stop.wait(0.01):
            peak_pending = max(peak_pending, len(spool))

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,), daemon=True)
    watcher.start()
    started = time.perf_counter()
    for start in range(0, len(items), CHUNK):
        spool.append(items[start : start + CHUNK])
        worker.notify()
    appended = time.perf_counter() - started
    if not worker.flush(300):
        raise RuntimeError(f"sustained run did not finish: {worker.stats}")
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    worker.close()
    spool.close()
    return {
        "events_per_s": len(items) / elapsed,
        "append_events_per_s": len(items) / appended,
        "peak_pending": float(peak_pending),
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def run_publisher(
    label: str,
    make: Callable[[], Publisher],
    items: list[SpoolItem],
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    bench_send(make, items[: args.batch * 4], args.batch)  # warm-up
    send, drain, sustained, append, peak = [], [], [], [], []
    for _ in range(args.repeats):
        send.append(bench_send(make, items, args.batch))
        drain.append(bench_drain(make, items, args.batch, workdir))
        run = bench_sustained(make, items, args.batch, workdir)
        sustained.append(run["events_per_s"])
        append.append(run["append_events_per_s"])
        peak.append(run["peak_pending"])
    result = {
        "send_events_per_s": summary(send),
        "worker_drain_events_per_s": summary(drain),
        "worker_sustained_events_per_s": summary(sustained),
        "spool_append_events_per_s_during_sustained": summary(append),
        "peak_spool_pending_during_sustained": summary(peak),
    }
    print(f"{label:10s} " + "  ".join(f"{k}={v['median']}" for k, v in result.items()), flush=True)
    return result


def broker_versions() -> dict[str, str]:
    def first_line(*argv: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0]

    out = {
        "redis-server": first_line("redis-server", "--version"),
        "mosquitto": first_line("/usr/sbin/mosquitto", "-h"),
        "python": sys.version.split()[0],
    }
    for dist in ("redis", "paho-mqtt", "visionflow"):
        out[dist] = metadata.version(dist)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    items = make_events(args.events, streams=4)
    payload_bytes = statistics.mean(len(item[3]) for item in items)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        servers: list[BrokerServer] = []
        try:
            for make_server, name in ((redis_server, "redis"), (mosquitto_server, "mqtt")):
                (workdir / name).mkdir()
                servers.append(make_server(workdir / name))
                servers[-1].start()
            redis_url, mqtt_url = servers[0].url, servers[1].url
            cases: dict[str, Callable[[], Publisher]] = {
                "redis": lambda: make_publisher("redis", redis_url),
                "mqtt_qos1": lambda: make_publisher("mqtt", mqtt_url, qos=1),
                "mqtt_qos0": lambda: make_publisher("mqtt", mqtt_url, qos=0),
            }
            for label, make in cases.items():
                results[label] = run_publisher(label, make, items, args, workdir)
        finally:
            for server in servers:
                server.kill()
    report = {
        "benchmark": "events_redis_mqtt",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "versions": broker_versions(),
        "git": git_info(),
        "config": {
            "events": args.events,
            "streams": 4,
            "batch_size": args.batch,
            "append_chunk": CHUNK,
            "repeats": args.repeats,
            "mean_payload_bytes": round(payload_bytes, 1),
            "brokers": "redis-server and mosquitto on 127.0.0.1, no persistence, no consumer",
        },
        "results": results,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
