"""A real RTSP server (GStreamer's gst-rtsp-server) serving an H.264 MP4 file.

Run by the SYSTEM Python (``/usr/bin/python3``; it has the ``gi`` bindings
from Debian's ``python3-gst-1.0`` and ``gir1.2-gst-rtsp-server-1.0``), not
the project venv::

    /usr/bin/python3 tests/integration/live/live_rtsp_server.py \
        --file data/vtest.mp4 --port 8554 --mounts 16

serves ``rtsp://127.0.0.1:8554/s0`` ... ``/s15`` (plus ``/stream`` = ``/s0``).
Every mount is *shared*: all clients of one mount get the same RTP stream
from one demuxer, so one process serves N mounts x M clients without
transcoding (``qtdemux ! h264parse ! rtph264pay``, no decode, no encode).
The frame rate is the file's; make a 30 fps file with
``ffmpeg -itsscale 0.3333 -i vtest.mp4 -c copy vtest30.mp4`` (timestamps
rescaled, no re-encode) and a long one with ``-stream_loop N``.
Prints ``READY <port>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _factory(path: str, shared: bool) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 '
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(shared)
    return factory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mounts", type=int, default=1)
    parser.add_argument("--not-shared", action="store_true", help="one pipeline per client")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    shared = not args.not_shared
    mounts.add_factory("/stream", _factory(args.file, shared))
    for i in range(args.mounts):
        mounts.add_factory(f"/s{i}", _factory(args.file, shared))
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        return 1
    print(f"READY {args.port}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
