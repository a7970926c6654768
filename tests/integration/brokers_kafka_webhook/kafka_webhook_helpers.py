"""Real test servers for the Kafka and webhook publishers, and event checks.

- :class:`MockKafkaCluster`: librdkafka's built-in mock cluster (real Kafka
  protocol over TCP on 127.0.0.1), driven through ``ctypes`` on the
  librdkafka that ships inside the ``confluent-kafka`` wheel, because the
  Python binding does not expose ``rd_kafka_mock_*`` (brokers down/up,
  topic creation).
- :class:`WebhookServer`: an ``http.server`` on 127.0.0.1 in a thread that
  records every batch and answers from a script (503, 429, close the
  connection without answering, ...).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import logging
import os
import socket
import ssl
import subprocess
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import confluent_kafka

from visionflow.events.schema import CountsEvent, LineCrossedEvent, ZoneExitedEvent
from visionflow.events.spool import SpoolItem

_PRODUCER = 0
_ERRSTR = 512


def _librdkafka() -> ctypes.CDLL:
    libs = os.path.join(
        os.path.dirname(confluent_kafka.__file__), os.pardir, "confluent_kafka.libs"
    )
    paths = glob.glob(os.path.join(libs, "librdkafka*.so*"))
    lib = ctypes.CDLL(paths[0] if paths else "librdkafka.so.1")
    vp, cp, i32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "rd_kafka_conf_new": (vp, []),
        "rd_kafka_conf_set": (ctypes.c_int, [vp, cp, cp, cp, ctypes.c_size_t]),
        "rd_kafka_new": (vp, [ctypes.c_int, vp, cp, ctypes.c_size_t]),
        "rd_kafka_destroy": (None, [vp]),
        "rd_kafka_mock_cluster_new": (vp, [vp, ctypes.c_int]),
        "rd_kafka_mock_cluster_destroy": (None, [vp]),
        "rd_kafka_mock_cluster_bootstraps": (cp, [vp]),
        "rd_kafka_mock_broker_set_down": (ctypes.c_int, [vp, i32]),
        "rd_kafka_mock_broker_set_up": (ctypes.c_int, [vp, i32]),
        "rd_kafka_mock_topic_create": (ctypes.c_int, [vp, cp, ctypes.c_int, ctypes.c_int]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


class MockKafkaCluster:
    """An in-process librdkafka mock cluster with ``brokers`` brokers (ids 1..n)."""

    def __init__(self, brokers: int = 3) -> None:
        self._lib = _librdkafka()
        errstr = ctypes.create_string_buffer(_ERRSTR)
        conf = self._lib.rd_kafka_conf_new()
        self._lib.rd_kafka_conf_set(conf, b"log_level", b"0", errstr, _ERRSTR)
        self._rk = self._lib.rd_kafka_new(_PRODUCER, conf, errstr, _ERRSTR)
        if not self._rk:
            raise RuntimeError(f"rd_kafka_new failed: {errstr.value.decode()}")
        self._cluster = self._lib.rd_kafka_mock_cluster_new(self._rk, brokers)
        self.broker_ids = range(1, brokers + 1)
        self.bootstrap_servers: str = self._lib.rd_kafka_mock_cluster_bootstraps(
            self._cluster
        ).decode()

    def create_topic(self, topic: str, partitions: int, replication: int = 3) -> None:
        err = self._lib.rd_kafka_mock_topic_create(
            self._cluster, topic.encode(), partitions, replication
        )
        assert err == 0, f"rd_kafka_mock_topic_create({topic!r}) -> {err}"

    def set_down(self) -> None:
        """Every broker closes its connections and refuses new ones."""
        for broker in self.broker_ids:
            self._lib.rd_kafka_mock_broker_set_down(self._cluster, broker)

    def set_up(self) -> None:
        for broker in self.broker_ids:
            self._lib.rd_kafka_mock_broker_set_up(self._cluster, broker)

    def close(self) -> None:
        if self._cluster:
            self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
            self._lib.rd_kafka_destroy(self._rk)
            self._cluster = self._rk = None


def consume_all(
    bootstrap_servers: str, topic: str, partitions: int, timeout_s: float = 15.0
) -> list[confluent_kafka.Message]:
    """Read every partition of ``topic`` from the beginning to its current end."""
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "visionflow-test",
            "enable.auto.commit": False,
            "logger": logging.getLogger("test.kafka.consumer"),
        }
    )
    ends = {
        p: consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p), 5.0)[1]
        for p in range(partitions)
    }
    consumer.assign(
        [
            confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
            for p in range(partitions)
        ]
    )
    next_offset = dict.fromkeys(ends, 0)
    messages: list[confluent_kafka.Message] = []
    deadline = _now() + timeout_s
    try:
        while any(next_offset[p] < ends[p] for p in ends) and _now() < deadline:
            for message in consumer.consume(1000, 0.5):
                assert message.error() is None, message.error()
                messages.append(message)
                next_offset[message.partition()] = message.offset() + 1
    finally:
        consumer.close()
    return messages


def _now() -> float:
    import time

    return time.monotonic()


# -- events -----------------------------------------------------------------


def make_items(streams: Sequence[str], per_stream: int) -> list[SpoolItem]:
    """Pipeline-shaped events, interleaved across ``streams`` as the pipeline emits them."""
    items: list[SpoolItem] = []
    for n in range(per_stream):
        for stream in streams:
            event = _event(stream, n)
            items.append((stream, event.event_id, event.type, event.model_dump_json().encode()))
    return items


def _event(stream: str, n: int) -> LineCrossedEvent | ZoneExitedEvent | CountsEvent:
    common: dict[str, Any] = {"stream_id": stream, "frame_number": n, "pts_seconds": n / 30}
    if n % 10 == 9:
        counts = {"entry": {"in": {"person": n, "car": n // 3}, "out": {"person": n // 2}}}
        return CountsEvent(lines=counts, zones={"lobby": {"person": 3}}, **common)
    track: dict[str, Any] = {"track_id": n + 1, "class_id": 0, "class_name": "person"}
    if n % 2:
        return ZoneExitedEvent(
            zone="lobby",
            dwell_seconds=4.2,
            bbox_xyxy=[10.5, 20.0, 110.25, 300.0],
            **track,
            **common,
        )
    return LineCrossedEvent(
        line="entry",
        direction="in",
        confidence=0.87,
        bbox_xyxy=[12.0, 40.5, 96.0, 250.75],
        **track,
        **common,
    )


def check_exactly_once_in_order(
    items: Sequence[SpoolItem], received: Iterable[tuple[str, str]]
) -> int:
    """Dedupe ``(stream_id, event_id)`` by first arrival; assert all there, in order.

    Returns:
        the number of duplicates that were dropped.
    """
    seen: set[str] = set()
    order: dict[str, list[str]] = defaultdict(list)
    duplicates = 0
    for stream, event_id in received:
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        order[stream].append(event_id)
    expected: dict[str, list[str]] = defaultdict(list)
    for stream, event_id, _, _ in items:
        expected[stream].append(event_id)
    assert set(order) == set(expected)
    for stream, ids in expected.items():
        got = order[stream]
        assert len(got) == len(ids), f"{stream}: {len(got)} of {len(ids)} events arrived"
        assert got == ids, f"{stream}: events out of order"
    return duplicates


# -- webhook server ---------------------------------------------------------

CLOSE = "close"
"""Scripted answer: drop the connection without answering."""
STOP = "stop"
"""Scripted answer: drop the connection and stop the server (port closed)."""


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    headers: dict[str, str]
    events: list[dict[str, Any]]


class WebhookServer:
    """An HTTP/1.1 server on 127.0.0.1 that records batches and follows a script.

    ``script`` holds answers (:class:`Answer`, :data:`CLOSE`, :data:`STOP`) used one per
    request, in order, once ``after`` requests have been answered 200.
    Requests that are not answered 2xx are not recorded as delivered.
    """

    def __init__(self, port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self.lock = threading.Lock()
        self.delivered: list[Received] = []
        self.requests = 0
        self.script: list[Answer | str] = []
        self.after = 0
        self._connections: set[socket.socket] = set()
        self.stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hooks/events"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, answers: Sequence[Answer | str], *, after: int = 0) -> None:
        with self.lock:
            self.script, self.after = list(answers), after

    def stop(self) -> None:
        """Stop listening and drop the open keep-alive connections too (idempotent)."""
        with self.lock:
            if self.stopped.is_set():
                return
            self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def received_ids(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(e["stream_id"], e["event_id"]) for r in self.delivered for e in r.events]

    def _next_answer(self) -> Answer | str:
        with self.lock:
            self.requests += 1
            if self.after > 0:
                self.after -= 1
                return Answer()
            return self.script.pop(0) if self.script else Answer()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Like real servers: without it the body's separate write waits
                # for the client's delayed ACK (40 ms per request).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with server.lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server.lock:
                    server._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = server._next_answer()
                if answer in (CLOSE, STOP):
                    self.close_connection = True
                    if answer == STOP:
                        threading.Thread(target=server.stop, daemon=True).start()
                    return
                assert isinstance(answer, Answer)
                if answer.status < 300:
                    received = Received(dict(self.headers.items()), json.loads(body))
                    with server.lock:
                        server.delivered.append(received)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# -- TLS --------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, *, require_client_cert: bool) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.load_verify_locations(self.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def make_pki(folder: Path) -> Pki:
    """Create the certificates with the ``openssl`` command line (about 0.2 s)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ("-newkey", "rsa:2048", "-nodes", "-days", "2")
    run("req", "-x509", *key, "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    sign = ("-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "san.ext")
    for name in ("server", "client"):
        out = ("-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("req", *key[:3], "-subj", f"/CN={name}", *out)
        run("x509", "-req", "-in", f"{name}.csr", *sign, "-days", "2", "-out", f"{name}.pem")
    return Pki(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
    )
