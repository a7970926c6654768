"""Real brokers for the publisher tests: redis-server and mosquitto subprocesses.

Every server listens on a free 127.0.0.1 port and is killed at teardown,
whatever the test did with it. A missing binary fails the test with the fix
(``make test`` installs both from Debian): these tests never skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _broker_servers import BrokerServer, TlsFiles, make_tls_files, mosquitto_server, redis_server

ServerFactory = Callable[..., BrokerServer]


def _factory(
    make: Callable[..., BrokerServer], tmp_path: Path, label: str
) -> Iterator[ServerFactory]:
    servers: list[BrokerServer] = []

    def build(
        *, durable: bool = False, start: bool = True, tls: TlsFiles | None = None
    ) -> BrokerServer:
        workdir = tmp_path / f"{label}-{len(servers)}"
        workdir.mkdir()
        server = make(workdir, durable=durable, tls=tls)
        servers.append(server)
        if start:
            server.start()
        return server

    yield build
    for server in servers:
        server.kill()


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[ServerFactory]:
    """``make_redis(durable=False, start=True, tls=None)`` → a redis server."""
    yield from _factory(redis_server, tmp_path, "redis")


@pytest.fixture
def make_mosquitto(tmp_path: Path) -> Iterator[ServerFactory]:
    """``make_mosquitto(durable=False, start=True, tls=None)`` → a mosquitto server."""
    yield from _factory(mosquitto_server, tmp_path, "mosquitto")


@pytest.fixture
def redis_broker(make_redis: ServerFactory) -> BrokerServer:
    """A running, non-persistent redis-server."""
    return make_redis()


@pytest.fixture
def mqtt_broker(make_mosquitto: ServerFactory) -> BrokerServer:
    """A running, non-persistent mosquitto."""
    return make_mosquitto()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1, shared by the TLS tests."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))
