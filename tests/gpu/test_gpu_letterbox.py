"""The one-kernel Triton NV12 letterbox against the torch-ops letterbox (needs CUDA + Triton).

The torch path is checked against the CPU letterbox and FFmpeg's RGB in
test_gpu_nvdec and the CPU tests; here the fused kernel must give the same
model input as the torch path on real NVDEC pictures, on real pictures at
sizes NVDEC would not give (odd scale, pitch wider than the row) and in
batches that mix layouts, where the kernel writes only its own slots.
Differences allowed: float32 tap positions instead of float64 (a few 1e-5).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("triton")
pytest.importorskip("PyNvVideoCodec")

from visionflow.decode.nvdec import NvdecDecoder  # noqa: E402
from visionflow.inference.gpu_preprocess import DeviceLetterboxer  # noqa: E402
from visionflow.inference.preprocess import PAD_VALUE  # noqa: E402

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
CLIPS = Path(os.environ.get("VISIONFLOW_GPU_CLIPS", ROOT / ".gpu_assets"))
CUDA = torch.device("cuda")
TOLERANCE = 2e-4  # float32 output, values 0..1


def _pictures(name: str, count: int) -> list[torch.Tensor]:
    path = CLIPS / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    frames = NvdecDecoder(path).frames()
    return [f.nv12 for f, _ in zip(frames, range(count), strict=False)]


def _nv12_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` RGB (even H, W) -> NV12 ``[H * 3 // 2, W]`` through OpenCV's I420."""
    height, width = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    quarter = (height // 2) * (width // 2)
    u = i420[height:].reshape(-1)[:quarter]
    v = i420[height:].reshape(-1)[quarter:]
    uv = np.stack([u, v], axis=1).reshape(height // 2, width)
    return np.concatenate([i420[:height], uv])


def _both(frames: list[torch.Tensor], formats: list[str], dtype: torch.dtype) -> tuple:
    fused = DeviceLetterboxer((416, 416), CUDA, dtype, fused_nv12=True)
    plain = DeviceLetterboxer((416, 416), CUDA, dtype, fused_nv12=False)
    assert fused.fused_nv12 and not plain.fused_nv12
    results = fused(frames, formats), plain(frames, formats)
    assert fused.last_fused_frames == formats.count("nv12") and plain.last_fused_frames == 0
    return results


@pytest.mark.parametrize("name", ["vtest_1080p_h264.mp4", "vtest_1080p_hevc.mp4"])
def test_fused_nv12_letterbox_equals_torch_ops_on_nvdec_pictures(name: str) -> None:
    pictures = _pictures(name, 24)
    (got, got_geo), (want, want_geo) = _both(pictures, ["nv12"] * 24, torch.float32)
    assert got.shape == (24, 3, 416, 416) and got.is_contiguous(memory_format=torch.channels_last)
    diff = (got - want).abs().max().item()
    assert diff < TOLERANCE, diff
    np.testing.assert_array_equal(got_geo.scale, want_geo.scale)
    np.testing.assert_array_equal(got_geo.pad_xy, want_geo.pad_xy)
    # 1080p -> 416x234 at pad_y 91: rows above and below are the grey canvas
    assert torch.all(got[:, :, :91] == PAD_VALUE) and torch.all(got[:, :, 91 + 234 :] == PAD_VALUE)
    assert got[:, :, 91 : 91 + 234].std() > 0.1  # a picture, not a fill


def test_fused_nv12_letterbox_in_fp16_within_one_rounding_step() -> None:
    pictures = _pictures("vtest_1080p_h264.mp4", 8)
    (got, _), (want, _) = _both(pictures, ["nv12"] * 8, torch.float16)
    assert got.dtype == torch.float16
    # the same float32 value up to TOLERANCE, rounded: at most one fp16 step (2**-11 below 1)
    assert (got.float() - want.float()).abs().max().item() <= 2**-11


def test_fused_nv12_letterbox_reads_pitched_frames_of_other_sizes_in_a_mixed_batch() -> None:
    """Real pictures at 642x362 (upscaled, odd ratio) stored with a 704-byte pitch,
    beside a 1080p NVDEC picture and a host-decoded RGB frame in one batch."""
    nvdec = _pictures("vtest_1080p_h264.mp4", 1)[0]
    capture = cv2.VideoCapture(str(CLIPS / "vtest_1080p_h264.mp4"))
    ok, bgr = capture.read()
    assert ok
    rgb = cv2.cvtColor(cv2.resize(bgr, (642, 362), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    small = _nv12_from_rgb(rgb)
    padded = torch.zeros((small.shape[0], 704), dtype=torch.uint8, device=CUDA)
    padded[:, :642] = torch.from_numpy(small).to(CUDA)
    pitched = padded[:, :642]
    assert pitched.stride(0) == 704 and not pitched.is_contiguous()
    frames = [pitched, torch.from_numpy(rgb).to(CUDA), nvdec, pitched.contiguous()]
    formats = ["nv12", "rgb", "nv12", "nv12"]
    (got, got_geo), (want, want_geo) = _both(frames, formats, torch.float32)
    diff = (got - want).abs().amax(dim=(1, 2, 3))
    assert torch.all(diff < TOLERANCE), diff
    np.testing.assert_array_equal(got_geo.source_wh, want_geo.source_wh)
    assert torch.equal(got[0], got[3])  # pitch does not change the picture


def _small_pitched() -> torch.Tensor:
    """A 642x362 NV12 picture with a 704-byte pitch (a size NVDEC would not give)."""
    capture = cv2.VideoCapture(str(CLIPS / "vtest_1080p_h264.mp4"))
    ok, bgr = capture.read()
    assert ok
    rgb = cv2.cvtColor(cv2.resize(bgr, (642, 362), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    small = _nv12_from_rgb(rgb)
    padded = torch.zeros((small.shape[0], 704), dtype=torch.uint8, device=CUDA)
    padded[:, :642] = torch.from_numpy(small).to(CUDA)
    return padded[:, :642]


def test_captured_letterbox_replays_the_kernel_on_new_frames() -> None:
    """One graph, replayed on batches of other frames, sizes and counts, writes what the
    kernel launched from Python writes; slots past the batch keep their contents."""
    pictures = _pictures("vtest_1080p_h264.mp4", 8)
    small = _small_pitched()
    letterbox = DeviceLetterboxer((416, 416), CUDA, torch.float16, fused_nv12=True)
    into = torch.full((8, 3, 416, 416), 0.25, dtype=torch.float16, device=CUDA).contiguous(
        memory_format=torch.channels_last
    )
    assert letterbox.capture(into)
    batches = [pictures, pictures[5:], [small, pictures[0], small], pictures[::-1]]
    for frames in batches:
        before = into.clone()
        got, got_geo = letterbox(frames, "nv12", into)
        assert letterbox.last_replayed and letterbox.last_fused_frames == len(frames)
        assert got.data_ptr() == into.data_ptr() and got.shape[0] == len(frames)
        want, want_geo = letterbox(frames, "nv12")  # the kernel, launched from Python
        assert not letterbox.last_replayed
        assert torch.equal(got, want)
        assert torch.equal(into[len(frames) :], before[len(frames) :])
        for field in ("scale", "pad_xy", "source_wh"):
            np.testing.assert_array_equal(getattr(got_geo, field), getattr(want_geo, field))
    # the one-size batches (8, 3 and 8 frames) took the kept tables; the mixed one did not
    assert sorted(count for _, count, _ in letterbox._plans) == [3, 8]
    # a batch with a host-decoded RGB frame is not the graph's: letterboxed by the ops, in place
    rgb = torch.zeros((1080, 1920, 3), dtype=torch.uint8, device=CUDA)
    got, _ = letterbox([pictures[0], rgb], ["nv12", "rgb"], into)
    assert not letterbox.last_replayed and got.data_ptr() == into.data_ptr()
    assert torch.all(got[1, :, :91] == PAD_VALUE)


def test_detector_warm_up_captures_the_letterbox_into_the_model_input() -> None:
    """After warm_up a small NV12 batch is letterboxed by a graph replay straight into the
    model's input buffer (larger ones by the kernel launched from Python); detections
    equal a detector whose letterbox is always launched from Python."""
    from visionflow.inference.gpu_detector import GRAPHED_LETTERBOX_MAX_FRAMES, GpuDetector

    models = Path(__file__).resolve().parents[2] / "data" / "models"
    pictures = _pictures("vtest_1080p_h264.mp4", 40)[::4]

    def build() -> GpuDetector:
        return GpuDetector.from_darknet(
            models / "yolov3-tiny.cfg",
            models / "yolov3-tiny.weights",
            models / "coco.names",
            max_batch_size=8,
        )

    graphed, eager = build(), build()
    graphed.warm_up()
    eager.backend.warm_up()
    for size in (1, 3, 8):
        got = graphed.detect(pictures[:size], "nv12")
        assert graphed.letterbox.last_replayed == (size <= GRAPHED_LETTERBOX_MAX_FRAMES)
        want = eager.detect(pictures[:size], "nv12")
        assert not eager.letterbox.last_replayed
        assert len(got) > 0
        np.testing.assert_array_equal(got.frame_index, want.frame_index)
        np.testing.assert_array_equal(got.xyxy, want.xyxy)
        np.testing.assert_array_equal(got.confidence, want.confidence)
