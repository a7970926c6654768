"""Build the event router from ``events.*`` of the config: publishers, spools, workers.

Broker publisher modules (and their client libraries) are imported only when
the config uses them; a missing client library is a
:class:`~visionflow.errors.MissingDependencyError` with the pip command.
"""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

from visionflow.config import PipelineConfig
from visionflow.config.schema import BrokerPublisherConfig, JsonlPublisherConfig, PublisherConfig
from visionflow.errors import MissingDependencyError
from visionflow.events import (
    DeliveryWorker,
    DirectRoute,
    EventRouter,
    JsonlPublisher,
    Publisher,
    RouteFilter,
    Spool,
    SpooledRoute,
)

log = logging.getLogger(__name__)

_BROKERS: dict[str, tuple[str, str]] = {
    "redis": ("visionflow.events.publishers.redis", "RedisPublisher"),
    "mqtt": ("visionflow.events.publishers.mqtt", "MqttPublisher"),
    "kafka": ("visionflow.events.publishers.kafka", "KafkaPublisher"),
    "webhook": ("visionflow.events.publishers.webhook", "WebhookPublisher"),
}
_INSTALL_HINT = "pip install 'visionflow[brokers]'"
_DEFAULT_BATCH = 500


def build_router(config: PipelineConfig) -> EventRouter:
    """An :class:`EventRouter` with one route per effective publisher (not started).

    Raises:
        MissingDependencyError: a broker's client library is not installed.
        OutputError: a spool or the JSON Lines file cannot be created.
        ConfigError: a publisher rejected its config.
    """
    router = EventRouter()
    out_dir = Path(config.output.dir)
    spool_dir = config.events.spool_dir or out_dir / "spool"
    try:
        for pub in config.events.effective_publishers():
            if isinstance(pub, JsonlPublisherConfig):
                router.add(_jsonl_route(pub, out_dir))
            else:  # brokers come from the YAML list: name their position in errors
                index = config.events.publishers.index(pub)
                router.add(_spooled_route(pub, index, spool_dir))
    except BaseException:
        router.close(timeout_s=0.0)
        raise
    return router


def _filter(pub: PublisherConfig) -> RouteFilter:
    return RouteFilter(
        event_types=frozenset(pub.event_types) if pub.event_types is not None else None,
        streams=frozenset(pub.streams) if pub.streams is not None else None,
    )


def _jsonl_route(pub: JsonlPublisherConfig, out_dir: Path) -> DirectRoute:
    path = fresh(pub.path or out_dir / "events.jsonl")
    publisher = JsonlPublisher(
        path, rotate_bytes=pub.rotate_bytes, rotate_seconds=pub.rotate_seconds
    )
    return DirectRoute(pub.publisher_name, publisher, _filter(pub), pub.format)


def _spooled_route(pub: BrokerPublisherConfig, index: int, spool_dir: Path) -> SpooledRoute:
    publisher = broker_publisher(pub, index)
    spool = Spool(
        spool_dir / f"{pub.publisher_name}.sqlite3",
        max_events=pub.spool.max_events,
        overflow=pub.spool.overflow,
    )
    batch_size = getattr(pub, "batch_size", _DEFAULT_BATCH)
    worker = DeliveryWorker(spool, publisher, batch_size=batch_size)
    return SpooledRoute(pub.publisher_name, spool, worker, _filter(pub), pub.format)


def broker_publisher(pub: BrokerPublisherConfig, index: int) -> Publisher:
    """Import the publisher class of ``pub.type`` and create it from ``pub``.

    Raises:
        MissingDependencyError: its module or client library cannot be imported.
    """
    module_name, class_name = _BROKERS[pub.type]
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        publisher: Publisher = cls(pub)
    except MissingDependencyError:
        raise
    except ImportError as exc:
        missing = exc.name or "a module"
        raise MissingDependencyError(
            f"events.publishers[{index}] (type {pub.type}) needs {missing!r}, "
            f"which is not installed: {_INSTALL_HINT}"
        ) from exc
    return publisher


def fresh(path: Path) -> Path:
    """``path``, after moving aside a non-empty file of an earlier run (never lost)."""
    if path.is_file() and path.stat().st_size > 0:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
        kept = path.with_name(f"{path.stem}.{stamp}{path.suffix}")
        n = 1
        while kept.exists():  # two runs in one second: never overwrite a kept file
            kept = path.with_name(f"{path.stem}.{stamp}-{n}{path.suffix}")
            n += 1
        path.replace(kept)
        log.warning("kept the previous %s as %s", path.name, kept)
    return path
