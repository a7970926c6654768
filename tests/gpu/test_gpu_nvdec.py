"""NVDEC decode against the CPU decoder on the sample upscaled to 1080p (needs CUDA + NVDEC).

The NV12 frames go through the device letterbox (NV12 -> RGB BT.601 limited
range, at the model resolution) and the CPU frames (OpenCV/FFmpeg decode,
rgb24) through the CPU letterbox: the model inputs must agree to a few grey
levels (the two colour conversions round differently and upsample chroma
differently) and the detections must agree as in test_gpu_detector.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("PyNvVideoCodec")

from visionflow.decode.nvdec import NvdecDecoder, nvdec_support  # noqa: E402
from visionflow.inference.gpu_preprocess import DeviceLetterboxer  # noqa: E402
from visionflow.inference.preprocess import Letterboxer  # noqa: E402

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
CLIPS = Path(os.environ.get("VISIONFLOW_GPU_CLIPS", ROOT / ".gpu_assets"))


@pytest.mark.parametrize("name", ["vtest_1080p_h264.mp4", "vtest_1080p_hevc.mp4"])
def test_nvdec_frames_match_cpu_decode(name: str) -> None:
    path = CLIPS / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    assert nvdec_support(path) is None
    decoder = NvdecDecoder(path)
    frames = list(decoder.frames())
    capture = cv2.VideoCapture(str(path))
    cpu = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        cpu.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert len(frames) == len(cpu) == 300
    assert decoder.resolution_wh == (1920, 1080)
    assert frames[0].nv12.shape == (1620, 1920) and frames[0].nv12.is_cuda
    pts = np.array([f.pts_seconds for f in frames])
    # the clip is 30 fps with constant frame duration: pts_n = n / 30 s
    np.testing.assert_allclose(pts, np.arange(300) / 30.0, atol=1e-6)
    unsynced = list(NvdecDecoder(path, synchronize=False).frames())
    for i in (0, 150, 299):
        assert torch.equal(unsynced[i].consume(), frames[i].nv12)
    picks = [0, 100, 299]
    dev = DeviceLetterboxer((416, 416), torch.device("cuda"), torch.float32)
    gpu_in, _ = dev([frames[i].nv12 for i in picks], "nv12")
    cpu_in, _ = Letterboxer((416, 416))([cpu[i] for i in picks])
    diff = np.abs(gpu_in.cpu().numpy() - cpu_in)
    print("letterbox |diff| mean", diff.mean() * 255, "p99", np.percentile(diff, 99) * 255)
    assert diff.mean() * 255 < 1.5
    assert np.percentile(diff, 99) * 255 < 8


@pytest.mark.parametrize("name", ["vtest_1080p_av1.mp4", "vtest_1080p_vp9.mp4"])
def test_nvdec_decodes_av1_and_vp9_like_their_h264_source(name: str) -> None:
    """AV1 and VP9 where the GPU has them: the same 150 pictures as the H.264 clip
    they were re-encoded from (benchmarks/gpu_prepare.sh), within the re-encoding loss."""
    path = CLIPS / name
    if not path.is_file():
        pytest.skip(f"{path} not present: run benchmarks/gpu_prepare.sh")
    reason = nvdec_support(path)
    if reason is not None:
        pytest.skip(f"this GPU's NVDEC cannot: {reason}")
    decoder = NvdecDecoder(path)
    frames = list(decoder.frames())
    source = list(NvdecDecoder(CLIPS / "vtest_1080p_h264.mp4").frames())[: len(frames)]
    assert len(frames) == 150
    assert decoder.resolution_wh == (1920, 1080)
    pts = np.array([f.pts_seconds for f in frames])
    np.testing.assert_allclose(pts, np.arange(150) / 30.0, atol=1e-3)
    dev = DeviceLetterboxer((416, 416), torch.device("cuda"), torch.float32)
    for i in (3, 75, 146):
        got, _ = dev([frames[i].nv12], "nv12")
        near, _ = dev([source[j].nv12 for j in range(i - 3, i + 4)], "nv12")
        diff = (near - got).abs().mean(dim=(1, 2, 3)).cpu().numpy() * 255  # vs frames i-3..i+3
        print(name, i, "mean |diff| vs H.264 frames i-3..i+3:", np.round(diff, 2))
        assert int(np.argmin(diff)) == 3  # the same picture, in the same place in time
        assert diff[3] < 3.0  # within the re-encoding loss


@pytest.mark.parametrize("name", ["vtest_1080p_h264.mp4", "vtest_1080p_hevc.mp4"])
@pytest.mark.parametrize("synchronize", [True, False])
def test_threaded_mode_gives_the_per_packet_frames(name: str, synchronize: bool) -> None:
    """PyNvVideoCodec's native decoding thread: every picture, pts and pixel of the
    per-packet mode, in order; a rewind starts the same pictures again."""
    path = CLIPS / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    reference = list(NvdecDecoder(path).frames())
    decoder = NvdecDecoder(path, threaded=True, synchronize=synchronize, batch_frames=3)
    assert decoder.threaded
    first = [f.consume() for f in decoder.frames()]
    got_pts = [f.pts_seconds for f in NvdecDecoder(path, threaded=True).frames()]
    decoder.rewind()
    second = [f.consume() for f, _ in zip(decoder.frames(), range(20), strict=False)]
    decoder.close()
    decoder.close()  # idempotent
    assert len(first) == len(reference) == 300
    np.testing.assert_allclose(got_pts, [f.pts_seconds for f in reference], atol=1e-6)
    assert all(torch.equal(a, b.nv12) for a, b in zip(first, reference, strict=True))
    assert all(torch.equal(a, b.nv12) for a, b in zip(second, reference, strict=False))
    assert first[0].shape == (1620, 1920)


def test_threaded_source_loops_and_stops() -> None:
    """The GPU file source in threaded mode: looped passes continue the timeline,
    and stop() from another thread ends iteration (the native thread is ended)."""
    import threading

    from visionflow.sources.gpu_file import GpuFileSource

    path = CLIPS / "vtest_1080p_h264.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    source = GpuFileSource(path, stream_id="cam", loop=True, threaded=True).open()
    frames = [f for f, _ in zip(source, range(305), strict=False)]
    assert [f.frame_number for f in frames] == list(range(305))
    assert torch.equal(frames[300].image_nv12_device, frames[0].image_nv12_device)
    np.testing.assert_allclose(frames[300].pts_seconds, 10.0, atol=1e-6)
    source.close()
    paced = GpuFileSource(path, stream_id="cam", loop=True, threaded=True, realtime=True).open()
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.extend(f.frame_number for f in paced))
    reader.start()
    threading.Event().wait(0.5)
    paced.stop()
    reader.join(timeout=5)
    assert not reader.is_alive() and 5 <= len(seen) <= 25  # 30 fps for ~0.5 s


def test_threaded_source_waits_for_restarts_off_the_polling_thread() -> None:
    """A threaded decoder's first pictures, after opening and after each rewind, are
    awaited on a helper thread: the poll that needs them returns None at once (the
    stream is not over) and a later poll goes on with the timeline."""
    import time

    from visionflow.sources.gpu_file import GpuFileSource

    path = CLIPS / "vtest_1080p_h264.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    source = GpuFileSource(path, stream_id="cam", loop=True, threaded=True).open()
    frames: list[Any] = []
    waited_at: set[int] = set()
    while len(frames) < 305:
        frame = source.poll()
        if frame is None:
            assert not source.ended
            waited_at.add(len(frames))
            time.sleep(0.001)
        else:
            frames.append(frame)
    source.close()
    assert {0, 300} <= waited_at  # the first pictures of each pass
    assert [f.frame_number for f in frames] == list(range(305))
    assert torch.equal(frames[300].image_nv12_device, frames[0].image_nv12_device)
    np.testing.assert_allclose(frames[300].pts_seconds, 10.0, atol=1e-6)
    assert source.poll() is None and source.ended


def test_nvdec_support_names_the_reason(tmp_path: Path) -> None:
    bogus = tmp_path / "not_a_video.mp4"
    bogus.write_bytes(b"\x00" * 1024)
    reason = nvdec_support(bogus)
    assert reason is not None and "cannot open" in reason


def test_gpu_file_source_keeps_frames_on_the_device() -> None:
    from visionflow.sources.gpu_file import GpuFileSource

    path = CLIPS / "vtest_1080p_h264.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    source = GpuFileSource(path, stream_id="cam", loop=True).open()
    assert source.decoder == "nvdec" and source.fallback_reason is None
    frames = [f for f, _ in zip(source, range(610), strict=False)]
    source.close()
    assert [f.frame_number for f in frames] == list(range(610))
    # the second and third passes (one NVDEC session, rewound) give the same pictures
    for i in (0, 1, 150, 299):
        assert torch.equal(frames[300 + i].image_nv12_device, frames[i].image_nv12_device)
        assert torch.equal(frames[600 + i % 10].image_nv12_device, frames[i % 10].image_nv12_device)
    assert all(f.on_device and f.image_rgb.size == 0 for f in frames)
    assert frames[0].resolution_wh == (1920, 1080)
    # looping: the second pass continues the timeline at 300 / 30 fps = 10 s
    np.testing.assert_allclose(
        [f.pts_seconds for f in frames[298:302]],
        [298 / 30, 299 / 30, 10.0, 10.0 + 1 / 30],
        atol=1e-6,
    )


def test_detections_on_nvdec_frames_match_cpu_decoded_frames() -> None:
    from visionflow.inference.gpu_detector import GpuDetector

    path = CLIPS / "vtest_1080p_h264.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    models = ROOT / "data" / "models"
    detector = GpuDetector.from_darknet(
        models / "yolov3-tiny.cfg", models / "yolov3-tiny.weights", models / "coco.names"
    )
    nv12 = [f.nv12 for f in NvdecDecoder(path).frames()][::10]
    capture = cv2.VideoCapture(str(path))
    rgb = []
    for index in range(300):
        ok, bgr = capture.read()
        assert ok
        if index % 10 == 0:
            rgb.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    gpu = detector.detect(nv12, "nv12")
    assert detector.letterbox.last_fused_frames == (
        len(nv12) if detector.letterbox.fused_nv12 else 0
    )
    cpu = detector.detect(rgb)
    per_frame = (
        np.bincount(gpu.frame_index, minlength=30),
        np.bincount(cpu.frame_index, minlength=30),
    )
    print("counts nvdec", per_frame[0].tolist(), "cpu", per_frame[1].tolist())
    # the two colour conversions differ by ~0.7 grey levels on average (test above):
    # borderline boxes may flip, the scene's content may not
    assert abs(len(gpu) - len(cpu)) <= max(2, len(cpu) // 20)
    assert (per_frame[0] == per_frame[1]).mean() >= 0.8


def test_detect_frames_mixes_device_and_host_frames() -> None:
    from visionflow.inference.gpu_detector import GpuDetector
    from visionflow.types import Frame

    path = CLIPS / "vtest_1080p_h264.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    models = ROOT / "data" / "models"
    detector = GpuDetector.from_darknet(
        models / "yolov3-tiny.cfg", models / "yolov3-tiny.weights", models / "coco.names"
    )
    nv12 = [f.nv12 for f, _ in zip(NvdecDecoder(path).frames(), range(2), strict=False)]
    ok, bgr = cv2.VideoCapture(str(path)).read()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    empty = np.zeros((0, 0, 3), np.uint8)
    frames = [
        Frame("a", 0, 0.0, 0, empty, nv12[0]),
        Frame("b", 0, 0.0, 0, rgb),
        Frame("a", 1, 0.0, 0, empty, nv12[1]),
    ]
    mixed = detector.detect_frames(frames)
    alone = [
        detector.detect([nv12[0]], "nv12"),
        detector.detect([rgb]),
        detector.detect([nv12[1]], "nv12"),
    ]
    for slot, expected in enumerate(alone):
        np.testing.assert_allclose(mixed.for_frame(slot).xyxy, expected.xyxy, atol=0.5)
