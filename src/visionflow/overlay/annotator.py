"""Draw detections, tracks, counting lines and zones onto RGB frames with OpenCV.

Drawing is per object by nature (one ``cv2.rectangle`` per box); everything
around it (colour lookup, label formatting inputs, rounding, text colour) is
done for all boxes at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from visionflow.overlay.shapes import LineOverlay, ZoneOverlay
from visionflow.types import NO_TRACK, Detections, ImageRGB

PALETTE_RGB: npt.NDArray[np.uint8] = np.array(
    [
        [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
        [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
        [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0],
        [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128],
    ],
    dtype=np.uint8,
)  # fmt: skip
"""Fixed 20-colour palette (RGB): ``track_id % 20``, or ``class_id % 20`` when untracked."""

LINE_COLOR_RGB = (255, 255, 255)
ZONE_COLOR_RGB = (0, 200, 255)
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX, kept numeric so this module imports without cv2


def box_colors(
    class_id: npt.NDArray[np.int32], track_id: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint8]:
    """``[N, 3]`` RGB colour per box: by track id when tracked, else by class id."""
    key = np.where(track_id != NO_TRACK, track_id, class_id.astype(np.int64))
    return PALETTE_RGB[np.mod(key, len(PALETTE_RGB))]


def text_colors(background_rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Black or white text per background colour, by Rec. 601 luma."""
    luma = background_rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.where((luma > 140)[:, None], np.uint8(0), np.uint8(255)).repeat(3, axis=1)


class Annotator:
    """Draw boxes with ``"<class> #<track> <confidence>"`` labels, lines and zones.

    :meth:`annotate` draws **in place** on the array it is given and returns
    that same array (no per-frame copy of the image). Pass ``image.copy()``
    to keep the original.

    Args:
        class_names: label set of the model; ``class_id`` indexes it. Unknown
            ids are labelled ``class <id>``.
        thickness: line thickness in pixels.
        font_scale: OpenCV Hershey font scale (0.5 ≈ 10 px high text).
        zone_alpha: opacity of the zone fill in ``[0, 1]``.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        *,
        thickness: int = 2,
        font_scale: float = 0.5,
        zone_alpha: float = 0.25,
    ) -> None:
        if not 0.0 <= zone_alpha <= 1.0:
            raise ValueError(f"zone_alpha must be in [0, 1], got {zone_alpha}")
        if thickness < 1:
            raise ValueError(f"thickness must be >= 1 pixel, got {thickness}")
        self.class_names = tuple(class_names)
        self.thickness = thickness
        self.font_scale = font_scale
        self.zone_alpha = zone_alpha

    def annotate(
        self,
        image_rgb: ImageRGB,
        detections: Detections,
        *,
        lines: Sequence[LineOverlay] = (),
        zones: Sequence[ZoneOverlay] = (),
    ) -> ImageRGB:
        """Draw zones, then lines, then boxes onto ``image_rgb`` in place.

        Args:
            image_rgb: ``[H, W, 3]`` uint8, writable and C-contiguous.
            detections: boxes of this frame only (use ``Detections.for_frame``).
            lines: counting lines with their captions.
            zones: zones with their captions.

        Returns:
            ``image_rgb`` itself, annotated.
        """
        _check_image(image_rgb)
        for zone in zones:
            self._draw_zone(image_rgb, zone)
        for line in lines:
            self._draw_line(image_rgb, line)
        if len(detections):
            self._draw_boxes(image_rgb, detections)
        return image_rgb

    def labels(self, detections: Detections) -> list[str]:
        """Label text per box: ``"person #12 0.87"``, or ``"person 0.87"`` when untracked."""
        names = [self._class_name(int(c)) for c in detections.class_id]
        conf = np.char.mod("%.2f", detections.confidence.astype(np.float64))
        track = np.where(
            detections.track_id != NO_TRACK, np.char.mod(" #%d", detections.track_id), ""
        )
        return [f"{n}{t} {c}" for n, t, c in zip(names, track.tolist(), conf.tolist(), strict=True)]

    def _class_name(self, class_id: int) -> str:
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return f"class {class_id}"

    def _draw_boxes(self, image: ImageRGB, detections: Detections) -> None:
        import cv2

        xyxy = np.round(detections.xyxy).astype(np.int32).tolist()
        colors = box_colors(detections.class_id, detections.track_id)
        fg = text_colors(colors).tolist()
        for (x1, y1, x2, y2), color, text_color, label in zip(
            xyxy, colors.tolist(), fg, self.labels(detections), strict=True
        ):
            cv2.rectangle(image, (x1, y1), (x2, y2), color, self.thickness)
            self._put_label(image, label, (x1, y1), color, text_color)

    def _draw_line(self, image: ImageRGB, line: LineOverlay) -> None:
        import cv2

        points = np.asarray(line.points or (line.start_xy, line.end_xy), np.float64)
        longest = int(np.argmax(np.linalg.norm(np.diff(points, axis=0), axis=1)))
        start, end = points[longest], points[longest + 1]
        direction = (end - start) / np.linalg.norm(end - start)
        normal_in = np.array([-direction[1], direction[0]])  # "right" of start→end, y down
        if line.in_side == "left":
            normal_in = -normal_in
        mid = (start + end) / 2
        tip = mid + normal_in * 6 * self.thickness * 2
        polyline = np.round(points).astype(np.int32)
        cv2.polylines(image, [polyline], False, LINE_COLOR_RGB, self.thickness)
        cv2.arrowedLine(image, _pt(mid), _pt(tip), LINE_COLOR_RGB, self.thickness, tipLength=0.35)
        if line.text:
            text_at = mid - normal_in * 8 * self.thickness
            self._put_label(image, line.text, _pt(text_at), LINE_COLOR_RGB, [0, 0, 0])

    def _draw_zone(self, image: ImageRGB, zone: ZoneOverlay) -> None:
        import cv2

        points = np.round(zone.vertices).astype(np.int32)
        self._fill_polygon(image, points)
        cv2.polylines(image, [points], True, ZONE_COLOR_RGB, self.thickness)
        if zone.text:
            top = points[np.argmin(points[:, 1])]
            self._put_label(image, zone.text, (int(top[0]), int(top[1])), ZONE_COLOR_RGB, [0, 0, 0])

    def _fill_polygon(self, image: ImageRGB, points: npt.NDArray[np.int32]) -> None:
        """Blend the zone colour into the polygon, touching only its bounding box."""
        import cv2

        height, width = image.shape[:2]
        x0, y0 = np.maximum(points.min(axis=0), 0)
        x1, y1 = np.minimum(points.max(axis=0) + 1, (width, height))
        if x1 <= x0 or y1 <= y0 or self.zone_alpha == 0.0:
            return
        roi = image[y0:y1, x0:x1]
        tinted = roi.copy()
        cv2.fillPoly(tinted, [points - np.array([x0, y0], np.int32)], ZONE_COLOR_RGB)
        roi[...] = cv2.addWeighted(tinted, self.zone_alpha, roi, 1.0 - self.zone_alpha, 0.0)

    def _put_label(
        self,
        image: ImageRGB,
        text: str,
        anchor_xy: tuple[int, int],
        bg_color: Sequence[int],
        fg_color: Sequence[int],
    ) -> None:
        """Text on a filled box whose bottom-left is ``anchor_xy`` (kept inside the frame)."""
        import cv2

        (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, self.font_scale, 1)
        x = min(max(anchor_xy[0], 0), max(image.shape[1] - text_w, 0))
        y = max(anchor_xy[1], text_h + baseline)
        cv2.rectangle(image, (x, y - text_h - baseline), (x + text_w, y), tuple(bg_color), -1)
        cv2.putText(
            image, text, (x, y - baseline), _FONT, self.font_scale, tuple(fg_color), 1, cv2.LINE_AA
        )


def _pt(xy: npt.NDArray[np.float64]) -> tuple[int, int]:
    return round(float(xy[0])), round(float(xy[1]))


def _check_image(image_rgb: ImageRGB) -> None:
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(
            f"image_rgb must be [H, W, 3] uint8, got shape {image_rgb.shape} "
            f"dtype {image_rgb.dtype}"
        )
    if not (image_rgb.flags.c_contiguous and image_rgb.flags.writeable):
        raise ValueError("image_rgb must be writable and C-contiguous (annotate draws in place)")
