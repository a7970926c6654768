"""Annotator: what changes on the image, and what must not."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from visionflow.overlay import PALETTE_RGB, Annotator, LineOverlay, ZoneOverlay, box_colors
from visionflow.types import NO_TRACK, Detections

H, W = 240, 320


def _image() -> np.ndarray:
    return np.full((H, W, 3), 40, np.uint8)


def _detections(
    xyxy: list[list[float]], track_id: list[int] | None = None, class_id: list[int] | None = None
) -> Detections:
    n = len(xyxy)
    return Detections(
        np.array(xyxy, np.float32).reshape(-1, 4),
        np.full(n, 0.87, np.float32),
        np.array(class_id if class_id is not None else [0] * n, np.int32),
        track_id=np.array(track_id if track_id is not None else [NO_TRACK] * n, np.int64),
    )


@pytest.mark.parametrize(
    ("border_yx", "track_id"),
    [((150, 100), 12), ((150, 200), 12), ((180, 150), NO_TRACK), ((150, 100), 0)],
)
def test_box_border_changes_far_pixels_do_not(border_yx: tuple[int, int], track_id: int) -> None:
    image = _image()
    out = Annotator(["person"]).annotate(image, _detections([[100, 120, 200, 180]], [track_id]))
    assert out is image  # drawn in place
    assert not np.array_equal(image[border_yx], [40, 40, 40])
    assert np.array_equal(image[10, 300], [40, 40, 40])
    assert np.array_equal(image[230, 10], [40, 40, 40])
    assert np.array_equal(image[150, 150], [40, 40, 40])  # box interior stays clear


@pytest.mark.parametrize(
    ("track_id", "class_id", "expected"),
    [
        ([12], [0], ["person #12 0.87"]),
        ([NO_TRACK], [1], ["car 0.87"]),
        ([3, NO_TRACK], [7, 0], ["class 7 #3 0.87", "person 0.87"]),
        ([], [], []),
    ],
)
def test_labels(track_id: list[int], class_id: list[int], expected: list[str]) -> None:
    detections = _detections([[0, 0, 10, 10]] * len(track_id), track_id, class_id)
    assert Annotator(["person", "car"]).labels(detections) == expected


def test_box_colors_by_track_then_class() -> None:
    colors = box_colors(np.array([5, 5, 2], np.int32), np.array([21, NO_TRACK, 1], np.int64))
    expected = PALETTE_RGB[[21 % len(PALETTE_RGB), 5, 1]]
    np.testing.assert_array_equal(colors, expected)


def test_empty_detections_leave_the_image_alone() -> None:
    image = _image()
    Annotator(["person"]).annotate(image, Detections.empty())
    assert np.array_equal(image, _image())


@pytest.mark.parametrize(
    ("vertices", "inside_yx", "outside_yx"),
    [
        ([[50, 50], [150, 50], [150, 150], [50, 150]], (100, 100), (200, 250)),
        ([[200, 40], [300, 200], [120, 200]], (150, 210), (60, 300)),
        ([[-50, -50], [100, -50], [100, 100], [-50, 100]], (40, 40), (200, 250)),  # clipped
    ],
)
def test_zone_fill_tints_inside_only(
    vertices: list[list[float]], inside_yx: tuple[int, int], outside_yx: tuple[int, int]
) -> None:
    image = _image()
    zone = ZoneOverlay("z", np.array(vertices, np.float64), text="")
    Annotator(["person"], zone_alpha=0.3).annotate(image, Detections.empty(), zones=[zone])
    assert not np.array_equal(image[inside_yx], [40, 40, 40])
    assert np.array_equal(image[outside_yx], [40, 40, 40])


def test_zone_outside_the_frame_is_harmless() -> None:
    image = _image()
    vertices = np.array([[1000, 1000], [1100, 1000], [1050, 1100]], np.float64)
    zone = ZoneOverlay("far", vertices, text="far: 0")
    Annotator(["person"]).annotate(image, Detections.empty(), zones=[zone])


@pytest.mark.parametrize(
    ("in_side", "arrow_yx", "clear_yx"),
    [("right", (135, 160), (105, 160)), ("left", (105, 160), (135, 160))],
)
def test_line_arrow_points_into_the_in_side(
    in_side: str, arrow_yx: tuple[int, int], clear_yx: tuple[int, int]
) -> None:
    """Line from left to right at y=120: 'right' of start→end is below (y grows downwards)."""
    image = _image()
    line = LineOverlay("door", (20.0, 120.0), (300.0, 120.0), text="", in_side=in_side)  # type: ignore[arg-type]
    Annotator(["person"]).annotate(image, Detections.empty(), lines=[line])
    assert not np.array_equal(image[120, 30], [40, 40, 40])  # the segment
    assert not np.array_equal(image[arrow_yx], [40, 40, 40])
    assert np.array_equal(image[clear_yx], [40, 40, 40])


def test_line_text_is_drawn() -> None:
    image = _image()
    line = LineOverlay("door", (20.0, 120.0), (300.0, 120.0), text="entrance in 3 / out 5")
    Annotator(["person"]).annotate(image, Detections.empty(), lines=[line])
    assert not np.array_equal(image[90:115, 160:260], np.full((25, 100, 3), 40, np.uint8))


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 3), np.uint8)[:, ::2],
    ],
)
def test_bad_images_are_rejected(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="image_rgb"):
        Annotator(["person"]).annotate(image, Detections.empty())


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: LineOverlay("l", (1, 1), (1, 1)), "distinct"),
        (lambda: LineOverlay("l", (1, 1), (2, 2), in_side="up"), "in_side"),  # type: ignore[arg-type]
        (lambda: ZoneOverlay("z", [[0, 0], [1, 1]]), r"\[V, 2\]"),  # type: ignore[arg-type]
        (lambda: Annotator([], zone_alpha=2.0), "zone_alpha"),
        (lambda: Annotator([], thickness=0), "thickness"),
    ],
)
def test_invalid_overlays(make: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        make()  # type: ignore[operator]


def test_import_does_not_load_pyav_or_opencv() -> None:
    code = "import sys, visionflow.overlay; print(sorted({'av', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
