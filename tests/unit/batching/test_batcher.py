"""FrameBatcher: full batches, timeouts, end of streams, per-stream order."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from visionflow.batching import FrameBatcher
from visionflow.types import Frame

IMAGE = np.zeros((4, 4, 3), np.uint8)


def frame(stream: str, number: int) -> Frame:
    return Frame(stream, number, number / 10, time.monotonic_ns(), IMAGE)


def produce(batcher: FrameBatcher, stream: str, count: int, delay_s: float = 0.0) -> None:
    for i in range(count):
        batcher.put(frame(stream, i))
        time.sleep(delay_s)
    batcher.end(stream)


def drain(batcher: FrameBatcher) -> list[list[tuple[str, int]]]:
    batches = []
    while (batch := batcher.next_batch()) is not None:
        batches.append([(f.stream_id, f.frame_number) for f in batch.frames])
    return batches


@pytest.mark.parametrize(
    ("streams", "frames_each", "max_batch", "expected_sizes"),
    [
        (1, 8, 4, [4, 4]),
        (1, 9, 4, [4, 4, 1]),
        (1, 3, 1, [1, 1, 1]),
        (2, 4, 4, [4, 4]),
        (1, 0, 4, []),
    ],
)
def test_batches_fill_up_to_max_size(
    streams: int, frames_each: int, max_batch: int, expected_sizes: list[int]
) -> None:
    batcher = FrameBatcher(max_batch, timeout_s=5.0, capacity=64)
    for s in range(streams):
        batcher.register(f"s{s}")
        produce(batcher, f"s{s}", frames_each)
    assert [len(b) for b in drain(batcher)] == expected_sizes


def test_partial_batch_leaves_after_timeout() -> None:
    batcher = FrameBatcher(8, timeout_s=0.05)
    batcher.register("slow")
    thread = threading.Thread(target=produce, args=(batcher, "slow", 3, 0.2))
    thread.start()
    started = time.perf_counter()
    first = batcher.next_batch()
    waited = time.perf_counter() - started
    assert first is not None and len(first) == 1
    assert waited < 1.0  # did not wait for 8 frames (0.2 s apart)
    assert batcher.last_wait_s >= 0.04
    rest = drain(batcher)
    thread.join()
    assert sum(len(b) for b in rest) == 2


def test_per_stream_order_is_kept_with_concurrent_producers() -> None:
    batcher = FrameBatcher(3, timeout_s=0.01, capacity=4)
    names = [f"cam{i}" for i in range(4)]
    threads = [threading.Thread(target=produce, args=(batcher, n, 50)) for n in names]
    for n in names:
        batcher.register(n)
    for t in threads:
        t.start()
    seen = [item for batch in drain(batcher) for item in batch]
    for t in threads:
        t.join()
    for n in names:
        assert [num for sid, num in seen if sid == n] == list(range(50))


def test_lossless_put_times_out_when_full_and_end_never_blocks() -> None:
    batcher = FrameBatcher(1, timeout_s=0.0, capacity=1)
    batcher.register("a")
    assert batcher.put(frame("a", 0), timeout_s=0.01)
    assert not batcher.put(frame("a", 1), timeout_s=0.01)
    assert batcher.end("a")
    assert drain(batcher) == [[("a", 0)]]
    assert batcher.dropped("a") == 0


def test_live_lane_drops_the_oldest_and_counts_it() -> None:
    batcher = FrameBatcher(8, timeout_s=0.0, live_capacity=2)
    batcher.register("cam", live=True)
    for i in range(5):
        assert batcher.put(frame("cam", i), timeout_s=0.0)  # never blocks
    assert batcher.dropped("cam") == 3
    batcher.end("cam")
    assert drain(batcher) == [[("cam", 3), ("cam", 4)]]


def test_live_drops_do_not_touch_a_lossless_neighbour() -> None:
    batcher = FrameBatcher(16, timeout_s=0.0, capacity=8, live_capacity=1)
    batcher.register("cam", live=True)
    batcher.register("file")
    for i in range(4):
        batcher.put(frame("cam", i))
        batcher.put(frame("file", i))
    batcher.end("cam")
    batcher.end("file")
    seen = [item for batch in drain(batcher) for item in batch]
    assert [n for s, n in seen if s == "file"] == [0, 1, 2, 3]
    assert [n for s, n in seen if s == "cam"] == [3]
    assert batcher.dropped("file") == 0


def test_round_robin_gives_every_stream_a_fair_share() -> None:
    batcher = FrameBatcher(4, timeout_s=0.0, capacity=64)
    for name in ("busy", "quiet1", "quiet2"):
        batcher.register(name)
    for i in range(20):
        batcher.put(frame("busy", i))
    batcher.put(frame("quiet1", 0))
    batcher.put(frame("quiet2", 0))
    first = batcher.next_batch()
    assert first is not None
    assert sorted(f.stream_id for f in first.frames) == ["busy", "busy", "quiet1", "quiet2"]


def test_removed_stream_discards_frames_and_refuses_more() -> None:
    batcher = FrameBatcher(4, timeout_s=0.0, capacity=8, stay_open=True)
    batcher.register("a")
    batcher.register("b")
    batcher.put(frame("a", 0))
    batcher.put(frame("a", 1))
    assert batcher.remove("a") == 2
    assert not batcher.put(frame("a", 2))
    batcher.put(frame("b", 0))
    batch = batcher.next_batch()
    assert batch is not None and [f.stream_id for f in batch.frames] == ["b"]


def test_stay_open_waits_for_new_streams_until_closed() -> None:
    batcher = FrameBatcher(2, timeout_s=0.0, stay_open=True)
    empty = batcher.next_batch(idle_timeout_s=0.05)
    assert empty is not None and len(empty) == 0

    def add_later() -> None:
        time.sleep(0.05)
        batcher.register("late")
        batcher.put(frame("late", 0))
        batcher.end("late")
        time.sleep(0.05)
        batcher.close()

    thread = threading.Thread(target=add_later)
    thread.start()
    assert drain(batcher) == [[("late", 0)]]
    thread.join()


def test_register_twice_is_an_error() -> None:
    batcher = FrameBatcher(2, timeout_s=0.0)
    batcher.register("a")
    with pytest.raises(ValueError, match="already registered"):
        batcher.register("a")


@pytest.mark.parametrize(("size", "timeout"), [(0, 1.0), (4, -1.0)])
def test_bad_arguments(size: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        FrameBatcher(size, timeout)


def test_timeout_counts_from_the_oldest_frames_arrival() -> None:
    """A frame that already waited (queued while the last batch ran) is not held again."""
    batcher = FrameBatcher(8, timeout_s=0.5)
    batcher.register("cam")  # stays open: more frames could come
    stale = Frame("cam", 0, 0.0, time.monotonic_ns() - 600_000_000, IMAGE)  # arrived 0.6 s ago
    batcher.put(stale)
    started = time.perf_counter()
    batch = batcher.next_batch()
    assert batch is not None and len(batch) == 1
    assert time.perf_counter() - started < 0.25  # not the full 0.5 s timeout
    fresh = frame("cam", 1)
    batcher.put(fresh)
    started = time.perf_counter()
    batch = batcher.next_batch()
    assert batch is not None and len(batch) == 1
    assert time.perf_counter() - started >= 0.45  # a fresh frame waits for company


def test_negative_spin_is_an_error() -> None:
    with pytest.raises(ValueError, match="spin_s must be"):
        FrameBatcher(4, 0.0, spin_s=-0.001)


@pytest.mark.parametrize("spin_s", [0.0, 0.002, 10.0])
def test_spinning_consumer_gets_the_same_batches(spin_s: float) -> None:
    """Frames that trickle in, some within the spin and some after it, keep their order."""
    batcher = FrameBatcher(3, timeout_s=0.0, spin_s=spin_s)
    batcher.register("a")
    batcher.register("b")
    threads = [
        threading.Thread(target=produce, args=(batcher, "a", 12, 0.003)),
        threading.Thread(target=produce, args=(batcher, "b", 7, 0.005)),
    ]
    for thread in threads:
        thread.start()
    batches = drain(batcher)  # with spin_s = 10 s it polls the whole time, and must still end
    for thread in threads:
        thread.join()
    for stream, count in (("a", 12), ("b", 7)):
        numbers = [n for batch in batches for s, n in batch if s == stream]
        assert numbers == list(range(count))


def consumer_cpu_s(batcher: FrameBatcher, idle_s: float) -> float:
    """CPU seconds the consumer's thread spends in ``next_batch`` over ``idle_s`` with no frame."""
    cpu: list[float] = []

    def consume() -> None:
        started = time.thread_time()
        batcher.next_batch(idle_timeout_s=idle_s)
        cpu.append(time.thread_time() - started)

    thread = threading.Thread(target=consume)
    thread.start()
    thread.join()
    return cpu[0]


def test_consumer_polls_for_spin_s_after_a_batch_then_sleeps() -> None:
    batcher = FrameBatcher(1, timeout_s=0.0, spin_s=0.15)
    batcher.register("cam")
    batcher.put(frame("cam", 0))
    assert batcher.next_batch() is not None  # the spin runs from this release
    polled = consumer_cpu_s(batcher, idle_s=0.6)
    slept = consumer_cpu_s(batcher, idle_s=0.3)  # the spin ended long ago: only sleeps
    assert polled > 0.03  # it did poll (a sleeping wait takes well under 1 ms of CPU)
    assert polled < 0.45  # and stopped after the spin, not at the 0.6 s idle timeout
    assert slept < 0.02


def test_end_during_spin_is_seen_at_once() -> None:
    batcher = FrameBatcher(2, timeout_s=0.0, spin_s=30.0)
    batcher.register("cam")
    batcher.put(frame("cam", 0))
    assert batcher.next_batch() is not None
    threading.Timer(0.05, batcher.end, args=("cam",)).start()
    started = time.monotonic()
    assert batcher.next_batch() is None
    assert time.monotonic() - started < 5.0  # not the 30 s spin


def test_only_a_released_batch_starts_the_spin() -> None:
    """Ending or emptying a lane is no batch: the consumer keeps sleeping after it."""
    batcher = FrameBatcher(2, timeout_s=0.0, spin_s=5.0)
    for stream in ("a", "b", "c"):
        batcher.register(stream)
    batcher.put(frame("c", 0))
    batcher.discard_queued("c")
    batcher.end("a")
    assert consumer_cpu_s(batcher, idle_s=0.3) < 0.02
