"""Publish events to a Kafka topic through librdkafka (``confluent-kafka``).

Each event becomes one Kafka message: key = stream id (so every event of a
stream lands in one partition, in order), value = the JSON payload, headers
``event_id`` and ``event_type``. The producer is idempotent with
``acks=all``: librdkafka's own retries never duplicate or reorder a message.
:meth:`KafkaPublisher.send` returns only after every message of the batch got
a successful delivery report; otherwise it raises
:class:`~visionflow.errors.PublishError` and the delivery worker sends the
whole batch again later (at-least-once; consumers drop duplicates by
``event_id``).

The SASL password is read at connect time (from ``sasl_password_env`` or
``sasl_password``) and handed to librdkafka only; the settings dict that
holds it is never logged or kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from visionflow.errors import ConfigError, MissingDependencyError, PipelineStateError, PublishError
from visionflow.events.jsonl import PublisherState
from visionflow.events.publishers.base import Record
from visionflow.events.redact import resolve_secret

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

    from visionflow.config.publishers import KafkaPublisherConfig, TlsConfig

logger = logging.getLogger(__name__)

_INSTALL_HINT = "pip install 'visionflow[brokers]'"

Setting = str | int | bool

# Ordering and at-least-once rest on these; a user setting may not weaken them.
_PINNED: dict[str, Setting] = {"enable.idempotence": True, "acks": "all"}
# Set from dedicated config fields; the librdkafka table must not repeat them.
_FROM_FIELDS = ("bootstrap.servers", "sasl.username", "sasl.password")
_DEFAULTS: dict[str, Setting] = {
    # The spool is the durable buffer: librdkafka gives up on a message after
    # this long, the batch fails and the delivery worker retries it with
    # backoff (Kafka's own default is 5 minutes).
    "message.timeout.ms": 15_000,
    # Same key → same partition as the Java client, for mixed-language setups.
    "partitioner": "murmur2_random",
    "linger.ms": 5,
}
_EQUIVALENT = {"all": ("all", "-1"), "true": ("true", "1")}
_FLUSH_MARGIN_S = 5.0
"""Extra wait beyond ``message.timeout.ms`` before :meth:`send` gives up itself."""


def producer_settings(config: KafkaPublisherConfig) -> dict[str, Setting]:
    """The librdkafka settings for ``config``, without the SASL password.

    Order of precedence: pinned settings, then the ``librdkafka`` table, then
    the dedicated config fields (servers, SASL, TLS), then defaults. The
    password is added at connect time (:func:`~visionflow.events.redact.resolve_secret`).

    Raises:
        ConfigError: a setting conflicts with a pinned one or a config field,
            or a password is given without a user name.
    """
    where = f"publisher {config.publisher_name!r}"
    extra = dict(config.librdkafka)
    _check_extra(extra, where)
    settings: dict[str, Setting] = {
        **_DEFAULTS,
        "bootstrap.servers": ",".join(config.bootstrap_servers),
        **_security_settings(config, where),
    }
    settings.update(extra)
    settings.update(_PINNED)
    return settings


def _check_extra(extra: Mapping[str, Setting], where: str) -> None:
    for key, value in extra.items():
        if key in _FROM_FIELDS:
            raise ConfigError(
                f"{where}: librdkafka[{key!r}] is set by a dedicated field (bootstrap_servers, "
                "sasl_username, sasl_password / sasl_password_env); remove it from librdkafka"
            )
        pinned = _PINNED.get(key)
        if pinned is not None and str(value).lower() not in _same_as(pinned):
            raise ConfigError(
                f"{where}: librdkafka[{key!r}] must stay {pinned!r} (got {value!r}): "
                "ordered at-least-once delivery needs an idempotent producer with acks=all"
            )


def _same_as(pinned: Setting) -> tuple[str, ...]:
    text = str(pinned).lower()
    return _EQUIVALENT.get(text, (text,))


def _security_settings(config: KafkaPublisherConfig, where: str) -> dict[str, Setting]:
    """SASL and TLS fields mapped to librdkafka keys, plus ``security.protocol``."""
    settings = _tls_settings(config.tls)
    if config.sasl_username:
        settings["sasl.mechanism"] = config.sasl_mechanism
        settings["sasl.username"] = config.sasl_username
        # SASL over plaintext would send the password in the clear: TLS unless
        # librdkafka.security.protocol says SASL_PLAINTEXT explicitly.
        settings["security.protocol"] = "SASL_SSL"
    elif config.sasl_password is not None or config.sasl_password_env:
        raise ConfigError(f"{where}: sasl_password(_env) is set but sasl_username is not")
    else:
        settings["security.protocol"] = "SSL" if config.tls is not None else "PLAINTEXT"
    return settings


def _tls_settings(tls: TlsConfig | None) -> dict[str, Setting]:
    if tls is None:
        return {}
    settings: dict[str, Setting] = {}
    if tls.ca_file:
        settings["ssl.ca.location"] = str(tls.ca_file)
    if tls.cert_file:
        settings["ssl.certificate.location"] = str(tls.cert_file)
    if tls.key_file:
        settings["ssl.key.location"] = str(tls.key_file)
    if tls.insecure_skip_verify:
        settings["enable.ssl.certificate.verification"] = False
        settings["ssl.endpoint.identification.algorithm"] = "none"
    return settings


def _sasl_password(config: KafkaPublisherConfig) -> str | None:
    """The SASL password (env variable first), read at connect time."""
    if not config.sasl_username:
        return None
    field = f"publisher {config.publisher_name!r}: sasl_password_env"
    password = resolve_secret(config.sasl_password, config.sasl_password_env, field=field)
    if password is None:
        raise ConfigError(
            f"publisher {config.publisher_name!r}: sasl_username is set but neither "
            "sasl_password nor sasl_password_env is"
        )
    return password


def _import_producer() -> type[Producer]:
    try:
        from confluent_kafka import Producer
    except ImportError as exc:
        raise MissingDependencyError(
            f"the Kafka publisher needs confluent-kafka: {_INSTALL_HINT}"
        ) from exc
    return Producer


def _describe(error: KafkaError | None) -> str:
    return "none reported" if error is None else f"{error.name()}: {error.str()}"


class _LibrdkafkaLog:
    """Where librdkafka's own log lines go (``<this module>.librdkafka``).

    During an outage librdkafka logs every failed reconnect. The first
    connection failure since the last delivered batch keeps its level (it is
    often the only detailed diagnostic: TLS, SASL, DNS); the rest go to DEBUG,
    since the delivery worker already reports the outage once.
    """

    def __init__(self) -> None:
        self.logger = logging.getLogger(f"{__name__}.librdkafka")
        self.failures_logged = 0

    def log(self, level: int, msg: str, *args: object) -> None:
        if args and args[0] == "FAIL":
            self.failures_logged += 1
            if self.failures_logged > 1:
                level = logging.DEBUG
        self.logger.log(level, msg, *args)


class _BatchReport:
    """Collects the delivery reports of one batch (called from ``poll``/``flush``)."""

    __slots__ = ("delivered", "failed", "first_error")

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0
        self.first_error: KafkaError | None = None

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
            return
        self.failed += 1
        if self.first_error is None:
            self.first_error = error


class KafkaPublisher:
    """Sends batches of events to one Kafka topic, all or nothing.

    Implements :class:`~visionflow.events.publishers.base.Publisher`.
    ``confluent-kafka`` is imported when the publisher is created (never by
    ``import visionflow``); the producer itself is created by :meth:`connect`.
    Not thread-safe: the delivery worker calls it from one thread.

    Args:
        config: the ``type: kafka`` publisher section of the config.
        connect_timeout_s: how long :meth:`connect` waits for the cluster's
            metadata before it reports the cluster unreachable, seconds.

    Raises:
        ConfigError: conflicting librdkafka settings, or a password without a user.
        MissingDependencyError: ``confluent-kafka`` is not installed.

    Example::

        publisher = KafkaPublisher(config)
        publisher.connect()
        publisher.send(records)  # returns once Kafka acknowledged all of them
        publisher.close()
    """

    def __init__(self, config: KafkaPublisherConfig, *, connect_timeout_s: float = 10.0) -> None:
        self.name: str = config.publisher_name
        self.topic: str = config.topic
        self.connect_timeout_s = connect_timeout_s
        self._config = config
        self._bootstrap = ",".join(config.bootstrap_servers)
        self._settings = producer_settings(config)
        self._producer_cls = _import_producer()  # fail at build time, not at first send
        timeout_ms = int(self._settings["message.timeout.ms"])
        self._flush_deadline_s = timeout_ms / 1000.0 + _FLUSH_MARGIN_S
        self._producer: Producer | None = None
        self._fatal: KafkaError | None = None
        self._last_client_error: KafkaError | None = None
        self._log = _LibrdkafkaLog()
        self._state = PublisherState.OPEN
        self._events_sent = 0

    @property
    def state(self) -> PublisherState:
        """Whether the publisher is open or closed."""
        return self._state

    @property
    def events_sent(self) -> int:
        """Events acknowledged by Kafka so far (duplicates of retried batches included)."""
        return self._events_sent

    def connect(self) -> None:
        """Create the producer if needed and check that the cluster answers.

        A producer that hit a fatal error is replaced by a new one.

        Raises:
            PublishError: the cluster's metadata did not arrive in time.
            ConfigError: librdkafka rejected a setting, or the password's
                environment variable is not set.
            PipelineStateError: the publisher is closed.
        """
        self._check_open()
        if self._producer is None or self._fatal is not None:
            self._replace_producer()
        self._check_cluster()

    def send(self, records: Sequence[Record]) -> None:
        """Produce every record, wait for all delivery reports, raise if any failed.

        Raises:
            PublishError: a message was not delivered (broker down, timeout,
                fatal producer error); nothing of the batch may be assumed sent.
            PipelineStateError: the publisher is closed.
        """
        self._check_open()
        if not records:
            return
        if self._producer is None or self._fatal is not None:
            self.connect()
        producer = self._producer
        assert producer is not None
        report = _BatchReport()
        deadline = time.monotonic() + self._flush_deadline_s
        try:
            self._produce_all(producer, records, report, deadline)
            remaining = producer.flush(max(0.0, deadline - time.monotonic()))
        except Exception as exc:
            self._abandon(producer)
            raise self._publish_error(f"producing failed: {exc}") from exc
        self._check_report(producer, report, len(records), remaining)
        self._events_sent += len(records)
        self._log.failures_logged = 0
        self._last_client_error = None

    def close(self) -> None:
        """Flush what is left (a few seconds at most) and drop the producer; idempotent."""
        if self._state is PublisherState.CLOSED:
            return
        self._state = PublisherState.CLOSED
        producer, self._producer = self._producer, None
        if producer is not None:
            left = producer.flush(min(5.0, self._flush_deadline_s))
            if left:
                logger.warning(
                    "kafka publisher %r: %d messages undelivered at close", self.name, left
                )
        logger.debug("kafka publisher %r closed after %d events", self.name, self._events_sent)

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"KafkaPublisher(name={self.name!r}, topic={self.topic!r}, "
            f"bootstrap_servers={self._bootstrap!r}, state={self._state.value})"
        )

    def _check_open(self) -> None:
        if self._state is PublisherState.CLOSED:
            raise PipelineStateError(f"kafka publisher {self.name!r} is closed; create a new one")

    def _replace_producer(self) -> None:
        from confluent_kafka import KafkaException

        password = _sasl_password(self._config)
        settings: dict[str, Any] = {
            **self._settings,
            **({"sasl.password": password} if password is not None else {}),
            "error_cb": self._on_error,
            "logger": self._log,
        }
        try:
            producer = self._producer_cls(settings)
        except (KafkaException, ValueError, TypeError) as exc:
            # librdkafka names the property, never the password's value.
            raise ConfigError(
                f"publisher {self.name!r}: librdkafka rejected the settings: {exc}"
            ) from exc
        if self._producer is not None:
            self._abandon(self._producer)
        self._producer, self._fatal = producer, None
        logger.info(
            "kafka publisher %r: producer for topic %r at %s (%s)",
            self.name,
            self.topic,
            self._bootstrap,
            self._settings.get("security.protocol"),
        )

    def _check_cluster(self) -> None:
        from confluent_kafka import KafkaException

        assert self._producer is not None
        try:
            metadata = self._producer.list_topics(self.topic, timeout=self.connect_timeout_s)
        except KafkaException as exc:
            raise self._publish_error(f"cluster unreachable: {exc}") from exc
        topic = metadata.topics.get(self.topic)
        if topic is not None and topic.error is not None:
            raise self._publish_error(f"topic {self.topic!r} is not usable: {topic.error}")

    def _produce_all(
        self, producer: Producer, records: Sequence[Record], report: _BatchReport, deadline: float
    ) -> None:
        topic = self.topic
        for record in records:
            headers: list[tuple[str, str | bytes | None]] = [
                ("event_id", record.event_id),
                ("event_type", record.event_type),
            ]
            while True:
                try:
                    producer.produce(
                        topic, record.payload, record.stream_id, on_delivery=report, headers=headers
                    )
                    break
                except BufferError:
                    # librdkafka's local queue is full: serve reports to drain it.
                    if time.monotonic() > deadline:
                        raise
                    producer.poll(0.05)
        producer.poll(0)

    def _check_report(
        self, producer: Producer, report: _BatchReport, count: int, remaining: int
    ) -> None:
        if remaining == 0 and report.delivered == count:
            return
        self._abandon(producer)
        if report.first_error is not None and report.first_error.fatal():
            self._fatal = report.first_error
        reason = (
            f"{count - report.delivered} of {count} events not delivered "
            f"({report.failed} failed, {remaining} still queued at the deadline); "
            f"first error: {_describe(report.first_error)}"
        )
        if self._last_client_error is not None:
            reason += f"; last client error: {_describe(self._last_client_error)}"
        # The delivery worker logs the outage once; each retry only at DEBUG.
        logger.debug("kafka publisher %r: %s", self.name, reason)
        raise self._publish_error(reason)

    def _abandon(self, producer: Producer) -> None:
        """Drop queued and in-flight messages so a retry does not interleave with them."""
        try:
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            producer.poll(0)
        except Exception:  # the producer may be in a fatal state; purging is best effort
            logger.debug("kafka publisher %r: purge failed", self.name, exc_info=True)

    def _on_error(self, error: KafkaError) -> None:
        # Called from poll/flush. Transient errors (broker down) are logged by
        # librdkafka itself and surface as failed delivery reports.
        self._last_client_error = error
        if error.fatal():
            self._fatal = error
            logger.error("kafka publisher %r: fatal producer error: %s", self.name, error)
        else:
            logger.debug("kafka publisher %r: %s", self.name, error)

    def _publish_error(self, reason: str) -> PublishError:
        return PublishError(f"kafka publisher {self.name!r} (topic {self.topic!r}): {reason}")
