"""Live RTSP sources against a real GStreamer RTSP server serving data/vtest.mp4.

vtest.mp4 is H.264, 768x576 at 10 fps (ffprobe: r_frame_rate=10/1), so the
nominal frame period is 0.1 s.
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from pathlib import Path
from typing import Literal

import pytest
from live_helpers import Consumer, entered, in_state, wait_for

from conftest import RtspServer, free_port
from visionflow.errors import SourceError
from visionflow.sources import ReconnectPolicy, SourceOptions, StreamState, open_source

S = StreamState
PERIOD_S = 0.1  # vtest.mp4 is 10 fps


def _opts(stall_s: float = 3.0, policy: ReconnectPolicy | None = None) -> SourceOptions:
    return SourceOptions(
        stall_timeout_s=stall_s,
        open_timeout_s=2.0,
        reconnect=policy or ReconnectPolicy(initial_s=0.2, max_s=1.0),
    )


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_frames_arrive_paced_with_increasing_pts(
    rtsp_server: RtspServer, transport: Literal["tcp", "udp"]
) -> None:
    url = rtsp_server.url(userinfo="viewer:s3cretpw")
    options = SourceOptions(stall_timeout_s=3.0, open_timeout_s=2.0, rtsp_transport=transport)
    source = open_source(url, stream_id="cam", options=options)
    consumer = Consumer(source, max_frames=25)
    consumer.thread.join(15)
    source.close()
    frames = consumer.got.frames
    assert consumer.got.error is None
    numbers = [n for _, n, _ in frames]
    # numbering counts every frame received; gaps only where the source dropped one
    assert len(numbers) == 25 and numbers == sorted(set(numbers))
    assert numbers[-1] + 1 - 25 <= source.health().frames_dropped
    pts = [p for _, _, p in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert statistics.median(b - a for a, b in itertools.pairwise(pts)) == pytest.approx(
        PERIOD_S, abs=1e-3
    )
    # paced by the camera: the last 10 frames took about 10 periods to arrive
    assert frames[-1][0] - frames[-11][0] > 0.6
    assert source.fps == pytest.approx(10.0)
    assert source.is_live
    health = source.health()
    assert health.uri_masked == rtsp_server.url(userinfo="viewer:***")
    assert health.states == [S.STARTING, S.STREAMING, S.STOPPED]
    assert "s3cretpw" not in repr(source) + str(health)


def test_rtsp_recovers_after_server_restart_while_other_stream_continues(
    rtsp_server: RtspServer, second_rtsp_server: RtspServer
) -> None:
    policy = ReconnectPolicy(initial_s=0.2, max_s=1.0, multiplier=2.0, jitter="equal")
    a = open_source(rtsp_server.url(), stream_id="a", options=_opts(policy=policy))
    b = open_source(second_rtsp_server.url(), stream_id="b", options=_opts(policy=policy))
    ca, cb = Consumer(a), Consumer(b)
    wait_for(lambda: len(ca.got.frames) >= 5 and len(cb.got.frames) >= 5, 10, "both streaming")

    t_kill = time.monotonic()
    rtsp_server.kill()
    wait_for(entered(a, S.RECONNECTING), 5, "a reconnecting after the kill")
    time.sleep(1.0)  # the camera stays away for a while
    t_restart = time.monotonic()
    rtsp_server.start()
    t_back = wait_for(lambda: a.health().reconnects == 1, policy.max_s + 2.0, "a recovered")
    wait_for(lambda: ca.frames_after(t_back) >= 3, 3, "a delivering again")
    a.close()
    b.close()

    assert t_back - t_restart <= policy.max_s + 2.0
    states = a.health().states
    assert states[:2] == [S.STARTING, S.STREAMING]
    assert states[-2:] == [S.STREAMING, S.STOPPED]
    outage = states[2:-2]
    assert S.RECONNECTING in outage and set(outage) <= {S.STALLED, S.RECONNECTING}
    # the other stream never stopped: no gap over 1 s (10 periods) while a was down
    arrivals = [t for t, _, _ in cb.got.frames if t_kill - 1 <= t <= t_back]
    assert len(arrivals) >= (t_back - t_kill) / PERIOD_S * 0.5
    assert max(y - x for x, y in itertools.pairwise(arrivals)) < 1.0
    assert b.health().states == [S.STARTING, S.STREAMING, S.STOPPED]
    pts = [p for _, _, p in ca.got.frames]
    assert all(y > x for x, y in itertools.pairwise(pts))


def test_unreachable_url_backs_off_with_growing_delays_then_fails() -> None:
    port = free_port()  # nothing listens there
    policy = ReconnectPolicy(
        initial_s=0.1, max_s=1.0, multiplier=2.0, jitter="none", max_attempts=4
    )
    url = f"rtsp://admin:hunter22@127.0.0.1:{port}/cam"
    source = open_source(url, stream_id="gone", options=_opts(policy=policy))
    consumer = Consumer(source)
    consumer.thread.join(10)
    health = source.health()
    # 4 failed attempts → 3 waits between them: 0.1 * 2**k for k = 0, 1, 2
    assert health.retry_delays_s == pytest.approx((0.1, 0.2, 0.4))
    assert health.states == [S.STARTING, S.RECONNECTING, S.FAILED]
    assert health.attempts == 4
    assert isinstance(consumer.got.error, SourceError)
    message = str(consumer.got.error)
    assert "Connection refused" in message and "gave up after 4" in message
    assert "hunter22" not in message + str(health)
    assert "admin:***@" in message


def test_unreachable_url_retries_forever_with_jittered_capped_delays() -> None:
    policy = ReconnectPolicy(initial_s=0.05, max_s=0.2, multiplier=2.0, jitter="equal")
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    source = open_source(url, stream_id="gone", options=_opts(policy=policy), rng=random.Random(7))
    wait_for(lambda: len(source.health().retry_delays_s) >= 6, 5, "six retries")
    source.close()
    delays = source.health().retry_delays_s[:6]
    bases = [min(0.2, 0.05 * 2**k) for k in range(6)]  # 0.05 0.1 0.2 0.2 0.2 0.2
    assert all(base / 2 <= d <= base for d, base in zip(delays, bases, strict=True))
    assert source.health().state is S.STOPPED


def test_garbage_server_gives_a_clear_error(garbage_server: int) -> None:
    policy = ReconnectPolicy(initial_s=0.05, max_s=0.1, max_attempts=2)
    url = f"rtsp://127.0.0.1:{garbage_server}/cam"
    source = open_source(url, stream_id="junk", options=_opts(policy=policy))
    consumer = Consumer(source)
    consumer.thread.join(10)
    assert source.health().state is S.FAILED
    assert isinstance(consumer.got.error, SourceError)
    message = str(consumer.got.error)
    assert "cannot parse" in message and "invalid data" in message.lower()
    assert url in message


def test_server_that_stops_sending_is_stalled_then_reconnected(rtsp_server: RtspServer) -> None:
    policy = ReconnectPolicy(initial_s=0.2, max_s=0.5)
    source = open_source(rtsp_server.url(), stream_id="frozen", options=_opts(1.5, policy))
    consumer = Consumer(source)
    wait_for(in_state(source, S.STREAMING), 10, "streaming")
    wait_for(lambda: len(consumer.got.frames) >= 3, 5, "frames")
    t_pause = time.monotonic()
    rtsp_server.pause()  # SIGSTOP: connection stays open, nothing is sent
    t_stall = wait_for(entered(source, S.STALLED), 1.5 + 3.0, "stalled")
    wait_for(entered(source, S.RECONNECTING, 2), 2, "reconnecting after the stall")
    rtsp_server.resume()
    wait_for(lambda: source.health().reconnects >= 1, 10, "recovered after SIGCONT")
    source.close()
    assert t_stall - t_pause >= 1.0  # not before the stall timeout (buffered frames may drain)
    states = source.health().states
    assert states[:4] == [S.STARTING, S.STREAMING, S.STALLED, S.RECONNECTING]
    assert S.STREAMING in states[4:]


def test_stop_ends_iteration_promptly_while_blocked_in_a_read(rtsp_server: RtspServer) -> None:
    source = open_source(rtsp_server.url(), stream_id="blocked", options=_opts(stall_s=20.0))
    consumer = Consumer(source)
    wait_for(lambda: len(consumer.got.frames) >= 3, 10, "frames")
    rtsp_server.pause()
    time.sleep(0.5)  # the reader is now waiting on a silent socket
    t_stop = time.monotonic()
    source.stop()
    consumer.thread.join(2)
    assert consumer.got.ended_s is not None and consumer.got.ended_s - t_stop < 1.0
    assert consumer.got.error is None
    assert source.health().state is S.STOPPED


def test_one_server_process_serves_sixteen_streams(vtest_media: Path) -> None:
    server = RtspServer(vtest_media, free_port(), mounts=16).start()
    try:
        sources = [
            open_source(server.url(f"s{i}"), stream_id=f"cam{i}", options=_opts(stall_s=5.0))
            for i in range(16)
        ]
        consumers = [Consumer(s) for s in sources]
        wait_for(
            lambda: all(len(c.got.frames) >= 20 for c in consumers), 20, "20 frames on every stream"
        )
        for source in sources:
            source.close()
    finally:
        server.kill()
    for source in sources:
        assert source.health().states == [S.STARTING, S.STREAMING, S.STOPPED]
