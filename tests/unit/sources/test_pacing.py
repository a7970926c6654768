"""The pacer that makes a file stand in for a camera."""

from __future__ import annotations

import threading
import time

from visionflow.sources._pacing import Pacer


def _pacer(fps: float) -> Pacer:
    return Pacer(fps, threading.Event())


def test_frames_are_due_on_a_fixed_clock_from_the_first_question() -> None:
    pacer = _pacer(10.0)
    start = pacer.due_s()
    for index in range(1, 4):
        pacer.advance()
        assert abs(pacer.due_s() - (start + index * 0.1)) < 1e-9


def test_restart_makes_the_next_frame_due_now_and_the_one_after_a_period_later() -> None:
    pacer = _pacer(10.0)
    pacer.due_s()
    for _ in range(5):
        pacer.advance()  # 0.5 s of frames ahead of the clock
    before = time.monotonic()
    pacer.restart()
    due = pacer.due_s()
    assert before <= due <= time.monotonic()
    pacer.advance()
    assert abs(pacer.due_s() - (due + 0.1)) < 1e-9


def test_an_unpaced_source_is_always_due_and_ignores_restart() -> None:
    pacer = _pacer(0.0)
    pacer.restart()
    pacer.advance()
    assert pacer.due_s() == 0.0
    assert pacer.wait() is False


def test_a_gap_over_a_second_starts_a_new_schedule_instead_of_a_burst() -> None:
    pacer = _pacer(1000.0)
    pacer.due_s()
    pacer._start = time.monotonic() - 2.0  # as if the consumer paused for 2 s
    due = pacer.due_s()
    assert due >= time.monotonic() - 0.01
