"""ROI filtering: keep only the tracks inside (or outside) regions of interest.

This is DeepStream nvdsanalytics' ``[roi-filtering-stream-N]`` (``roi-<name>``
polygons, ``inverse-roi``, ``class-id``), applied as a filter: tracks that
fail it do not reach the lines, zones, events or overlay of the stream.

Semantics, per stream and per object (its anchor point, bottom-centre by
default as in DeepStream):

- a *regular* ROI applies to the objects of its classes; such an object is
  kept if its anchor is inside **at least one** regular ROI that applies to
  it (the union of the ROIs, as DeepStream's several ``roi-*`` keys of one
  group);
- an *inverse* ROI removes the objects of its classes whose anchor is inside
  it (keep what is outside);
- an object no ROI applies to (another class) is kept untouched.

The filter is stateless (one frame at a time, like DeepStream's) and runs
after the tracker, where nvdsanalytics sits in a DeepStream pipeline: the
tracker still sees every detection, so an object walking out of the ROI and
back keeps its track id instead of being counted again under a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from visionflow.analytics.roi_bank import RoiBank
from visionflow.geometry import Polygon
from visionflow.types import Detections


@dataclass(frozen=True, slots=True)
class Roi:
    """One region of interest.

    Attributes:
        name: name used in errors and the overlay.
        polygon: the region, in source-frame pixels.
        inverse: ``True`` removes what is inside instead of keeping it.
        class_ids: classes it applies to; ``None`` = every class.
        anchor: box point tested (see :meth:`Detections.anchors`).
    """

    name: str
    polygon: Polygon
    inverse: bool = False
    class_ids: frozenset[int] | None = None
    anchor: str = "bottom_center"


class RoiFilter:
    """Applies a stream's ROIs to its tracks, vectorised over the tracks.

    A one-stream :class:`~visionflow.analytics.roi_bank.RoiBank`: the pipeline
    adds every stream's filter to one bank and filters a batch at once.

    Args:
        rois: the ROIs of one stream (empty keeps everything).
    """

    def __init__(self, rois: Sequence[Roi]) -> None:
        for roi in rois:
            Detections.empty().anchors(roi.anchor)  # validates the anchor name early
        self.rois = tuple(rois)
        self._bank = RoiBank()
        self._bank.add(0, self)

    def __bool__(self) -> bool:
        return bool(self.rois)

    def keep_mask(self, tracks: Detections) -> npt.NDArray[np.bool_]:
        """``[N]`` bool: which rows of ``tracks`` pass every ROI of the stream."""
        return self._bank.keep_mask(tracks, np.zeros(len(tracks), np.int64))

    def filter(self, tracks: Detections) -> Detections:
        """The rows of ``tracks`` that pass (``tracks`` itself when there is no ROI)."""
        if not self.rois or not len(tracks):
            return tracks
        keep = self.keep_mask(tracks)
        return tracks if keep.all() else tracks[keep]
