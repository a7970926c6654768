"""The stream state machine and the reconnect backoff policy."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from visionflow.sources import IllegalTransitionError, ReconnectPolicy, StreamState
from visionflow.sources.base import RateMeter, StateMachine

S = StreamState
# the lifecycle of issue 4, written out by hand (plus ENDED for finite inputs
# and FAILED for errors retrying cannot fix); any -> STOPPED is always legal
LEGAL = {
    (S.STARTING, S.STREAMING),
    (S.STREAMING, S.STALLED),
    (S.STALLED, S.RECONNECTING),
    (S.STARTING, S.RECONNECTING),
    (S.STREAMING, S.RECONNECTING),
    (S.RECONNECTING, S.STREAMING),
    (S.RECONNECTING, S.FAILED),
    (S.STARTING, S.FAILED),
    (S.STREAMING, S.FAILED),
    (S.STARTING, S.ENDED),
    (S.STREAMING, S.ENDED),
}
# a shortest legal path from STARTING to each state
PATH = {
    S.STARTING: [],
    S.STREAMING: [S.STREAMING],
    S.STALLED: [S.STREAMING, S.STALLED],
    S.RECONNECTING: [S.RECONNECTING],
    S.FAILED: [S.FAILED],
    S.ENDED: [S.ENDED],
    S.STOPPED: [S.STOPPED],
}


def _machine_in(state: StreamState) -> StateMachine:
    sm = StateMachine("cam")
    for step in PATH[state]:
        sm.move(step, "setup")
    return sm


@pytest.mark.parametrize(("old", "new"), list(itertools.product(S, S)))
def test_transition_is_legal_exactly_when_the_lifecycle_allows_it(
    old: StreamState, new: StreamState
) -> None:
    sm = _machine_in(old)
    if old is S.STOPPED:  # stop wins every race: later moves are ignored
        assert sm.move(new, "late") is False
        assert sm.state is S.STOPPED
    elif new is S.STOPPED or (old, new) in LEGAL:
        assert sm.move(new, "ok") is True
        assert sm.state is new
    else:
        with pytest.raises(IllegalTransitionError, match=f"{old.value} -> {new.value}"):
            sm.move(new, "bad")
        assert sm.state is old


def test_history_and_callback_record_every_transition() -> None:
    seen: list[tuple[str, StreamState, StreamState, str]] = []
    sm = StateMachine("cam7", lambda *args: seen.append(args))
    for new, why in [(S.STREAMING, "first frame"), (S.STALLED, "no data"), (S.RECONNECTING, "r")]:
        sm.move(new, why)
    assert [h[0] for h in sm.history] == [S.STARTING, S.STREAMING, S.STALLED, S.RECONNECTING]
    times = [h[1] for h in sm.history]
    assert times == sorted(times)
    assert seen == [
        ("cam7", S.STARTING, S.STREAMING, "first frame"),
        ("cam7", S.STREAMING, S.STALLED, "no data"),
        ("cam7", S.STALLED, S.RECONNECTING, "r"),
    ]


def test_a_failing_callback_does_not_break_the_stream() -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("observer bug")

    sm = StateMachine("cam", boom)
    assert sm.move(S.STREAMING, "first frame")
    assert sm.state is S.STREAMING


@pytest.mark.parametrize(
    ("initial_s", "max_s", "multiplier", "expected"),
    [
        (0.5, 10.0, 2.0, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]),
        (1.0, 5.0, 3.0, [1.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0]),
        (0.2, 0.2, 2.0, [0.2] * 7),
        (0.1, 1.0, 1.0, [0.1] * 7),
    ],
)
def test_base_delay_grows_exponentially_up_to_the_cap(
    initial_s: float, max_s: float, multiplier: float, expected: list[float]
) -> None:
    policy = ReconnectPolicy(initial_s, max_s, multiplier, "none")
    assert [policy.base_delay_s(k) for k in range(7)] == pytest.approx(expected)
    assert [policy.delay_s(k, random.Random(0)) for k in range(7)] == pytest.approx(expected)


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert ReconnectPolicy(0.5, 30.0, 10.0).base_delay_s(10**6) == 30.0


@pytest.mark.parametrize(
    ("jitter", "low_fraction", "mean_fraction"), [("full", 0.0, 0.5), ("equal", 0.5, 0.75)]
)
def test_jitter_stays_in_its_range_with_the_right_mean(
    jitter: str, low_fraction: float, mean_fraction: float
) -> None:
    policy = ReconnectPolicy(1.0, 8.0, 2.0, jitter)  # type: ignore[arg-type]
    rng = random.Random(42)
    base = policy.base_delay_s(2)  # 4.0
    samples = [policy.delay_s(2, rng) for _ in range(4000)]
    assert min(samples) >= low_fraction * base and max(samples) <= base
    # uniform on [low, base]: mean = (low + base) / 2, sd of the mean ~ base / sqrt(12 * 4000)
    assert statistics.fmean(samples) == pytest.approx(mean_fraction * base, abs=0.05)


def test_same_seed_same_delays() -> None:
    policy = ReconnectPolicy(jitter="full")
    first = [policy.delay_s(k, random.Random(3)) for k in range(5)]
    assert first == [policy.delay_s(k, random.Random(3)) for k in range(5)]


@pytest.mark.parametrize(("max_attempts", "failed", "gives_up"), [
    (None, 10**6, False), (3, 2, False), (3, 3, True), (1, 1, True),
])  # fmt: skip
def test_max_attempts(max_attempts: int | None, failed: int, gives_up: bool) -> None:
    assert ReconnectPolicy(max_attempts=max_attempts).gives_up_after(failed) is gives_up


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_s": -1.0}, "0 <= initial_s <= max_s"),
        ({"initial_s": 5.0, "max_s": 1.0}, "0 <= initial_s <= max_s"),
        ({"multiplier": 0.5}, "multiplier must be >= 1.0"),
        ({"jitter": "some"}, "jitter must be one of"),
        ({"max_attempts": 0}, "max_attempts must be >= 1 or None"),
    ],
)
def test_bad_policies_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_rate_meter_counts_frames_in_its_window() -> None:
    meter = RateMeter(window_s=2.0)
    for i in range(100):  # 25 fps for 4 s
        meter.tick(i * 0.04)
    # window [1.96, 3.96] holds the ticks 49..99: 51 ticks, 50 intervals over 2.0 s
    assert meter.rate(3.96) == pytest.approx(25.0)
    assert meter.rate(100.0) == 0.0


def test_history_is_bounded_for_a_camera_that_reconnects_for_weeks() -> None:
    from visionflow.sources.base import HISTORY_LENGTH, StateMachine, StreamState

    machine = StateMachine("cam")
    machine.move(StreamState.STREAMING, "first frame")
    for _ in range(HISTORY_LENGTH):
        machine.move(StreamState.RECONNECTING, "connection reset")
        machine.move(StreamState.STREAMING, "frame after reconnect")
    history = machine.history
    assert len(history) == HISTORY_LENGTH
    assert history[-1][0] is StreamState.STREAMING  # the latest moves are the ones kept
