"""Publish events to an MQTT broker (paho-mqtt 2.x, MQTT 3.1.1).

Topic layout, with the default prefix ``visionflow``::

    visionflow/<stream_id>/events/<event_type>   one message per event (JSON)
    visionflow/status/<client_id>                 retained "online" / "offline"

The status topic says whether the publisher is alive: ``online`` is
published (retained) on every connect, ``offline`` (retained) on a clean
close, and the broker publishes ``offline`` itself as the Last Will when the
connection dies without a goodbye (crash, kill -9, network loss).

With QoS 1 :meth:`MqttPublisher.send` returns only once the broker has
acknowledged (PUBACK) every message of the batch; a lost connection or a
missed deadline raises :class:`~visionflow.errors.PublishError` and the
delivery worker sends the whole batch again (at-least-once: consumers dedupe
by ``event_id``). QoS 0 waits only until the messages are written to the
socket. A whole batch is in flight at once, so it costs about one round
trip, not one per message.

``paho-mqtt`` is imported when a publisher is created, not with ``visionflow``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from visionflow.errors import MissingDependencyError, PipelineStateError, PublishError
from visionflow.events.jsonl import PublisherState
from visionflow.events.publishers.base import Record
from visionflow.events.redact import resolve_secret

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt_client

    from visionflow.config.schema import MqttPublisherConfig

logger = logging.getLogger(__name__)

_ONLINE = b"online"
_OFFLINE = b"offline"
_WAIT_SLICE_S = 0.05
"""How often a waiting send() looks for a lost connection, seconds."""
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class MqttPublisher:
    """Sends batches of records to an MQTT broker (see the module docstring).

    ``send`` and ``close`` are called from one thread (the delivery worker);
    paho's network loop runs in a background thread started by ``connect``.

    Args:
        config: the publisher's config (URL, topic prefix, QoS, client id,
            credentials, keepalive, TLS).
        connect_timeout_s: how long ``connect`` waits for the broker's
            CONNACK, seconds.
        publish_timeout_s: how long ``send`` waits for all PUBACKs of one
            batch, seconds.
        max_inflight: QoS 1 messages sent but not yet acknowledged, at most;
            0 (the default) sets no limit, so one batch is in flight at once.
            paho's bookkeeping costs O(in flight) per PUBACK under a limit.

    Raises:
        MissingDependencyError: ``paho-mqtt`` is not installed.
        ConfigError: ``password_env`` names an unset environment variable
            (the config itself validated the URL).
    """

    def __init__(
        self,
        config: MqttPublisherConfig,
        *,
        connect_timeout_s: float = 5.0,
        publish_timeout_s: float = 5.0,
        max_inflight: int = 0,
    ) -> None:
        self.name = config.publisher_name
        self._mqtt = _import_paho()  # fail at start-up, not in the delivery thread
        self._config = config
        self._host, self._port, self._use_tls = _parse_url(config.url)
        self._password = resolve_secret(
            config.password,
            config.password_env,
            field=f"events.publishers[{self.name!r}].password_env",
        )
        self.client_id = config.client_id or f"visionflow-{uuid.uuid4().hex[:12]}"
        self.status_topic = f"{config.topic_prefix}/status/{self.client_id}"
        self._connect_timeout_s = connect_timeout_s
        self._publish_timeout_s = publish_timeout_s
        self._max_inflight = max_inflight
        self._client: mqtt_client.Client | None = None
        self._connack = threading.Event()
        self._connected = threading.Event()
        self._refusal = ""
        self._online: mqtt_client.MQTTMessageInfo | None = None
        self._disconnects = 0
        self._state = PublisherState.OPEN

    @property
    def state(self) -> PublisherState:
        """Whether the publisher is open or closed."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether the client holds an acknowledged connection right now."""
        return self._connected.is_set()

    def topic(self, stream_id: str, event_type: str) -> str:
        """The topic of an event: ``<prefix>/<stream_id>/events/<event_type>``."""
        return f"{self._config.topic_prefix}/{stream_id}/events/{event_type}"

    def connect(self) -> None:
        """Create a fresh client, connect, and start paho's network thread.

        Raises:
            PipelineStateError: the publisher is closed.
            PublishError: the broker is unreachable, refused the connection
                (e.g. bad credentials) or did not answer in time.
        """
        self._check_open()
        self._drop_client()
        self._connack.clear()
        self._refusal = ""
        self._online = None
        client = self._new_client()
        try:
            client.connect(self._host, self._port, keepalive=int(self._config.keepalive_s))
        except (OSError, ValueError) as exc:
            _close_sockets_of(exc)
            raise self._publish_error(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        client.loop_start()
        self._client = client
        deadline = time.monotonic() + self._connect_timeout_s
        if not self._connack.wait(self._connect_timeout_s) or not self._connected.is_set():
            why = self._refusal or f"no CONNACK within {self._connect_timeout_s} s"
            self._drop_client()
            raise self._publish_error(f"cannot connect: {why}")
        try:  # "online" is out before connect() returns: no event overtakes it
            if self._online is not None:  # set by _on_connect before the CONNACK event
                self._wait_published(client, self._online, deadline, self._disconnects)
        except PublishError:
            self._drop_client()
            raise
        logger.info("publisher %r connected to %s as %r", self.name, self._where(), self.client_id)

    def send(self, records: Sequence[Record]) -> None:
        """Publish every record in order and wait for the broker to take them all.

        Connects first if ``connect`` was never called.

        Raises:
            PipelineStateError: the publisher is closed.
            PublishError: not connected, the connection dropped, or the
                acknowledgements did not arrive within ``publish_timeout_s``.
        """
        self._check_open()
        if not records:
            return
        if self._client is None:
            self.connect()
        client = self._client
        if client is None or not self._connected.is_set():
            raise self._publish_error("not connected")
        disconnects = self._disconnects
        deadline = time.monotonic() + self._publish_timeout_s
        infos = [self._publish(client, record) for record in records]
        for info in infos:
            self._wait_published(client, info, deadline, disconnects)

    def close(self) -> None:
        """Publish the retained ``offline`` status, disconnect; closing twice is safe."""
        if self._state is PublisherState.CLOSED:
            return
        self._state = PublisherState.CLOSED
        client = self._client
        if client is not None and self._connected.is_set():
            info = client.publish(self.status_topic, _OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(self._connect_timeout_s)
            except (RuntimeError, ValueError) as exc:
                logger.warning("publisher %r: could not publish offline status: %s", self.name, exc)
        self._drop_client()
        logger.debug("publisher %r closed", self.name)

    def __enter__(self) -> MqttPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"MqttPublisher(name={self.name!r}, broker={self._where()!r}, "
            f"client_id={self.client_id!r}, qos={self._config.qos}, state={self._state.value})"
        )

    def _new_client(self) -> mqtt_client.Client:
        mqtt = self._mqtt
        client: mqtt_client.Client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.max_inflight_messages_set(self._max_inflight)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.connect_timeout = self._connect_timeout_s
        client.will_set(self.status_topic, _OFFLINE, qos=1, retain=True)
        if self._config.username is not None or self._password is not None:
            client.username_pw_set(self._config.username or "", self._password)
        if self._use_tls:
            self._set_tls(client)
        return client

    def _set_tls(self, client: mqtt_client.Client) -> None:
        tls = self._config.tls
        insecure = tls is not None and tls.insecure_skip_verify
        client.tls_set(
            ca_certs=_path_or_none(tls.ca_file) if tls is not None else None,
            certfile=_path_or_none(tls.cert_file) if tls is not None else None,
            keyfile=_path_or_none(tls.key_file) if tls is not None else None,
            cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED,
        )
        if insecure:
            client.tls_insecure_set(True)

    def _publish(self, client: mqtt_client.Client, record: Record) -> mqtt_client.MQTTMessageInfo:
        topic = self.topic(record.stream_id, record.event_type)
        info = client.publish(topic, record.payload, qos=self._config.qos)
        if info.rc != 0:  # MQTT_ERR_SUCCESS; NO_CONN when the connection just dropped
            raise self._publish_error(f"cannot publish to {topic!r} (paho rc={info.rc})")
        return info

    def _wait_published(
        self,
        client: mqtt_client.Client,
        info: mqtt_client.MQTTMessageInfo,
        deadline: float,
        disconnects: int,
    ) -> None:
        # Wait in slices to fail fast when the connection drops: paho would
        # otherwise keep the message until it reconnects by itself.
        while not info.is_published():
            _quick_ack(client)
            if self._disconnects != disconnects:
                raise self._publish_error("connection lost before the broker acknowledged")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._publish_error("the broker did not acknowledge in time")
            info.wait_for_publish(min(remaining, _WAIT_SLICE_S))

    def _on_connect(
        self,
        client: mqtt_client.Client,
        userdata: object,
        flags: object,
        reason: Any,
        props: object,
    ) -> None:
        if reason.is_failure:
            self._refusal = f"broker refused the connection: {reason}"
            client.disconnect()  # no endless reconnects with credentials it refuses
        else:
            self._connected.set()
            self._online = client.publish(self.status_topic, _ONLINE, qos=1, retain=True)
        self._connack.set()

    def _on_disconnect(
        self,
        client: mqtt_client.Client,
        userdata: object,
        flags: object,
        reason: Any,
        props: object,
    ) -> None:
        self._connected.clear()
        self._disconnects += 1
        if self._state is PublisherState.OPEN:
            logger.warning("publisher %r lost the broker %s: %s", self.name, self._where(), reason)

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.disconnect()  # a clean DISCONNECT: the broker drops the Last Will
        client.loop_stop()
        self._connected.clear()

    def _check_open(self) -> None:
        if self._state is PublisherState.CLOSED:
            raise PipelineStateError(f"MqttPublisher {self.name!r} is closed; create a new one")

    def _where(self) -> str:
        scheme = "mqtts" if self._use_tls else "mqtt"
        return f"{scheme}://{self._host}:{self._port}"

    def _publish_error(self, message: str) -> PublishError:
        return PublishError(f"publisher {self.name!r} ({self._where()}): {message}")


def _quick_ack(client: mqtt_client.Client) -> None:
    """ACK the broker's segments at once while we wait for PUBACKs (Linux only).

    Brokers with Nagle's algorithm on (mosquitto's default, ``set_tcp_nodelay
    false``) hold each small PUBACK until the previous one is ACKed; our
    kernel delays that ACK by up to 40 ms when we have nothing to send, so
    every batch would stall ~40 ms (5x fewer events/s on loopback).
    TCP_QUICKACK is not sticky, hence set on every wait.
    """
    sock = client.socket()
    if _TCP_QUICKACK is not None and isinstance(sock, socket.socket):  # SSLSocket too
        with contextlib.suppress(OSError):  # closed under us: the wait sees the disconnect
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


def _close_sockets_of(exc: BaseException) -> None:
    """Close the sockets that the frames of ``exc``'s traceback still hold.

    paho-mqtt 2.2 does not close its TLS socket when the handshake fails (an
    untrusted certificate, say), so every retry would leak a file descriptor
    until the garbage collector finds it.
    """
    tb = exc.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, socket.socket):
                value.close()
        tb = tb.tb_next


def _import_paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError as exc:
        raise MissingDependencyError(
            "the MQTT publisher needs the 'paho-mqtt' package: pip install 'visionflow[brokers]'"
        ) from exc
    return mqtt


def _parse_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, use_tls)`` of an ``mqtt://`` / ``mqtts://`` URL the config validated."""
    parts = urllib.parse.urlsplit(url)
    use_tls = parts.scheme == "mqtts"
    return parts.hostname or "localhost", parts.port or (8883 if use_tls else 1883), use_tls


def _path_or_none(path: object) -> str | None:
    return None if path is None else str(path)
