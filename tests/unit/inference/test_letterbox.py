"""Letterbox pre-processing: placement, values, buffer reuse, box mapping."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.inference import Letterboxer
from visionflow.inference.preprocess import PAD_VALUE, letterbox_params


@pytest.mark.parametrize(
    ("source_wh", "input_wh", "scale", "new_wh", "pad_xy"),
    [
        ((768, 576), (416, 416), 416 / 768, (416, 312), (0, 52)),
        ((576, 768), (416, 416), 416 / 768, (312, 416), (52, 0)),
        ((416, 416), (416, 416), 1.0, (416, 416), (0, 0)),
        ((100, 50), (416, 416), 4.16, (416, 208), (0, 104)),
        ((1920, 1080), (640, 384), 1 / 3, (640, 360), (0, 12)),
    ],
    ids=["landscape", "portrait", "same", "upscale", "non-square-input"],
)
def test_letterbox_params(
    source_wh: tuple[int, int],
    input_wh: tuple[int, int],
    scale: float,
    new_wh: tuple[int, int],
    pad_xy: tuple[int, int],
) -> None:
    got_scale, got_new, got_pad = letterbox_params(source_wh, input_wh)
    assert got_scale == pytest.approx(scale)
    assert (got_new, got_pad) == (new_wh, pad_xy)


def test_letterbox_values_and_padding() -> None:
    rng = np.random.default_rng(0)
    same = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    wide = np.full((32, 64, 3), 255, np.uint8)
    batch, geometry = Letterboxer((64, 64))([same, wide])
    assert batch.shape == (2, 3, 64, 64)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], same.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert np.all(batch[1][:, :16] == PAD_VALUE)
    assert np.all(batch[1][:, 48:] == PAD_VALUE)
    assert np.all(batch[1][:, 16:48] == 1.0)
    np.testing.assert_allclose(geometry.pad_xy, [[0, 0], [0, 16]])
    np.testing.assert_allclose(geometry.source_wh, [[64, 64], [64, 32]])


def test_letterbox_keeps_rgb_channel_order() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[..., 0] = 255  # pure red
    batch, _ = Letterboxer((32, 32))([image])
    centre = batch[0, :, 16, 16]
    np.testing.assert_allclose(centre, [1.0, 0.0, 0.0])


def test_letterbox_reuses_buffer_and_resets_padding() -> None:
    letterbox = Letterboxer((32, 32))
    first, _ = letterbox([np.zeros((32, 32, 3), np.uint8)] * 3)
    second, _ = letterbox([np.zeros((16, 32, 3), np.uint8)])
    assert np.shares_memory(first, second)
    assert second.shape == (1, 3, 32, 32)
    assert np.all(second[0, :, :8] == PAD_VALUE)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
    ],
    ids=["gray", "rgba", "float"],
)
def test_letterbox_rejects_bad_images(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"images\[1\] must be RGB uint8"):
        Letterboxer((32, 32))([np.zeros((8, 8, 3), np.uint8), image])


@pytest.mark.parametrize("seed", range(5))
def test_box_mapping_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = [(int(rng.integers(50, 2000)), int(rng.integers(50, 2000))) for _ in range(4)]
    images = [np.zeros((h, w, 3), np.uint8) for w, h in sizes]
    _, geometry = Letterboxer((416, 320))(images)
    slot = rng.integers(0, 4, 200)
    wh = np.array(sizes, np.float32)[slot]
    xy1 = rng.random((200, 2)) * wh * 0.5
    xyxy = np.concatenate([xy1, xy1 + rng.random((200, 2)) * wh * 0.5], axis=1).astype(np.float32)
    forward = geometry.to_input(xyxy, slot)
    assert np.all(forward >= -1e-3)
    assert np.all(forward[:, [0, 2]] <= 416 + 1e-3)
    assert np.all(forward[:, [1, 3]] <= 320 + 1e-3)
    np.testing.assert_allclose(geometry.to_source(forward, slot), xyxy, rtol=1e-4, atol=1e-2)


def test_to_source_clips_to_frame() -> None:
    _, geometry = Letterboxer((64, 64))([np.zeros((32, 64, 3), np.uint8)])
    boxes = np.array([[-10, 0, 80, 70]], np.float32)
    np.testing.assert_allclose(geometry.to_source(boxes, np.array([0])), [[0, 0, 64, 32]])
