"""The reconnect loop of LiveSource, driven by scripted in-memory sessions (no network)."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator

import numpy as np
import pytest

from visionflow.errors import PipelineStateError, SourceError, SourceOpenError
from visionflow.sources import LiveSource, ReconnectPolicy, StreamState
from visionflow.sources._session import DecodedPicture, PermanentSourceError

S = StreamState
IMG = np.zeros((4, 6, 3), dtype=np.uint8)


class ScriptedSession:
    """Yields ``pts_list`` at ``period_s`` then ends (EOF) or raises ``then``."""

    corrupt_packets = 0

    def __init__(
        self,
        pts_list: list[float | None],
        *,
        period_s: float = 0.0,
        then: Exception | None = None,
        finite: bool = False,
        fps: float = 10.0,
    ) -> None:
        self.pts_list, self.period_s, self.then = pts_list, period_s, then
        self.finite, self.fps = finite, fps
        self.frame_count = len(pts_list) if finite else 0
        self.closed = False

    def pictures(self) -> Iterator[DecodedPicture]:
        for pts in self.pts_list:
            time.sleep(self.period_s)
            yield pts, IMG
        if self.then is not None:
            raise self.then

    def close(self) -> None:
        self.closed = True


class Script:
    """A connect() that plays a list of outcomes: a session, or an exception to raise."""

    def __init__(self, *outcomes: ScriptedSession | Exception) -> None:
        self.outcomes = list(outcomes)
        self.sessions: list[ScriptedSession] = []

    def __call__(self) -> ScriptedSession:
        outcome = self.outcomes.pop(0) if self.outcomes else SourceOpenError("script over")
        if isinstance(outcome, Exception):
            raise outcome
        self.sessions.append(outcome)
        return outcome


FAST = ReconnectPolicy(initial_s=0.01, max_s=0.02, jitter="none")


def _source(script: Script, **kwargs: object) -> LiveSource:
    # A lane that holds every scripted frame: a loaded machine must not drop frames
    # (and leave _drain waiting for them) in tests that are not about drops.
    defaults = {"reconnect": FAST, "stall_timeout_s": 1.0, "buffer_frames": 256}
    options: dict[str, object] = defaults | kwargs
    return LiveSource("fake://u:secretpw@x/cam", script, stream_id="cam", **options)  # type: ignore[arg-type]


def _drain(source: LiveSource, n: int | None = None, per_frame_s: float = 0.0) -> list[float]:
    pts = []
    for frame in source:
        pts.append(frame.pts_seconds)
        time.sleep(per_frame_s)
        if n is not None and len(pts) >= n:
            break
    return pts


def test_reconnects_after_eof_and_keeps_pts_increasing() -> None:
    # the second connection restarts its clock at 0, like a restarted camera
    second = ScriptedSession([i / 10 for i in range(100)], period_s=0.01)
    script = Script(ScriptedSession([0.0, 0.1, 0.2]), second)
    source = _source(script)
    pts = _drain(source, 6)
    source.close()
    # second connection shifted to start one period (1 / 10 fps) after the last pts
    assert pts == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    health = source.health()
    assert health.states == [S.STARTING, S.STREAMING, S.RECONNECTING, S.STREAMING, S.STOPPED]
    assert health.reconnects == 1
    assert all(s.closed for s in script.sessions)


def test_missing_and_backward_pts_still_give_increasing_timestamps() -> None:
    source = _source(Script(ScriptedSession([5.0, None, 5.2, 4.0, 5.3])))
    pts = _drain(source, 5)
    source.close()
    # the stream starts at 0 (raw 5.0); None → last + 0.1; 4.0 (clock went back) → last + 0.1;
    # 5.3 → 0.3, not after the 0.3 just given → last + 0.1
    assert pts == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert all(b > a for a, b in itertools.pairwise(pts))


def test_permanent_error_fails_at_once_and_iteration_raises() -> None:
    source = _source(Script(PermanentSourceError("no v4l2 in this FFmpeg")))
    with pytest.raises(SourceError, match="no v4l2 in this FFmpeg"):
        _drain(source)
    assert source.health().states == [S.STARTING, S.FAILED]


def test_max_attempts_counts_failures_in_a_row_only() -> None:
    policy = ReconnectPolicy(initial_s=0.01, max_s=0.01, jitter="none", max_attempts=2)
    refused = SourceOpenError("refused")
    # fail, stream (resets the count), fail, fail → FAILED after 2 in a row
    script = Script(refused, ScriptedSession([0.0, 0.1]), refused, refused, ScriptedSession([0.0]))
    source = _source(script, reconnect=policy)
    with pytest.raises(SourceError, match="gave up after 2 failed attempts; last: refused"):
        _drain(source)
    assert source.health().states == [
        S.STARTING, S.RECONNECTING, S.STREAMING, S.RECONNECTING, S.FAILED,
    ]  # fmt: skip


def test_pts_that_stops_advancing_is_a_stall() -> None:
    frozen = ScriptedSession([0.0, 0.1] + [0.1] * 40, period_s=0.01)  # same pts for 0.4 s
    source = _source(Script(frozen, ScriptedSession([0.0] * 0)), stall_timeout_s=0.2)
    _drain(source, 2)
    deadline = time.monotonic() + 3
    while S.RECONNECTING not in source.health().states and time.monotonic() < deadline:
        time.sleep(0.01)
    source.close()
    states = source.health().states
    assert states[:4] == [S.STARTING, S.STREAMING, S.STALLED, S.RECONNECTING]
    assert "pts did not advance" in str(source.health().history[2][2])


def test_live_source_drops_oldest_frames_for_a_slow_consumer() -> None:
    pts_in = [i * 0.01 for i in range(2000)]  # a 4 s camera at 500 fps
    source = _source(Script(ScriptedSession(pts_in, period_s=0.002)), buffer_frames=2)
    got = _drain(source, 10, per_frame_s=0.05)
    source.close()
    assert source.health().frames_dropped > 50  # ~0.2 s of camera per 0.05 s consumed frame
    assert all(b > a for a, b in itertools.pairwise(got))
    assert got[-1] > 0.5  # the consumer sees recent frames, not the first ten


def test_finite_session_is_lossless_and_ends() -> None:
    pts_in = [i * 0.1 for i in range(30)]
    source = _source(Script(ScriptedSession(pts_in, finite=True)), buffer_frames=2)
    got = _drain(source, per_frame_s=0.005)
    assert got == pytest.approx(pts_in)
    assert not source.is_live and source.frame_count == 30
    assert source.health().states == [S.STARTING, S.STREAMING, S.ENDED]
    assert source.health().frames_dropped == 0


def test_stop_from_another_thread_ends_iteration_promptly() -> None:
    import threading

    endless = ScriptedSession([float(i) for i in range(10**6)], period_s=0.01)
    source = _source(Script(endless))
    timer = threading.Timer(0.3, source.stop)
    timer.start()
    t0 = time.monotonic()
    _drain(source)
    assert time.monotonic() - t0 < 0.3 + 0.3
    assert source.health().state is S.STOPPED
    with pytest.raises(PipelineStateError, match="stopped; create a new one"):
        source.open()


def test_repr_and_health_never_show_the_password() -> None:
    source = _source(Script(SourceOpenError("refused at fake://u:***@x/cam")), rng=random.Random(1))
    time.sleep(0.05)
    source.close()
    assert "secretpw" not in repr(source) + str(source.health())
    assert source.health().uri_masked == "fake://u:***@x/cam"


def test_v4l2_without_a_camera_fails_with_a_clear_reason() -> None:
    # No camera exists on the dev/CI machines, and PyPI's PyAV wheels ship an
    # FFmpeg without the v4l2 input: either way the stream must fail clearly.
    import av

    from visionflow.sources import SourceOptions, open_source

    options = SourceOptions(reconnect=ReconnectPolicy(0.01, 0.01, max_attempts=1))
    source = open_source("/dev/video63", stream_id="usb", options=options)
    with pytest.raises(SourceError) as info:
        _drain(source)
    if "v4l2" in av.formats_available:
        assert "/dev/video63" in str(info.value)
    else:
        assert "no v4l2 input" in str(info.value) and "--no-binary av" in str(info.value)
        assert source.health().states == [S.STARTING, S.FAILED]  # permanent: no retries
