"""Pollable sources share pump threads: every frame arrives, in order, paced when live;
one stream's error, end or removal never holds up the others."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from visionflow.batching import FrameBatcher
from visionflow.pipeline.ingest import SourceThreads
from visionflow.pipeline.ingest_pump import STREAMS_PER_PUMP
from visionflow.pipeline.stats import LatencyStats
from visionflow.pipeline.streams import StreamRecord
from visionflow.types import Frame

_IMAGE = np.zeros((4, 4, 3), np.uint8)


class PolledFrames:
    """A pollable source of ``count`` frames, paced at ``fps`` when live (0: unpaced)."""

    def __init__(self, stream_id: str, count: int, fps: float = 0.0, fail_at: int = -1) -> None:
        self.stream_id, self.count, self.fps, self.fail_at = stream_id, count, fps, fail_at
        self.next, self.closed, self.polls_by = 0, False, set[str]()
        self._start = time.monotonic()
        self._stopped = threading.Event()

    is_live = property(lambda self: self.fps > 0)
    frame_count = property(lambda self: self.count)
    pollable = True

    @property
    def ended(self) -> bool:
        return self.next >= self.count or self._stopped.is_set()

    def due_s(self) -> float:
        return self._start + self.next / self.fps if self.fps > 0 else 0.0

    def poll(self) -> Frame | None:
        self.polls_by.add(threading.current_thread().name)
        if self.ended or self.due_s() > time.monotonic():
            return None
        if self.next == self.fail_at:
            raise RuntimeError(f"{self.stream_id}: broken at {self.next}")
        frame = Frame(self.stream_id, self.next, self.next / 30, time.monotonic_ns(), _IMAGE)
        self.next += 1
        return frame

    def stop(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        self.closed = True


class Harness:
    def __init__(self, sources: list[PolledFrames], max_batch: int = 8) -> None:
        self.batcher = FrameBatcher(max_batch, 0.001, capacity=2)
        self.errors: list[tuple[str, str]] = []
        self.stop, self.done = threading.Event(), threading.Event()
        self.threads = SourceThreads(
            self.batcher,
            LatencyStats(),
            self.stop,
            self.done,
            lambda sid, exc: self.errors.append((sid, str(exc))),
        )
        self.records = {s.stream_id: StreamRecord(s.stream_id, s) for s in sources}  # type: ignore[arg-type]
        for s in sources:
            self.batcher.register(s.stream_id, live=s.is_live)
            self.threads.start(self.records[s.stream_id])

    def drain(self, timeout_s: float = 10.0) -> dict[str, list[tuple[int, int]]]:
        """(frame number, arrival ns) per stream until every lane ended."""
        got: dict[str, list[tuple[int, int]]] = {sid: [] for sid in self.records}
        deadline = time.monotonic() + timeout_s
        while (batch := self.batcher.next_batch(0.05)) is not None:
            for f in batch.frames:
                got[f.stream_id].append((f.frame_number, time.monotonic_ns()))
            assert time.monotonic() < deadline, "streams did not end"
            if all(r.done.is_set() for r in self.records.values()) and not len(batch):
                break
        return got


def test_files_arrive_complete_in_order_from_one_pump() -> None:
    sources = [PolledFrames(f"f{i}", 200) for i in range(5)]
    h = Harness(sources)
    got = h.drain()
    for s in sources:
        assert [n for n, _ in got[s.stream_id]] == list(range(200))
        assert s.closed and h.records[s.stream_id].status.finished
        assert h.records[s.stream_id].status.frames_decoded == 200
        assert s.polls_by == {"source-pump-0"}
    assert h.errors == []


def test_live_streams_are_paced_and_more_streams_start_another_pump() -> None:
    n = STREAMS_PER_PUMP + 3
    sources = [PolledFrames(f"cam{i}", 12, fps=40.0) for i in range(n)]
    h = Harness(sources, max_batch=64)
    t0 = time.monotonic_ns()
    got = h.drain()
    pumps = set().union(*(s.polls_by for s in sources))
    assert pumps == {"source-pump-0", "source-pump-1"}
    for s in sources:
        frames = got[s.stream_id]
        assert [n for n, _ in frames] == list(range(12))  # no drops: the consumer keeps up
        # frame 11 is due 11 / 40 s = 275 ms after the start: not handed over before
        assert frames[-1][1] - t0 >= 0.27e9


def test_one_broken_stream_ends_alone() -> None:
    sources = [PolledFrames("ok", 100), PolledFrames("bad", 100, fail_at=7)]
    h = Harness(sources)
    got = h.drain()
    assert [n for n, _ in got["ok"]] == list(range(100))
    assert [n for n, _ in got["bad"]] == list(range(7))
    assert h.errors == [("bad", "bad: broken at 7")]
    assert sources[1].closed and h.records["bad"].done.is_set()


def test_a_removed_stream_ends_while_the_others_go_on() -> None:
    sources = [PolledFrames("stay", 60, fps=100.0), PolledFrames("go", 10_000, fps=100.0)]
    h = Harness(sources)
    seen: list[str] = []
    while len(seen) < 20:
        batch = h.batcher.next_batch(1.0)
        assert batch is not None
        seen += [f.stream_id for f in batch.frames]
    record = h.records["go"]
    record.removed = True
    sources[1].stop()
    h.batcher.remove("go")
    assert record.done.wait(2.0)
    assert not sources[1].closed  # a removed stream is closed by whoever removed it
    got = h.drain()
    assert [n for n, _ in got["stay"]][-1] == 59
    assert h.records["stay"].status.finished


@pytest.mark.parametrize("live", [False, True])
def test_stop_ends_every_stream(live: bool) -> None:
    sources = [PolledFrames(f"s{i}", 10**6, fps=50.0 if live else 0.0) for i in range(3)]
    h = Harness(sources)
    assert h.batcher.next_batch(1.0) is not None
    h.stop.set()
    for s in sources:
        s.stop()
    h.drain()
    assert all(r.done.is_set() and r.status.stopped for r in h.records.values())
