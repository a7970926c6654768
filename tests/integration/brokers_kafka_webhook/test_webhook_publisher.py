"""WebhookPublisher against a real HTTP(S) server on 127.0.0.1."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
from kafka_webhook_helpers import (
    CLOSE,
    STOP,
    Answer,
    Pki,
    WebhookServer,
    check_exactly_once_in_order,
    make_items,
    make_pki,
)

from visionflow.config.publishers import WebhookPublisherConfig
from visionflow.errors import ConfigError, MissingDependencyError, PipelineStateError, PublishError
from visionflow.events.delivery import DeliveryWorker
from visionflow.events.publishers.base import Publisher, Record
from visionflow.events.publishers.webhook import (
    WebhookPublisher,
    WebhookStatusError,
    parse_retry_after,
)
from visionflow.events.spool import Spool

STREAMS = ("cam-0", "cam-1", "cam-2", "cam-3")
TOKEN = "tok-s3cret-value"


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    http = WebhookServer()
    yield http
    http.stop()


def hook_config(url: str, **fields: Any) -> WebhookPublisherConfig:
    fields.setdefault("timeout_s", 2.0)
    return WebhookPublisherConfig(type="webhook", name="hook", url=url, **fields)


def records(n: int, start: int = 0) -> list[Record]:
    items = make_items(["cam-0"], n)
    return [Record(start + i, *item) for i, item in enumerate(items)]


def start_worker(spool: Spool, publisher: WebhookPublisher) -> DeliveryWorker:
    worker = DeliveryWorker(
        spool, publisher, batch_size=500, backoff_initial_s=0.02, backoff_max_s=0.2
    )
    worker.start()
    return worker


@pytest.mark.parametrize("outage", ["503-and-dropped-connections", "server-stopped"])
def test_outage_every_event_once_in_order_with_token(
    server: WebhookServer, tmp_path: Path, outage: str
) -> None:
    items = make_items(STREAMS, per_stream=2500)
    spool = Spool(tmp_path / "hook.sqlite3")
    spool.append(items)
    config = hook_config(server.url, token=TOKEN, headers={"X-Tenant": "acme"}, batch_size=100)
    publisher = WebhookPublisher(config)
    assert isinstance(publisher, Publisher)
    servers = [server]
    if outage == "server-stopped":
        server.fail_next([STOP], after=30)  # the 31st request finds the server gone
    else:
        # Mid-run, requests 21-28 fail: 503s, then connections dropped unanswered.
        server.fail_next([Answer(503)] * 4 + [CLOSE] * 4, after=20)
    worker = start_worker(spool, publisher)
    try:
        if outage == "server-stopped":
            assert server.stopped.wait(10.0)
            time.sleep(1.0)
            servers.append(WebhookServer(port=server.port))  # back on the same port
        assert worker.flush(20.0), worker.stats
        assert worker.stats.retries >= 1
    finally:
        worker.close(5.0)
        servers[-1].stop()
    spool.close()

    received = [pair for http in servers for pair in http.received_ids()]
    duplicates = check_exactly_once_in_order(items, received)
    assert duplicates < 1000
    requests = [r for http in servers for r in http.delivered]
    assert {len(r.events) for r in requests} <= set(range(1, 101))
    for request in requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Tenant"] == "acme"
        assert len(request.headers["Idempotency-Key"]) == 32
    # The same events always carry the same key (a resent chunk is recognisable).
    keys: dict[tuple[str, ...], set[str]] = {}
    for r in requests:
        keys.setdefault(tuple(e["event_id"] for e in r.events), set()).add(
            r.headers["Idempotency-Key"]
        )
    assert all(len(k) == 1 for k in keys.values())


def test_retry_after_fails_fast_until_it_elapses(server: WebhookServer) -> None:
    publisher = WebhookPublisher(hook_config(server.url))
    server.fail_next([Answer(429, {"Retry-After": "1"})])
    with pytest.raises(WebhookStatusError) as info:
        publisher.send(records(3))
    assert (info.value.status_code, info.value.permanent) == (429, False)
    assert info.value.retry_after_s == 1.0
    with pytest.raises(PublishError, match="retry after"):
        publisher.send(records(3))  # no request: the receiver asked us to wait
    assert server.requests == 1
    time.sleep(1.05)
    publisher.send(records(3))
    assert server.requests == 2
    assert len(server.received_ids()) == 3
    publisher.close()


@pytest.mark.parametrize(
    ("status", "permanent"), [(500, False), (502, False), (408, False), (400, True), (404, True)]
)
def test_status_codes_are_publish_errors(
    server: WebhookServer, status: int, permanent: bool
) -> None:
    server.fail_next([Answer(status)])
    with WebhookPublisher(hook_config(server.url)) as publisher:
        with pytest.raises(WebhookStatusError) as info:
            publisher.send(records(2))
        assert info.value.permanent is permanent
        assert f"HTTP {status}" in str(info.value)
        publisher.send(records(2))
    assert len(server.received_ids()) == 2


def test_rejected_batch_is_logged_once_and_kept_until_accepted(
    server: WebhookServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = make_items(STREAMS, per_stream=50)
    spool = Spool(tmp_path / "hook.sqlite3")
    spool.append(items)
    server.fail_next([Answer(401)] * 5)
    caplog.set_level(logging.WARNING)
    worker = start_worker(spool, WebhookPublisher(hook_config(server.url, token=TOKEN)))
    try:
        assert worker.flush(10.0), worker.stats
    finally:
        worker.close(2.0)
    spool.close()
    check_exactly_once_in_order(items, server.received_ids())
    rejections = [r for r in caplog.records if "REJECTED" in r.getMessage()]
    assert len(rejections) == 1
    assert rejections[0].levelno == logging.ERROR
    assert "HTTP 401" in rejections[0].getMessage()
    assert TOKEN not in caplog.text


def test_payload_too_large_is_split(server: WebhookServer) -> None:
    server.fail_next([Answer(413), Answer(413)])
    with WebhookPublisher(hook_config(server.url, batch_size=8)) as publisher:
        publisher.send(records(8))
    sizes = [len(r.events) for r in server.delivered]
    assert sizes == [2, 2, 4]  # 8 → 413, 4 → 413, 2, 2, then the other 4
    assert [e["frame_number"] for r in server.delivered for e in r.events] == list(range(8))


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/x", "hooks.example.com/events", "http://", "http://h:99999/x"],
)
def test_malformed_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"invalid URL.*expected http:// or https://"
    ):
        hook_config(url)
    # Configs built without validation are checked by the publisher itself.
    unchecked = WebhookPublisherConfig.model_construct(
        type="webhook", name="hook", url=url, batch_size=100, timeout_s=1.0, headers={}, tls=None
    )
    with pytest.raises(ConfigError, match=r"publisher 'hook': url"):
        WebhookPublisher(unchecked)


def test_token_from_env_never_shown(
    server: WebhookServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    publisher = WebhookPublisher(hook_config(server.url, token_env="VF_TEST_HOOK_TOKEN"))
    with pytest.raises(ConfigError, match="VF_TEST_HOOK_TOKEN"):
        publisher.connect()
    monkeypatch.setenv("VF_TEST_HOOK_TOKEN", TOKEN)
    server.fail_next([Answer(403)])
    with pytest.raises(WebhookStatusError) as info:
        publisher.send(records(1))
    publisher.send(records(1))
    assert server.delivered[0].headers["Authorization"] == f"Bearer {TOKEN}"
    publisher.close()
    publisher.close()
    with pytest.raises(PipelineStateError):
        publisher.send(records(1))
    for text in (repr(publisher), str(info.value), caplog.text):
        assert TOKEN not in text


def test_unreachable_server_is_a_publish_error() -> None:
    stopped = WebhookServer()
    stopped.stop()
    publisher = WebhookPublisher(hook_config(stopped.url))
    with pytest.raises(PublishError, match="ConnectError"):
        publisher.send(records(1))
    publisher.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_https_with_private_ca_and_client_certificate(pki: Pki, mutual: bool) -> None:
    server = WebhookServer(tls=pki.server_context(require_client_cert=mutual))
    try:
        tls: dict[str, Any] = {"ca_file": pki.ca}
        if mutual:
            tls |= {"cert_file": pki.client_cert, "key_file": pki.client_key}
        with WebhookPublisher(hook_config(server.url, tls=tls)) as publisher:
            publisher.send(records(5))
        assert len(server.received_ids()) == 5
        # Without the private CA the server's certificate is not trusted.
        publisher = WebhookPublisher(hook_config(server.url))
        with pytest.raises(PublishError, match="CERTIFICATE_VERIFY_FAILED"):
            publisher.send(records(1))
        publisher.close()
    finally:
        server.stop()


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("100000") == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_missing_http_client_names_the_extra(
    server: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'visionflow\[brokers\]'"):
        WebhookPublisher(hook_config(server.url))
