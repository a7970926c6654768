"""Pipeline building blocks: class resolution, latency stats, queue workers."""

from __future__ import annotations

import threading
import time

import pytest

from visionflow.errors import ConfigError
from visionflow.pipeline.classes import resolve_classes
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.workers import QueueWorker

NAMES = ["person", "bicycle", "car"]


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        (None, None),
        ([], frozenset()),
        (["person"], frozenset({0})),
        (["car", 1, "car"], frozenset({1, 2})),
    ],
)
def test_resolve_classes(refs: list[int | str] | None, expected: frozenset[int] | None) -> None:
    assert resolve_classes(refs, NAMES, "detector.classes") == expected


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (["persn"], r"detector.classes\[0\]: unknown class name 'persn'"),
        ([0, 3], r"detector.classes\[1\]: class index 3 is out of range 0..2"),
        ([-1], r"class index -1 is out of range"),
    ],
)
def test_resolve_classes_errors(refs: list[int | str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_classes(refs, NAMES, "detector.classes")


def test_latency_stats_percentiles() -> None:
    stats = LatencyStats()
    for ms in range(1, 101):
        stats.add("inference", ms / 1e3)
    stats.add_many("tracking", 0.002, 10)
    by_stage = {s.stage: s for s in stats.summary()}
    assert set(by_stage) == {"inference", "tracking"}
    inference = by_stage["inference"]
    assert inference.samples == 100
    assert inference.p50_ms == pytest.approx(50.5)
    assert inference.max_ms == pytest.approx(100.0)
    assert by_stage["tracking"].p99_ms == pytest.approx(2.0)


@pytest.mark.parametrize("batch", [1, 3, 7, 250])
def test_latency_stats_keep_only_the_latest_window(batch: int) -> None:
    stats = LatencyStats(window=100)
    # 1000 old samples of 9 ms, then exactly 100 new ones of 1 ms, added in chunks of `batch`.
    for _ in range(1000 // batch):
        stats.add_many("inference", 0.009, batch)
    stats.add_many("inference", 0.009, 1000 % batch)
    added = 0
    while added < 100:
        n = min(batch, 100 - added)
        stats.add_many("inference", 0.001, n)
        added += n
    (inference,) = stats.summary()
    assert inference.samples == 100
    assert inference.max_ms == pytest.approx(1.0)


def test_latency_stats_reset_keeps_only_what_follows() -> None:
    stats = LatencyStats()
    stats.add_many("preprocess", 0.500, 5)  # a slow start-up
    stats.reset()
    assert stats.summary() == []
    stats.add_many("preprocess", 0.002, 3)
    (preprocess,) = stats.summary()
    assert preprocess.samples == 3
    assert preprocess.max_ms == pytest.approx(2.0)


def test_queue_worker_runs_items_in_order_and_keeps_the_first_error() -> None:
    seen: list[int] = []

    def handle(item: int) -> None:
        if item == 3:
            raise OSError("disk full")
        seen.append(item)

    worker = QueueWorker[int]("sink", handle, capacity=2)
    worker.start()
    for i in range(6):
        worker.submit(i)
    worker.close(timeout_s=5)
    assert seen == [0, 1, 2]
    assert isinstance(worker.error, OSError)
    worker.close()  # idempotent


def test_queue_worker_applies_back_pressure() -> None:
    gate = threading.Event()
    worker = QueueWorker[int]("slow", lambda _: gate.wait(5), capacity=1)
    worker.start()
    worker.submit(0)  # taken by the thread, blocks on the gate
    worker.submit(1)  # fills the queue
    blocked = threading.Thread(target=worker.submit, args=(2,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()
    gate.set()
    blocked.join(5)
    worker.close(timeout_s=5)
    assert not blocked.is_alive()


def test_queue_worker_accounts_its_cpu_time() -> None:
    def burn(_: int) -> None:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass

    worker = QueueWorker[int]("busy", burn)
    worker.start()
    for i in range(3):
        worker.submit(i)
    worker.close(timeout_s=10)
    assert 0.15 <= worker.cpu_s < 5.0


def test_queue_worker_evicts_only_droppable_items_when_full() -> None:
    gate = threading.Event()
    seen: list[str] = []

    def handle(item: str) -> None:
        gate.wait(5)
        seen.append(item)

    worker = QueueWorker[str]("video", handle, capacity=3)
    worker.start()
    worker.submit("busy")  # taken by the thread, which then waits on the gate
    deadline = time.monotonic() + 5
    while worker._items and time.monotonic() < deadline:  # wait until it is taken
        time.sleep(0.005)
    worker.submit("file-0")
    worker.submit("live-0", droppable=True)
    worker.submit("live-1", droppable=True)
    assert worker.submit("live-2", droppable=True) == "live-0"  # oldest droppable goes
    assert worker.submit("live-3", droppable=True) == "live-1"
    gate.set()
    worker.close(timeout_s=5)
    assert seen == ["busy", "file-0", "live-2", "live-3"]


def test_queue_worker_handles_in_place_only_when_idle_and_keeps_the_order() -> None:
    gate = threading.Event()
    seen: list[tuple[str, str]] = []

    def handle(item: str) -> None:
        if item == "slow":
            gate.wait(5)
        seen.append((item, threading.current_thread().name))

    worker = QueueWorker[str]("events", handle, capacity=4)
    assert not worker.handle_if_idle("early")  # no thread yet: it must be submitted
    worker.start()
    assert worker.handle_if_idle("a")  # idle: handled here, at once
    assert seen == [("a", "MainThread")]
    worker.submit("slow")  # the thread takes it and waits on the gate
    deadline = time.monotonic() + 5
    while worker._items and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not worker.handle_if_idle("b")  # busy: refused, not handled
    worker.submit("b")
    worker.submit("c")
    assert not worker.handle_if_idle("d")  # items queued: refused, so "d" stays behind them
    worker.submit("d")
    gate.set()
    worker.close(timeout_s=5)
    assert [item for item, _ in seen] == ["a", "slow", "b", "c", "d"]
    assert all(thread == "events" for item, thread in seen if item != "a")


def test_queue_worker_thread_waits_for_an_item_handled_in_place() -> None:
    """An item submitted while another is handled in place runs after it, not beside it."""
    started, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def handle(item: str) -> None:
        if item == "in place":
            started.set()
            release.wait(5)
        seen.append(item)

    worker = QueueWorker[str]("events", handle)
    worker.start()
    in_place = threading.Thread(target=worker.handle_if_idle, args=("in place",))
    in_place.start()
    assert started.wait(5)
    worker.submit("queued")
    time.sleep(0.1)
    assert seen == []  # the worker thread did not overtake
    release.set()
    in_place.join(5)
    worker.close(timeout_s=5)
    assert seen == ["in place", "queued"]


def test_queue_worker_in_place_failure_is_kept_like_the_threads() -> None:
    def handle(item: int) -> None:
        if item == 1:
            raise OSError("disk full")

    worker = QueueWorker[int]("sink", handle)
    worker.start()
    assert worker.handle_if_idle(1)
    assert isinstance(worker.error, OSError)
    assert not worker.handle_if_idle(2)  # failed: later items are refused, then discarded
    worker.close(timeout_s=5)


def test_only_streams_cuts_a_detected_batch_and_renumbers_its_slots() -> None:
    """A stream removed between detection and tracking leaves the batch: the other
    frames keep their own boxes, in their new slots."""
    import numpy as np

    from visionflow.pipeline.runtime import only_streams
    from visionflow.types import Detections, Frame, FrameBatch

    image = np.zeros((2, 2, 3), np.uint8)
    frames = tuple(Frame(sid, n, 0.0, 0, image) for n, sid in enumerate("abcab"))
    slots = np.array([0, 1, 1, 2, 3, 4, 4], np.int32)
    dets = Detections(
        np.arange(28, dtype=np.float32).reshape(7, 4),
        np.linspace(0.1, 0.7, 7, dtype=np.float32),
        np.zeros(7, np.int32),
        slots,
    )
    batch, kept = only_streams(FrameBatch(frames), dets, {"a", "c"})
    assert [(f.stream_id, f.frame_number) for f in batch.frames] == [("a", 0), ("c", 2), ("a", 3)]
    assert kept.frame_index.tolist() == [0, 1, 2]  # boxes of old slots 0, 2 and 3
    np.testing.assert_array_equal(kept.xyxy, dets.xyxy[[0, 3, 4]])
    same_batch, same = only_streams(FrameBatch(frames), dets, {"a", "b", "c"})
    assert same_batch.frames == frames and same is dets
