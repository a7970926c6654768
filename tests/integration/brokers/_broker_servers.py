"""Real ``redis-server`` and ``mosquitto`` processes on free 127.0.0.1 ports.

A :class:`BrokerServer` keeps its port across :meth:`~BrokerServer.stop` and
:meth:`~BrokerServer.start`, so fault tests can take the broker away in the
middle of a run and bring it back where the publisher expects it.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_HINT = "run `make test` (it installs redis-server, mosquitto and openssl from Debian)"


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 / localhost; it is its own CA."""

    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Create a throw-away key and certificate (RSA 2048, valid 2 days) with openssl."""
    files = TlsFiles(cert=directory / "cert.pem", key=directory / "key.pem")
    argv = [find_binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes"]
    argv += ["-keyout", str(files.key), "-out", str(files.cert), "-days", "2"]
    argv += ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)
    return files


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str) -> str:
    """Path of a broker binary (mosquitto lives in /usr/sbin); fails the test if missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINT}", pytrace=False)
    return path


class BrokerServer:
    """One broker process; ``start``/``stop``/``kill`` any number of times.

    Args:
        name: ``redis`` or ``mqtt`` (used in messages and the URL scheme).
        argv: the command line.
        port: the port the command listens on.
        workdir: where the log (and any persistence) goes.
    """

    def __init__(
        self, name: str, argv: list[str], port: int, workdir: Path, *, tls: bool = False
    ) -> None:
        self.name = name
        self.scheme = name + ("s" if tls else "")
        self.argv = argv
        self.port = port
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the process and wait until it accepts TCP connections."""
        assert not self.running, f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                pytest.fail(f"{self.name} exited at start:\n{self.log_tail()}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.kill()
        pytest.fail(f"{self.name} did not listen within {timeout_s} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Graceful shutdown (SIGTERM): a durable broker saves its data first."""
        self._end(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """Hard kill (SIGKILL), as in a crash."""
        self._end(signal.SIGKILL, 5.0)

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def _end(self, sig: signal.Signals, timeout_s: float) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def redis_server(
    workdir: Path, *, durable: bool = False, tls: TlsFiles | None = None
) -> BrokerServer:
    """A redis-server without persistence, or with an fsync-always AOF (``durable``).

    Durable keeps what was acknowledged across a stop/start, so a test can
    read back everything at the end instead of racing the restart. With
    ``tls`` it listens for TLS only (``rediss://``), without client certificates.
    """
    port = free_port()
    argv = [find_binary("redis-server"), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)]
    if tls is None:
        argv += ["--port", str(port)]
    else:
        argv += ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
        argv += ["--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key)]
        argv += ["--tls-ca-cert-file", str(tls.cert)]
    argv += (
        ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
    )
    return BrokerServer("redis", argv, port, workdir, tls=tls is not None)


def mosquitto_server(
    workdir: Path, *, durable: bool = False, tls: TlsFiles | None = None
) -> BrokerServer:
    """A mosquitto with anonymous access; ``durable`` keeps sessions across a stop/start.

    With ``tls`` the listener speaks TLS only (``mqtts://``).

    Queues are unbounded so a slow test subscriber never loses messages to
    the default limit of 1000 queued messages per client.
    """
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        f"user {getpass.getuser()}",  # as root, mosquitto would switch to 'mosquitto'
        "max_queued_messages 0",
        "max_inflight_messages 1000",
        f"persistence {'true' if durable else 'false'}",
        f"persistence_location {workdir}/",
        "log_type error",
        "log_type warning",
    ]
    if tls is not None:
        lines += [f"certfile {tls.cert}", f"keyfile {tls.key}"]
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    argv = [find_binary("mosquitto"), "-c", str(conf)]
    return BrokerServer("mqtt", argv, port, workdir, tls=tls is not None)
