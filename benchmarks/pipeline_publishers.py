"""Pipeline fps with and without each event publisher attached (issue 6: < 2 % fps loss).

The demo pipeline (``data/vtest.mp4``, 795 frames at 768x576, YOLOv3-tiny 416,
the walkway line and the plaza zone) with ``output.video: false``, so the run
is inference-bound and what a publisher costs shows up in the fps. Events are
made dense so the publishers have real work: a ``counts`` event every
``--counts-interval-s`` of video (default 0.1 s = every frame of the 10 fps
clip) and a ``stream_stats`` event every ``--stats-interval-s`` of wall time,
besides the line and zone events. Every variant writes ``events.jsonl``
(``events.jsonl: true``, the default); the variants add one broker publisher,
with its default settings, next to it:

* ``baseline``: JSON Lines only;
* ``redis``: XADD to a ``redis-server`` on 127.0.0.1;
* ``mqtt``: QoS 1 to a ``mosquitto`` on 127.0.0.1 (one QoS 1 subscriber counts arrivals);
* ``kafka``: librdkafka's mock cluster (3 brokers, replication 3, acks=all, idempotent);
* ``webhook``: ``http.server`` on 127.0.0.1, batches of 100.

Every broker runs for the whole benchmark (idle during the other variants), in
this process (Kafka mock cluster, webhook server, MQTT subscriber) or as a
child of it (redis-server, mosquitto), the servers of the test suite. Each
pipeline run is a fresh subprocess. One untimed warm-up run per variant, then
``--rounds`` rounds that run every variant once, the order rotated by one each
round. fps = frames / pipeline wall time (``RunSummary.fps``: model loading
excluded; the final flush of every publisher included). ``fps_processing``
leaves out the start and the end: frames after the first batch / (last batch -
first batch), the steady rate while events flow. Loss = 1 - variant median /
baseline median; the baseline's own spread (max - min over median) is the
noise floor. After each run the events the broker holds (Redis XLEN, Kafka high
watermark, webhook and MQTT arrivals) are compared with what the publisher
reports delivered. The result goes to ``benchmarks/results/pipeline_publishers.json``.

Usage::

    .venv/bin/python benchmarks/pipeline_publishers.py [--rounds 3] [--variants baseline redis]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULT = HERE / "results" / "pipeline_publishers.json"
HELPERS = (
    REPO / "tests" / "integration" / "brokers",
    REPO / "tests" / "integration" / "brokers_kafka_webhook",
)

from cpu_e2e import (  # noqa: E402
    _busy_cpu_s,
    _children_cpu_s,
    _stage_dict,
    git_info,
    machine_info,
)
from cpu_e2e import versions as base_versions  # noqa: E402

VARIANTS = ("baseline", "redis", "mqtt", "kafka", "webhook")
BROKERS = VARIANTS[1:]
TARGET_LOSS_PCT = 2.0
DISTURBED_SHARE = 0.05
"""A run during which unrelated processes used more than this share of the CPUs is flagged."""
MQTT_PREFIX = "visionflow-bench"
KAFKA_PARTITIONS = 1
KAFKA_REPLICATION = 3


# -- worker (one pipeline run, in a fresh process) ----------------------------------------


def bench_config(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    """The demo config as a plain mapping, with dense events, no video and the publisher."""
    from visionflow.cli.demo import demo_config

    data: dict[str, Any] = demo_config(Path(args.assets)).model_dump(mode="json")
    if args.clip:
        data["sources"][0]["uri"] = str(Path(args.clip).resolve())
    data["output"].update(dir=str(out_dir), video=False)
    events = data["events"]
    events.update(
        jsonl=True,
        counts_interval_s=args.counts_interval_s,
        stats_interval_s=args.stats_interval_s,
        publishers=[],
    )
    publisher = publisher_config(args.worker, args.endpoint, args.run_id)
    if publisher is not None:
        events["publishers"] = [publisher]
    return data


def publisher_config(variant: str, endpoint: str | None, run_id: str) -> dict[str, Any] | None:
    """The broker publisher of ``variant``, at defaults apart from where events go."""
    if variant == "baseline":
        return None
    if variant == "redis":
        return {"type": "redis", "url": endpoint, "stream_key": f"{MQTT_PREFIX}:{run_id}"}
    if variant == "mqtt":
        return {
            "type": "mqtt",
            "url": endpoint,
            "topic_prefix": f"{MQTT_PREFIX}/{run_id}",
            "qos": 1,
        }
    if variant == "kafka":
        return {"type": "kafka", "bootstrap_servers": endpoint, "topic": kafka_topic(run_id)}
    if variant == "webhook":
        return {"type": "webhook", "url": endpoint}
    raise ValueError(f"unknown variant {variant!r}")


def kafka_topic(run_id: str) -> str:
    return f"{MQTT_PREFIX}-{run_id}"


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline once and describe the run."""
    from visionflow import Pipeline
    from visionflow.config import validate_mapping

    out_dir = Path(args.worker_dir)
    config = validate_mapping(bench_config(args, out_dir), source="pipeline_publishers")
    batch_end: list[float] = []
    batch_size: list[int] = []

    def on_batch(batch: Any, detections: Any, tracks: Any) -> None:
        batch_end.append(time.perf_counter())
        batch_size.append(len(batch))

    started = time.perf_counter()
    summary = Pipeline(config, on_batch=on_batch).run()
    returned = time.perf_counter()
    steady_frames = sum(batch_size[1:])
    steady_s = batch_end[-1] - batch_end[0] if len(batch_end) > 1 else 0.0
    events = Counter(
        json.loads(line)["type"]
        for line in (out_dir / "events.jsonl").read_text().splitlines()
        if line.strip()
    )
    stages = _stage_dict(summary.stats.summary())
    return {
        "variant": args.worker,
        "run_id": args.run_id,
        "frames": summary.frames,
        "batches": summary.batches,
        "wall_s": summary.wall_s,
        "fps": summary.fps,
        "fps_processing": steady_frames / steady_s if steady_s > 0 else 0.0,
        "after_last_batch_s": returned - batch_end[-1] if batch_end else None,
        "total_s": returned - started,
        "events_written_jsonl": summary.events_written,
        "events_by_type": dict(sorted(events.items())),
        "delivery": {name: asdict(stats) for name, stats in summary.delivery.items()},
        "process_cpu_s": summary.process_cpu_s,
        "events_thread_cpu_s": summary.sink_cpu_s.get("events", 0.0),
        "delivery_threads_cpu_s": sum(d.cpu_s for d in summary.delivery.values()),
        "end_to_end_ms": {k: stages.get("end_to_end", {}).get(k) for k in ("p50_ms", "p99_ms")},
        "stages": stages,
        "line_counts": summary.line_counts,
        "zone_counts": summary.zone_counts,
        "failed_streams": [s.stream_id for s in summary.failed_streams],
        "interrupted": summary.interrupted,
        "error": summary.error,
    }


# -- brokers (this process and its children, for the whole benchmark) ----------------------


class Brokers:
    """Every broker on 127.0.0.1, started once; endpoints and arrival counts per run."""

    def __init__(self, workdir: Path) -> None:
        sys.path[:0] = [str(p) for p in HELPERS]
        import redis
        from _broker_clients import MqttCollector
        from _broker_servers import mosquitto_server, redis_server
        from kafka_webhook_helpers import MockKafkaCluster, WebhookServer

        for name in ("redis", "mqtt"):
            (workdir / name).mkdir(parents=True, exist_ok=True)
        self.redis = redis_server(workdir / "redis")
        self.mosquitto = mosquitto_server(workdir / "mqtt")
        self.redis.start()
        self.mosquitto.start()
        self.redis_client = redis.Redis.from_url(self.redis.url)
        self.kafka = MockKafkaCluster(brokers=3)
        self.webhook = WebhookServer()
        self.mqtt = MqttCollector(self.mosquitto.port, topic=f"{MQTT_PREFIX}/+/+/events/#")
        self.describe = {
            "redis": f"redis-server --save '' --appendonly no on {self.redis.url}",
            "mqtt": f"mosquitto on {self.mosquitto.url}, persistence off, one QoS 1 subscriber",
            "kafka": (
                f"librdkafka mock cluster, 3 brokers ({self.kafka.bootstrap_servers}), a topic "
                f"per run with {KAFKA_PARTITIONS} partition(s), replication {KAFKA_REPLICATION}"
            ),
            "webhook": f"http.server (ThreadingHTTPServer) thread, {self.webhook.url}",
        }

    def close(self) -> None:
        self.mqtt.close()
        self.webhook.stop()
        self.kafka.close()
        self.redis_client.close()
        self.mosquitto.stop()
        self.redis.stop()

    def endpoint(self, variant: str, run_id: str) -> str | None:
        """Where ``variant``'s publisher sends, ready for ``run_id`` (Kafka: its topic)."""
        if variant == "redis":
            return f"{self.redis.url}/0"
        if variant == "mqtt":
            return self.mosquitto.url
        if variant == "kafka":
            self.kafka.create_topic(kafka_topic(run_id), KAFKA_PARTITIONS, KAFKA_REPLICATION)
            return self.kafka.bootstrap_servers
        if variant == "webhook":
            return self.webhook.url
        return None

    def arrived(self, variant: str, run_id: str, *, webhook_before: int) -> int | None:
        """Events of ``run_id`` that the broker holds (or its consumer got)."""
        if variant == "redis":
            return int(self.redis_client.xlen(f"{MQTT_PREFIX}:{run_id}"))
        if variant == "mqtt":
            prefix = f"{MQTT_PREFIX}/{run_id}/"
            return sum(m.topic.startswith(prefix) for m in self.mqtt.messages)
        if variant == "kafka":
            return self._kafka_messages(kafka_topic(run_id))
        if variant == "webhook":
            return len(self.webhook.received_ids()) - webhook_before
        return None

    def _kafka_messages(self, topic: str) -> int:
        import confluent_kafka

        consumer = confluent_kafka.Consumer(
            {"bootstrap.servers": self.kafka.bootstrap_servers, "group.id": "bench"}
        )
        try:
            return sum(
                consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p), 10.0)[1]
                for p in range(KAFKA_PARTITIONS)
            )
        finally:
            consumer.close()

    def cpu_s(self) -> float:
        """CPU seconds used so far by the broker processes (redis-server, mosquitto)."""
        return sum(_process_cpu_s(server) for server in (self.redis, self.mosquitto))


def _process_cpu_s(server: Any) -> float:
    proc = getattr(server, "_proc", None)
    if proc is None:
        return 0.0
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- orchestration --------------------------------------------------------------------------


def spawn(
    variant: str, run_id: str, brokers: Brokers | None, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """One pipeline run of ``variant`` in a fresh interpreter; its JSON result plus CPU use."""
    out_dir, result_path = work / run_id, work / f"{run_id}.json"
    endpoint = brokers.endpoint(variant, run_id) if brokers else None
    cmd = [sys.executable, __file__, "--worker", variant, "--run-id", run_id]
    cmd += ["--assets", str(args.assets), "--worker-dir", str(out_dir)]
    cmd += ["--json-out", str(result_path), "--counts-interval-s", str(args.counts_interval_s)]
    cmd += ["--stats-interval-s", str(args.stats_interval_s)]
    if args.clip:
        cmd += ["--clip", str(args.clip)]
    if endpoint:
        cmd += ["--endpoint", endpoint]
    env = {**os.environ, "VISIONFLOW_CACHE": str(Path(args.assets) / "cache")}
    webhook_before = len(brokers.webhook.received_ids()) if brokers else 0
    load = os.getloadavg()
    busy0, child0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    broker0, self0 = (brokers.cpu_s() if brokers else 0.0), _self_cpu_s()
    try:
        subprocess.run(cmd, check=True, env=env, cwd=REPO, timeout=args.run_timeout)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{run_id} did not finish in {args.run_timeout} s (hung?)") from exc
    busy1, child1, t1 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    broker1, self1 = (brokers.cpu_s() if brokers else 0.0), _self_cpu_s()
    run: dict[str, Any] = json.loads(result_path.read_text())
    run["load_avg_at_start"] = list(load)
    run["pipeline_process_cpu_s"] = child1 - child0
    # Brokers outside the pipeline process: redis-server / mosquitto, and this
    # process (Kafka mock cluster, webhook server, MQTT subscriber).
    run["broker_cpu_s"] = (broker1 - broker0) + (self1 - self0)
    foreign = max(busy1 - busy0 - (child1 - child0) - run["broker_cpu_s"], 0.0)
    run["foreign_cpu_s"] = foreign
    run["foreign_cpu_share"] = foreign / ((t1 - t0) * (os.cpu_count() or 1))
    if brokers and variant in BROKERS:
        run["broker_arrived"] = wait_arrived(brokers, variant, run, webhook_before)
    return run


def wait_arrived(brokers: Brokers, variant: str, run: dict[str, Any], webhook_before: int) -> int:
    """Broker-side count of the run's events (waits briefly for in-flight MQTT messages)."""
    delivered = sum(d["delivered"] for d in run["delivery"].values())
    deadline = time.monotonic() + 5.0
    while True:
        arrived = brokers.arrived(variant, run["run_id"], webhook_before=webhook_before) or 0
        if arrived >= delivered or time.monotonic() > deadline:
            return arrived
        time.sleep(0.1)


@contextmanager
def broker_set(work: Path, variants: list[str]) -> Iterator[Brokers | None]:
    brokers = Brokers(work / "brokers") if any(v in BROKERS for v in variants) else None
    try:
        yield brokers
    finally:
        if brokers is not None:
            brokers.close()


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.out_dir or tempfile.mkdtemp(prefix="visionflow-bench-pub-"))
    work.mkdir(parents=True, exist_ok=True)
    variants: list[str] = args.variants
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "benchmark": "pipeline_publishers",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "versions": versions(),
        "git": git_info(),
    }
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    warm: dict[str, dict[str, Any]] = {}
    with broker_set(work, variants) as brokers:
        report["config"] = {
            "variants": variants,
            "rounds": args.rounds,
            "warmup": not args.no_warmup,
            "order": "each round runs every variant once, rotated by one per round",
            "counts_interval_s": args.counts_interval_s,
            "stats_interval_s": args.stats_interval_s,
            "brokers": brokers.describe if brokers else {},
            "pipeline": bench_config(_as_worker(args, "baseline"), work / "config"),
        }
        if not args.no_warmup:
            print("warm-up (excluded)")
            for variant in variants:
                warm[variant] = spawn(variant, f"warmup-{variant}", brokers, args, work)
                _print_run(warm[variant])
        for i in range(args.rounds):
            order = variants[i % len(variants) :] + variants[: i % len(variants)]
            for position, variant in enumerate(order):
                run = spawn(variant, f"round{i}-{variant}", brokers, args, work)
                run["round"], run["position"] = i, position
                runs[variant].append(run)
                _print_run(run)
    report["load_avg_before"], report["load_avg_after"] = list(load_before), list(os.getloadavg())
    report["warmup_runs"] = warm
    report["runs"] = runs
    report["summary"] = summarise(runs, variants)
    return report


def _as_worker(args: argparse.Namespace, variant: str) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "worker": variant, "endpoint": None, "run_id": "-"})


def _print_run(run: dict[str, Any]) -> None:
    delivery = " ".join(
        f"{name} {d['delivered']}/{d['pending']}/{d['dropped']}"
        for name, d in run["delivery"].items()
    )
    arrived = f", broker has {run['broker_arrived']}" if "broker_arrived" in run else ""
    print(
        f"  {run['run_id']:<18} {run['fps']:6.2f} fps ({run['fps_processing']:6.2f} processing)"
        f"  {sum(run['events_by_type'].values())} events"
        f"  delivered/pending/dropped {delivery or '-'}{arrived}"
        f"  (load {run['load_avg_at_start'][0]:.2f}, other processes"
        f" {100 * run['foreign_cpu_share']:.1f}% of the CPUs)",
        flush=True,
    )


# -- summary --------------------------------------------------------------------------------


def stats_of(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def loss_pct(value: float, baseline: float) -> float:
    return 100.0 * (1.0 - value / baseline)


def summarise(runs: dict[str, list[dict[str, Any]]], variants: list[str]) -> dict[str, Any]:
    fps = {v: stats_of([r["fps"] for r in runs[v]]) for v in variants}
    proc = {v: stats_of([r["fps_processing"] for r in runs[v]]) for v in variants}
    out: dict[str, Any] = {"fps": fps, "fps_processing": proc, "variants": {}}
    base = fps.get("baseline")
    if base is not None:
        out["baseline_noise_pct"] = 100.0 * (base["max"] - base["min"]) / base["median"]
        out["baseline_noise_processing_pct"] = (
            100.0 * (proc["baseline"]["max"] - proc["baseline"]["min"]) / proc["baseline"]["median"]
        )
    for v in variants:
        rs = runs[v]
        entry: dict[str, Any] = {
            "per_run_fps": [r["fps"] for r in rs],
            "per_run_fps_processing": [r["fps_processing"] for r in rs],
            "events_per_run": [sum(r["events_by_type"].values()) for r in rs],
            "events_by_type_per_run": [r["events_by_type"] for r in rs],
            "events_per_s_of_run": statistics.median(
                sum(r["events_by_type"].values()) / r["wall_s"] for r in rs
            ),
            "after_last_batch_s": stats_of([r["after_last_batch_s"] for r in rs]),
            "end_to_end_p50_ms": statistics.median(r["end_to_end_ms"]["p50_ms"] for r in rs),
            "end_to_end_p99_ms": statistics.median(r["end_to_end_ms"]["p99_ms"] for r in rs),
            "pipeline_process_cpu_s": statistics.median(r["pipeline_process_cpu_s"] for r in rs),
            "broker_cpu_s": statistics.median(r["broker_cpu_s"] for r in rs),
            "foreign_cpu_share_max": max(r["foreign_cpu_share"] for r in rs),
            # Noise-free cost: CPU of the event thread + delivery threads as a share
            # of the pipeline process's CPU (the pipeline is CPU-bound on 2 cores).
            "publishing_cpu_share_pct": statistics.median(publishing_share_pct(r) for r in rs),
            "problems": [
                f"{r['run_id']}: {p}" for r in rs for p in run_problems(r) if p is not None
            ],
        }
        if v in BROKERS:
            entry["delivery"] = delivery_totals(rs, v)
        if base is not None and v != "baseline":
            by_round = {r["round"]: r for r in runs["baseline"]}
            paired = [loss_pct(r["fps"], by_round[r["round"]]["fps"]) for r in rs]
            entry["fps_loss_pct"] = loss_pct(fps[v]["median"], base["median"])
            entry["fps_loss_paired_pct"] = {**stats_of(paired), "per_round": paired}
            entry["fps_processing_loss_pct"] = loss_pct(
                proc[v]["median"], proc["baseline"]["median"]
            )
            entry["publishing_cpu_overhead_pct"] = (
                entry["publishing_cpu_share_pct"]
                - out["variants"]["baseline"]["publishing_cpu_share_pct"]
            )
            entry["target_met_by_cpu"] = entry["publishing_cpu_overhead_pct"] < TARGET_LOSS_PCT
            entry["target_loss_below_pct"] = TARGET_LOSS_PCT
            entry["target_met"] = entry["fps_loss_pct"] < TARGET_LOSS_PCT
            entry["loss_within_baseline_noise"] = (
                abs(entry["fps_loss_pct"]) <= out["baseline_noise_pct"]
            )
        out["variants"][v] = entry
    out["disturbed_runs"] = [
        r["run_id"] for v in variants for r in runs[v] if r["foreign_cpu_share"] > DISTURBED_SHARE
    ]
    return out


def publishing_share_pct(run: dict[str, Any]) -> float:
    """Event-thread plus delivery-thread CPU, in % of the pipeline process's CPU."""
    spent = run["events_thread_cpu_s"] + run["delivery_threads_cpu_s"]
    return 100.0 * spent / run["process_cpu_s"] if run["process_cpu_s"] > 0 else 0.0


def delivery_totals(rs: list[dict[str, Any]], variant: str) -> dict[str, Any]:
    """The broker publisher's delivery over every run, and whether it got every event."""
    per_run = []
    for r in rs:
        d = r["delivery"].get(variant, {})
        per_run.append(
            {
                "run_id": r["run_id"],
                "events": sum(r["events_by_type"].values()),
                "delivered": d.get("delivered"),
                "pending": d.get("pending"),
                "dropped": d.get("dropped"),
                "retries": d.get("retries"),
                "broker_arrived": r.get("broker_arrived"),
            }
        )
    return {
        "per_run": per_run,
        "delivered": sum(p["delivered"] or 0 for p in per_run),
        "pending": sum(p["pending"] or 0 for p in per_run),
        "dropped": sum(p["dropped"] or 0 for p in per_run),
        "all_delivered": all(
            p["delivered"] == p["events"] and p["pending"] == 0 and p["dropped"] == 0
            for p in per_run
        ),
        "broker_has_all": all(p["broker_arrived"] == p["events"] for p in per_run),
    }


def run_problems(r: dict[str, Any]) -> list[str | None]:
    return [
        f"error: {r['error']}" if r["error"] else None,
        f"failed streams: {r['failed_streams']}" if r["failed_streams"] else None,
        "interrupted" if r["interrupted"] else None,
    ]


def print_table(report: dict[str, Any]) -> None:
    s = report["summary"]
    print()
    head = "{:<9}{:>22}{:>8}{:>14}{:>10}{:>8}{:>20}{:>9}{:>14}{:>6}"
    print(
        head.format(
            "variant",
            "fps median (min-max)",
            "loss %",
            "paired loss %",
            "proc loss",
            "events",
            "deliv/pend/drop",
            "broker",
            "e2e p50/p99",
            "<2%",
        )
    )
    for v, e in s["variants"].items():
        f = s["fps"][v]
        d = e.get("delivery")
        paired = e.get("fps_loss_paired_pct")
        print(
            head.format(
                v,
                f"{f['median']:.2f} ({f['min']:.2f}-{f['max']:.2f})",
                f"{e['fps_loss_pct']:+.2f}" if "fps_loss_pct" in e else "-",
                f"{paired['median']:+.2f}" if paired else "-",
                f"{e['fps_processing_loss_pct']:+.2f}" if "fps_loss_pct" in e else "-",
                f"{statistics.median(e['events_per_run']):.0f}",
                f"{d['delivered']}/{d['pending']}/{d['dropped']}" if d else "-",
                ("all" if d["broker_has_all"] else "MISSING") if d else "-",
                f"{e['end_to_end_p50_ms']:.0f}/{e['end_to_end_p99_ms']:.0f} ms",
                ("met" if e["target_met"] else "NOT") if "target_met" in e else "-",
            )
        )
    if "baseline_noise_pct" in s:
        print(
            f"baseline noise (max-min)/median: {s['baseline_noise_pct']:.2f}% of fps,"
            f" {s['baseline_noise_processing_pct']:.2f}% of processing fps"
        )
    loads = ", ".join(f"{x:.2f}" for x in report["load_avg_before"])
    print(f"load average (1/5/15 min) before: {loads}", end="; ")
    print("after: " + ", ".join(f"{x:.2f}" for x in report["load_avg_after"]))
    if s["disturbed_runs"]:
        print(f"WARNING: disturbed by other processes: {', '.join(s['disturbed_runs'])}")
    for v, e in s["variants"].items():
        for problem in e["problems"]:
            print(f"WARNING {v}: {problem}")
        if e.get("delivery") and not e["delivery"]["all_delivered"]:
            print(f"WARNING {v}: not every event was delivered (see delivery.per_run)")


def versions() -> dict[str, str]:
    import confluent_kafka

    out = base_versions()
    for dist in ("redis", "paho-mqtt", "confluent-kafka", "httpx", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["librdkafka"] = confluent_kafka.libversion()[0]
    for name, argv in (("redis-server", ["--version"]), ("mosquitto", ["-h"])):
        path = _binary(name)
        if path is None:
            out[name] = "not installed"
            continue
        done = subprocess.run([path, *argv], capture_output=True, text=True, check=False)
        out[name] = ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0]
    return out


def _binary(name: str) -> str | None:
    import shutil

    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="what to run"
    )
    parser.add_argument("--assets", default=str(REPO / "data"), help="demo assets folder")
    parser.add_argument("--clip", help="another clip instead of the demo's (smoke tests)")
    parser.add_argument(
        "--counts-interval-s", type=float, default=0.1, help="counts event period (video s)"
    )
    parser.add_argument(
        "--stats-interval-s", type=float, default=0.5, help="stream_stats period (wall s)"
    )
    parser.add_argument("--out-dir", help="events, spools, broker logs (default: a temp dir)")
    parser.add_argument("--json", default=str(RESULT), help="where to write the result")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up runs")
    parser.add_argument(
        "--run-timeout", type=float, default=300.0, help="seconds before a run counts as hung"
    )
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default="run", help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args)
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
        return
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if "baseline" in args.variants:  # baseline first: the rotation starts from it
        args.variants = ["baseline", *[v for v in args.variants if v != "baseline"]]
    os.environ.setdefault("VISIONFLOW_CACHE", str(Path(args.assets) / "cache"))
    report = orchestrate(args)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
