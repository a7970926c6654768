#!/usr/bin/env bash
# Run on the GPU machine through the device tool, from the repository root:
#   carry: .whl .gpu_assets data/models/yolov3-tiny.weights data/models/yolov3-tiny.cfg
#          data/models/coco.names data/vtest.mp4          (≈ 58 MB; see gpu_prepare.sh)
#   command: VISIONFLOW_COMMIT=<sha> bash benchmarks/gpu_run.sh tests limits e2e live peers
# Each stage writes its JSON/log under $OUT (8 files come back at most); copy the JSON into
# benchmarks/results/. Rough wall times on an H200: tests 20 s, limits 150 s, e2e 90 s,
# live 80 s, peers 120 s (stay under the 600 s per call).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src:$PWD/benchmarks
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
H264=.gpu_assets/vtest_1080p_h264.mp4
HEVC=.gpu_assets/vtest_1080p_hevc.mp4
for stage in "$@"; do
  case $stage in
    tests) timeout 120 python3 -m pytest -p no:cacheprovider tests/gpu -q -s -rs > "$OUT/pytest.log" 2>&1
           tail -n 3 "$OUT/pytest.log" ;;
    limits) timeout 300 python3 benchmarks/gpu_limits.py --clips $H264 $HEVC --out "$OUT/gpu_limits.json" ;;
    e2e) timeout 200 python3 benchmarks/gpu_e2e.py --clip $H264 --streams 1 8 32 64 \
           --out "$OUT/gpu_e2e.json"
         timeout 100 python3 benchmarks/gpu_e2e.py --clip $H264 --no-track --streams 32 64 \
           --out "$OUT/gpu_e2e_notrack.json" ;;
    live) timeout 60 python3 benchmarks/gpu_e2e.py --clip $H264 --streams --live-streams 1 \
            --timeout-ms 0 --out "$OUT/gpu_e2e_latency1.json"
          timeout 120 python3 benchmarks/gpu_e2e.py --clip $H264 --streams \
            --live-streams 8 12 16 20 --out "$OUT/gpu_e2e_live.json" ;;
    peers) timeout 100 python3 benchmarks/gpu_e2e.py --clip $H264 --model yolov8n --streams 1 16 \
             --out "$OUT/gpu_e2e_yolov8n.json"
           timeout 150 python3 benchmarks/gpu_ultralytics.py --clip $H264 --threads 1 4 16 \
             --out "$OUT/gpu_ultralytics.json" ;;
    *) echo "unknown stage $stage (tests limits e2e live peers)"; exit 2 ;;
  esac 2>&1 | grep -E "^(throughput|live|model|pre/post|decode|ultralytics|wrote)|passed|failed|Error"
done
