#!/usr/bin/env bash
# Install the Debian/Ubuntu packages visionflow's demo and tests need, only
# those missing. Usage: install-system-deps.sh PACKAGE...
#
# Always added: the real RTSP server of tests/integration/live (GStreamer's
# gst-rtsp-server, driven by the SYSTEM python3 through its GObject bindings;
# plugins-base/good/bad give filesrc, qtdemux, h264parse and rtph264pay) and
# the ffmpeg/ffprobe CLI that cuts test clips and HLS playlists.
set -euo pipefail
LIVE_TEST_PACKAGES=(
  ffmpeg
  python3-gi
  python3-gst-1.0
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
)
missing=()
for pkg in "$@" "${LIVE_TEST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
