"""Real servers for the live-source tests: GStreamer's RTSP server, a garbage TCP server.

The RTSP server runs under the SYSTEM Python (``/usr/bin/python3``), which
has Debian's GObject bindings; install them with
``scripts/install-system-deps.sh gir1.2-gst-rtsp-server-1.0 python3-gst-1.0
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VTEST_MP4 = ROOT / "data" / "vtest.mp4"
SERVER_SCRIPT = Path(__file__).with_name("live_rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtspServer:
    """One gst-rtsp-server process on a fixed port that can be killed, restarted, paused."""

    def __init__(self, media: Path, port: int, mounts: int = 1) -> None:
        self.media, self.port, self.mounts = media, port, mounts
        self.proc: subprocess.Popen[str] | None = None

    def url(self, mount: str = "stream", userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"rtsp://{at}127.0.0.1:{self.port}/{mount}"

    def start(self) -> RtspServer:
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--file", str(self.media)]
        cmd += ["--port", str(self.port), "--mounts", str(self.mounts)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "READY <port>", or "" when it died
        if not line.startswith("READY"):
            out, _ = self.proc.communicate(timeout=5)
            pytest.fail(f"RTSP server did not start on port {self.port}: {line}{out}")
        # keep draining its output so GStreamer warnings never fill the pipe
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


def _gst_rtsp_available() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import GstRtspServer"
    )
    done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return "GStreamer RTSP server bindings missing: run scripts/install-system-deps.sh"
    return None


@pytest.fixture(scope="session")
def vtest_media() -> Path:
    if not VTEST_MP4.exists():
        pytest.fail(f"{VTEST_MP4} missing; run `make assets`")
    reason = _gst_rtsp_available()
    if reason:
        pytest.skip(reason)
    return VTEST_MP4


@pytest.fixture
def rtsp_server(vtest_media: Path) -> Iterator[RtspServer]:
    """A started RTSP server serving vtest.mp4 (768x576, 10 fps, H.264) at ``/stream``."""
    server = RtspServer(vtest_media, free_port()).start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.resume()  # a SIGSTOPped process ignores SIGKILL until continued on some kernels
    server.kill()


@pytest.fixture
def second_rtsp_server(vtest_media: Path) -> Iterator[RtspServer]:
    server = RtspServer(vtest_media, free_port()).start()
    yield server
    server.kill()


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """A TCP server that answers every connection with random bytes; yields its port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(os.urandom(64 * 1024))
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    done.set()
    thread.join(2)
    listener.close()
