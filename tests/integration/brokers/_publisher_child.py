"""A publisher in its own process, for tests that SIGKILL it.

``python _publisher_child.py mqtt-lwt URL CLIENT_ID``
    connect an MqttPublisher, print ``ready``, then wait to be killed.

``python _publisher_child.py spool KIND URL SPOOL_PATH COUNT``
    spool COUNT events for a redis/mqtt publisher, print ``spooled``, start a
    DeliveryWorker (the broker is down: it keeps retrying), wait to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _broker_clients import make_events, make_publisher

from visionflow.config.schema import MqttPublisherConfig
from visionflow.events.publishers.mqtt import MqttPublisher


def mqtt_lwt(url: str, client_id: str) -> None:
    config = MqttPublisherConfig(type="mqtt", name="child", url=url, client_id=client_id)
    MqttPublisher(config).connect()
    print("ready", flush=True)
    time.sleep(60)


def spool(kind: str, url: str, spool_path: str, count: int) -> None:
    from visionflow.events.delivery import DeliveryWorker
    from visionflow.events.spool import Spool

    events = Spool(Path(spool_path))
    events.append(make_events(count))
    print("spooled", flush=True)
    worker = DeliveryWorker(events, make_publisher(kind, url), backoff_max_s=0.2)
    worker.start()
    time.sleep(60)


if __name__ == "__main__":
    if sys.argv[1] == "mqtt-lwt":
        mqtt_lwt(sys.argv[2], sys.argv[3])
    else:
        spool(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
