"""The contract between the delivery machinery and a broker publisher.

A publisher only *sends*: it never queues, retries or spools. The delivery
worker (``visionflow.events.delivery``) takes records from the durable spool
in order, calls :meth:`Publisher.send` with a batch, and acknowledges the
batch in the spool only after ``send`` returned. If ``send`` raises
:class:`~visionflow.errors.PublishError`, the worker backs off and retries
the same batch later (after :meth:`Publisher.connect`), so delivery is
at-least-once and in spool order (hence in order per stream). Consumers drop
duplicates by ``event_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Record:
    """One event as stored in the spool and handed to a publisher.

    Attributes:
        seq: spool sequence number, strictly increasing in delivery order.
        stream_id: source stream of the event (Kafka key, MQTT topic level).
        event_id: the event's unique id (for consumer-side dedupe).
        event_type: ``line_crossed``, ``counts``, ... (topic routing, filters).
        payload: the serialised event, UTF-8 JSON, in the publisher's format.
    """

    seq: int
    stream_id: str
    event_id: str
    event_type: str
    payload: bytes


@runtime_checkable
class Publisher(Protocol):
    """A broker client that sends batches of records, all or nothing.

    Implementations import their client library lazily (in ``__init__`` or
    ``connect``) and translate its errors into
    :class:`~visionflow.errors.PublishError` (transient: retry later) or
    :class:`~visionflow.errors.ConfigError` (permanent: bad URL, bad
    credentials format). Credentials never appear in logs, errors or ``repr``.
    """

    name: str
    """The publisher's name from the config, used in logs and metrics."""

    def connect(self) -> None:
        """(Re)connect to the broker; raise PublishError if it is unreachable."""

    def send(self, records: Sequence[Record]) -> None:
        """Deliver every record (in order) or raise PublishError.

        Returning means the broker has accepted all of them (e.g. Redis
        replied to XADD, MQTT QoS 1 PUBACK received, Kafka delivery report
        succeeded, webhook answered 2xx).
        """

    def close(self) -> None:
        """Flush and disconnect; idempotent."""
