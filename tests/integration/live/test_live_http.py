"""HTTP(S) and HLS sources against a real HTTP server (``http.server`` on a thread).

Media are cut from data/vtest.mp4 with the ffmpeg CLI (stream copy, no
re-encode); the expected frame counts come from ffprobe ``-count_frames``,
an implementation independent of PyAV's decoding loop.
"""

from __future__ import annotations

import functools
import http.server
import itertools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_helpers import Consumer, entered, wait_for

from conftest import VTEST_MP4
from visionflow.sources import SourceOptions, StreamState, open_source

S = StreamState


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def _count_frames(path: Path) -> int:
    out = _run(
        "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
        "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path),
    )  # fmt: skip
    return int(out)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg/ffprobe CLI missing: scripts/install-system-deps.sh ffmpeg")
    root = tmp_path_factory.mktemp("http")
    clip = root / "clip.mp4"
    # faststart (index first): http.server has no Range support, so no seeking to a tail index
    _run(
        "ffmpeg", "-v", "error", "-i", str(VTEST_MP4), "-t", "3", "-c", "copy",
        "-movflags", "+faststart", str(clip),
    )  # fmt: skip
    hls = root / "vod"
    hls.mkdir()
    _run(
        "ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-f", "hls", "-hls_time", "1",
        "-hls_playlist_type", "vod", str(hls / "index.m3u8"),
    )  # fmt: skip
    # the same segments as a LIVE playlist: no ENDLIST, no playlist type
    lines = (hls / "index.m3u8").read_text().splitlines()
    live = [ln for ln in lines if ln not in ("#EXT-X-ENDLIST", "#EXT-X-PLAYLIST-TYPE:VOD")]
    (hls / "live.m3u8").write_text("\n".join(live) + "\n")
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_base(media_dir: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(media_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("path", ["clip.mp4", "vod/index.m3u8"])
def test_http_file_and_vod_hls_play_to_the_end(http_base: str, media_dir: Path, path: str) -> None:
    expected = _count_frames(media_dir / "clip.mp4")
    source = open_source(f"{http_base}/{path}", stream_id="web", options=SourceOptions())
    assert not source.is_live  # a finite duration was announced
    consumer = Consumer(source, per_frame_s=0.02)  # slower than decoding: must not drop
    consumer.thread.join(20)
    assert consumer.got.error is None
    frames = consumer.got.frames
    assert len(frames) == expected
    pts = [p for _, _, p in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert source.health().states == [S.STARTING, S.STREAMING, S.ENDED]
    assert source.health().frames_dropped == 0


def test_live_hls_playlist_is_live_and_reconnects_when_it_stops_growing(http_base: str) -> None:
    opts = SourceOptions(stall_timeout_s=2.0, open_timeout_s=5.0)
    source = open_source(f"{http_base}/vod/live.m3u8", stream_id="hls", options=opts)
    assert source.is_live
    consumer = Consumer(source)
    wait_for(lambda: len(consumer.got.frames) >= 5, 10, "live HLS frames")
    # no new segment ever appears: FFmpeg ends or waits; either way the source retries
    wait_for(entered(source, S.RECONNECTING), 15, "reconnect once the playlist stops growing")
    source.close()
    assert source.health().states[:2] == [S.STARTING, S.STREAMING]
