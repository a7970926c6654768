"""DeliveryWorker: in-order at-least-once delivery through outages, backoff, bounded close."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path

import pytest
from _fakes import FakePublisher, items

from visionflow.errors import PipelineStateError
from visionflow.events import DeliveryWorker, Spool
from visionflow.events.delivery import backoff_s

FAST = {"backoff_initial_s": 0.001, "backoff_max_s": 0.01}


def wait_until(predicate: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "s.sqlite3")
    yield s  # type: ignore[misc]
    s.close()


@pytest.mark.parametrize(
    ("fail_sends", "fail_connects", "batch_size"),
    [(0, 0, 500), (5, 0, 7), (0, 3, 10), (4, 2, 1)],
)
def test_everything_is_delivered_once_in_order_after_an_outage(
    spool: Spool, fail_sends: int, fail_connects: int, batch_size: int
) -> None:
    publisher = FakePublisher(fail_sends=fail_sends, fail_connects=fail_connects)
    worker = DeliveryWorker(spool, publisher, batch_size=batch_size, **FAST)
    worker.start()
    sent = []
    for k in range(5):  # appends while the broker is down and after it returns
        batch = items(20, start=20 * k)
        spool.append(batch)
        worker.notify()
        sent += batch
    assert worker.flush(10.0)
    worker.close(1.0)
    assert publisher.event_ids == [eid for _, eid, _, _ in sent]
    stats = worker.stats
    assert (stats.delivered, stats.pending, stats.retries) == (100, 0, fail_sends + fail_connects)
    assert stats.connected is True
    assert publisher.closed == 1


def test_failure_is_logged_once_per_outage_and_reported_in_stats(
    spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "visionflow.events.delivery")
    publisher = FakePublisher(fail_sends=30)
    worker = DeliveryWorker(spool, publisher, **FAST)
    spool.append(items(3))
    worker.start()
    assert wait_until(lambda: worker.stats.retries >= 10)
    stats = worker.stats
    assert stats.connected is False
    assert stats.last_error is not None and "PublishError" in stats.last_error
    assert worker.flush(10.0)
    worker.close(1.0)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == ["publisher fake"] * 2
    assert "cannot deliver 3 event(s)" in warnings[0].getMessage()
    assert "delivering again after 30 failed" in warnings[1].getMessage()


def test_credentials_in_errors_are_masked(spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    publisher = FakePublisher(fail_sends=3, secret_error="redis://user:hunter2@cache:6379")
    worker = DeliveryWorker(spool, publisher, **FAST)
    spool.append(items(1))
    worker.start()
    assert wait_until(lambda: worker.stats.retries >= 2)
    assert "hunter2" not in str(worker.stats.last_error)
    worker.close(2.0)
    assert "hunter2" not in caplog.text
    assert "user:***@cache" in caplog.text


@pytest.mark.parametrize("attempts", [range(12)])
def test_backoff_grows_exponentially_and_is_capped(attempts: range) -> None:
    top = [backoff_s(a, 0.1, 5.0, jitter=lambda: 0.999999) for a in attempts]
    low = [backoff_s(a, 0.1, 5.0, jitter=lambda: 0.0) for a in attempts]
    assert top[:5] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6], rel=1e-4)
    assert max(top) <= 5.0 and top[-1] == pytest.approx(5.0, rel=1e-4)
    assert low == pytest.approx([t / 2 for t in top], rel=1e-4)  # jitter in [0.5, 1)
    assert all(b <= a * 2 + 1e-9 for a, b in itertools.pairwise(top))
    assert backoff_s(10_000, 0.1, 5.0) <= 5.0  # no overflow for long outages


def test_close_with_a_dead_broker_returns_in_time_and_keeps_events(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    spool.append(items(50))
    worker = DeliveryWorker(spool, FakePublisher(fail_sends=10**9), **FAST)
    worker.start()
    t0 = time.monotonic()
    worker.close(0.3)
    assert time.monotonic() - t0 < 1.0
    spool.close()
    with Spool(path) as again:
        assert [r.event_id for r in again.peek(100)] == [f"e{i}" for i in range(50)]


def test_close_with_a_hung_send_returns_in_time(spool: Spool) -> None:
    hang = threading.Event()
    publisher = FakePublisher(block=hang)
    worker = DeliveryWorker(spool, publisher, **FAST)
    spool.append(items(5))
    worker.start()
    assert wait_until(lambda: publisher.calls == 1)
    t0 = time.monotonic()
    worker.close(0.2)
    assert time.monotonic() - t0 < 1.0
    assert len(spool) == 5
    hang.set()


def test_idle_worker_wakes_on_notify(spool: Spool) -> None:
    publisher = FakePublisher()
    worker = DeliveryWorker(spool, publisher, **FAST)
    worker.start()
    time.sleep(0.05)
    spool.append(items(2))
    t0 = time.monotonic()
    worker.notify()
    assert wait_until(lambda: len(publisher.sent) == 2, 0.5)
    assert time.monotonic() - t0 < 0.5
    worker.close(1.0)


def test_flush_times_out_while_the_broker_is_down(spool: Spool) -> None:
    worker = DeliveryWorker(spool, FakePublisher(fail_sends=10**9), **FAST)
    spool.append(items(1))
    worker.start()
    assert worker.flush(0.05) is False
    worker.close(0.05)


def test_lifecycle_errors(spool: Spool) -> None:
    worker = DeliveryWorker(spool, FakePublisher(), **FAST)
    worker.start()
    with pytest.raises(PipelineStateError, match="once"):
        worker.start()
    worker.close(1.0)
    worker.close(1.0)
    with pytest.raises(PipelineStateError):
        worker.start()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"backoff_initial_s": 0.0}, "backoff"),
        ({"backoff_initial_s": 2.0, "backoff_max_s": 1.0}, "backoff"),
    ],
)
def test_bad_arguments(spool: Spool, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeliveryWorker(spool, FakePublisher(), **kwargs)  # type: ignore[arg-type]
