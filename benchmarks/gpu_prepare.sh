#!/usr/bin/env bash
# Prepare, on the dev machine, what the GPU machine needs (it has no network):
#   .whl/        PyNvVideoCodec 2.2.4 (cp312, slimmed from 27 MB to 10 MB: samples, benchmarks and
#                the FFmpeg source tarball removed) + ultralytics, ultralytics-thop, lap (peers only)
#   .gpu_assets/ the sample upscaled to 1080p, 300 frames at 30 fps, H.264 and HEVC (no B-frames);
#                150 frames of it in AV1 and VP9
# Both folders are git-ignored through .git/info/exclude and travel with `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
grep -qx '/.gpu_assets/' .git/info/exclude || echo /.gpu_assets/ >> .git/info/exclude
mkdir -p .whl .gpu_assets
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
DL=(python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp)
tmp=$(mktemp -d)
"${DL[@]}" "${PLAT[@]}" -d "$tmp" PyNvVideoCodec==2.2.4
wheel=$(basename "$tmp"/pynvvideocodec-*.whl)
mkdir "$tmp/x"
(
  cd "$tmp/x"
  unzip -q "../$wheel"
  rm -rf samples benchmarks pynvvideocodec-2.2.4.data
  grep -v -E '^(samples|benchmarks|pynvvideocodec-2.2.4.data)/' pynvvideocodec-2.2.4.dist-info/RECORD > ../RECORD
  mv ../RECORD pynvvideocodec-2.2.4.dist-info/RECORD
  zip -q -r -9 ../slim.whl .
)
cp "$tmp/slim.whl" ".whl/$wheel"
"${DL[@]}" "${PLAT[@]}" -d .whl ultralytics==8.4.190 ultralytics-thop==2.2.3 lap==0.5.13
rm -rf "$tmp"
VF="scale=1920:1080:flags=bilinear,setpts=N/30/TB"
ffmpeg -y -loglevel error -i data/vtest.mp4 -frames:v 300 -vf "$VF" -r 30 -c:v libx264 -preset veryfast \
  -crf 26 -g 60 -bf 0 -pix_fmt yuv420p -movflags +faststart .gpu_assets/vtest_1080p_h264.mp4
ffmpeg -y -loglevel error -i data/vtest.mp4 -frames:v 300 -vf "$VF" -r 30 -c:v libx265 -preset ultrafast \
  -crf 28 -g 60 -bf 0 -pix_fmt yuv420p -tag:v hvc1 -movflags +faststart .gpu_assets/vtest_1080p_hevc.mp4
# AV1 and VP9 (150 frames, re-encoded from the same frames) for NVDEC's other codecs
ffmpeg -y -loglevel error -i data/vtest.mp4 -frames:v 150 -vf "$VF" -r 30 -c:v libsvtav1 -preset 12 \
  -crf 40 -g 60 -pix_fmt yuv420p -movflags +faststart .gpu_assets/vtest_1080p_av1.mp4
ffmpeg -y -loglevel error -i data/vtest.mp4 -frames:v 150 -vf "$VF" -r 30 -c:v libvpx-vp9 \
  -deadline realtime -cpu-used 8 -crf 36 -b:v 0 -g 60 -pix_fmt yuv420p -movflags +faststart \
  .gpu_assets/vtest_1080p_vp9.mp4
du -sh .whl .gpu_assets
