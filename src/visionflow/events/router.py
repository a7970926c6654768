"""Fan events out to every publisher whose filters match, without ever waiting on a broker.

Two kinds of routes:

- *spooled* (brokers): :meth:`EventRouter.publish` appends the serialised
  events to the route's durable :class:`~visionflow.events.spool.Spool` and
  notifies its :class:`~visionflow.events.delivery.DeliveryWorker`; the
  broker is only ever called from that worker's thread.
- *direct* (the JSON Lines file): written synchronously — a local file needs
  no spool — but filtered and formatted the same way.

Each event is serialised once per payload format in use, whatever the number
of routes sharing that format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from visionflow.events.delivery import DeliveryStats, DeliveryWorker
from visionflow.events.formats import PayloadFormat, serialize
from visionflow.events.jsonl import JsonlPublisher
from visionflow.events.schema import Event
from visionflow.events.spool import Spool, SpoolItem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouteFilter:
    """Which events a route takes; None means every event type / every stream."""

    event_types: frozenset[str] | None = None
    streams: frozenset[str] | None = None

    def accepts(self, event: Event) -> bool:
        """Whether ``event`` passes both filters."""
        return (self.event_types is None or event.type in self.event_types) and (
            self.streams is None or event.stream_id in self.streams
        )


@dataclass
class SpooledRoute:
    """A broker publisher behind its spool and delivery worker."""

    name: str
    spool: Spool
    worker: DeliveryWorker
    filter: RouteFilter = field(default_factory=RouteFilter)
    format: PayloadFormat = "visionflow"


@dataclass
class DirectRoute:
    """A JSON Lines publisher written synchronously."""

    name: str
    publisher: JsonlPublisher
    filter: RouteFilter = field(default_factory=RouteFilter)
    format: PayloadFormat = "visionflow"


class EventRouter:
    """Hands events to every matching publisher; owns the routes and closes them.

    Create it, add routes, :meth:`start` it (starts the delivery workers),
    :meth:`publish` from one thread (the pipeline's events thread), and
    :meth:`close` it once. Route names must be unique.
    """

    def __init__(self) -> None:
        self._spooled: list[SpooledRoute] = []
        self._direct: list[DirectRoute] = []
        self._closed = False

    @property
    def names(self) -> list[str]:
        """Route names, direct routes first, in the order added."""
        return [r.name for r in self._direct] + [r.name for r in self._spooled]

    @property
    def events_written(self) -> int:
        """Events written by the direct (JSON Lines) routes."""
        return sum(r.publisher.events_written for r in self._direct)

    def add(self, route: SpooledRoute | DirectRoute) -> None:
        """Add a route (before :meth:`start`).

        Raises:
            ValueError: a route of that name exists.
        """
        if route.name in self.names:
            raise ValueError(f"a publisher named {route.name!r} exists already: {self.names}")
        if isinstance(route, SpooledRoute):
            self._spooled.append(route)
        else:
            self._direct.append(route)

    def start(self) -> None:
        """Start every delivery worker (events left in spools by a previous run go first)."""
        for route in self._spooled:
            route.worker.start()
            if len(route.spool):
                route.worker.notify()

    def publish(self, events: Sequence[Event]) -> None:
        """Serialise and hand ``events`` to every matching route; never waits on a broker.

        Raises:
            OutputError: a spool or the JSON Lines file could not be written.
        """
        if not events:
            return
        cache: dict[tuple[int, str], bytes | None] = {}

        def payload(index: int, fmt: PayloadFormat) -> bytes | None:
            key = (index, fmt)
            if key not in cache:
                cache[key] = serialize(events[index], fmt)
            return cache[key]

        for direct in self._direct:
            lines = [
                p for i in self._matching(events, direct.filter) if (p := payload(i, direct.format))
            ]
            if lines:
                direct.publisher.publish_payloads(lines)
        for route in self._spooled:
            items: list[SpoolItem] = []
            for i in self._matching(events, route.filter):
                data = payload(i, route.format)
                if data is not None:
                    e = events[i]
                    items.append((e.stream_id, e.event_id, e.type, data))
            if items:
                route.spool.append(items)
                route.worker.notify()

    def stats(self) -> dict[str, DeliveryStats]:
        """Delivery counters per route name (direct routes count lines written)."""
        out = {
            r.name: DeliveryStats(delivered=r.publisher.events_written, connected=True)
            for r in self._direct
        }
        out.update({r.name: r.worker.stats for r in self._spooled})
        return out

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush and close every route within ``timeout_s`` overall (idempotent).

        Undelivered broker events stay in their spools for the next run.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout_s
        for route in self._spooled:
            route.worker.close(max(0.0, deadline - time.monotonic()))
            route.spool.close()
        for direct in self._direct:
            try:
                direct.publisher.close()
            except OSError as exc:  # keep closing the others; the file error is logged
                log.error("publisher %s: %s", direct.name, exc)

    @staticmethod
    def _matching(events: Sequence[Event], route_filter: RouteFilter) -> list[int]:
        return [i for i, event in enumerate(events) if route_filter.accepts(event)]
