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


def test_put_times_out_when_full() -> None:
    batcher = FrameBatcher(1, timeout_s=0.0, capacity=1)
    assert batcher.put(frame("a", 0), timeout_s=0.01)
    assert not batcher.put(frame("a", 1), timeout_s=0.01)
    assert not batcher.end("a", timeout_s=0.01)


@pytest.mark.parametrize(("size", "timeout"), [(0, 1.0), (4, -1.0)])
def test_bad_arguments(size: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        FrameBatcher(size, timeout)
