"""ROI filtering of every stream of a batch in one vectorised pass.

A :class:`RoiBank` holds every ROI of every stream as a unit of its stream
(see :mod:`visionflow.analytics._pairs`). :meth:`RoiBank.keep_mask` pairs each
row of a batch with the ROIs of its stream that watch its class, tests every
pair's anchor against its ROI's polygon at once, and reduces the pairs per row
with the rule of :class:`~visionflow.analytics.roi.RoiFilter`. Filtering is
stateless, so the whole batch is one pass, whatever its frames and streams.

Polygons are held as edge arrays padded to the longest polygon
(:func:`~visionflow.analytics._polygon.stack_edges`), so the test of every pair
is one :func:`~visionflow.analytics._polygon.inside_polygons` call,
bit-identical to testing each polygon on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from visionflow.analytics._pairs import Round, Units
from visionflow.analytics._polygon import Edges, inside_polygons, polygon_edges, stack_edges
from visionflow.types import Detections

if TYPE_CHECKING:
    from visionflow.analytics.roi import Roi, RoiFilter

Mask = npt.NDArray[np.bool_]


class RoiBank:
    """Every ROI of every stream; filters all streams of a batch at once.

    Streams are dense ``int`` indices chosen by the caller. Not thread-safe.
    """

    def __init__(self) -> None:
        self._units = Units({"inverse": np.bool_(False)})
        self._edges: list[Edges] = []  # per unit
        self._stacked = stack_edges([])  # [U, Emax] each, padded

    def add(self, stream: int, roi_filter: RoiFilter) -> None:
        """Register every ROI of ``roi_filter`` as a unit of ``stream``."""
        for roi in roi_filter.rois:
            self._add_roi(stream, roi)

    def has(self, stream: int) -> bool:
        """Whether ``stream`` has any ROI."""
        return bool(np.any(self._units.stream == stream))

    def remove_stream(self, stream: int) -> None:
        """Drop every ROI of ``stream`` (its rows are kept from then on)."""
        self._units.remove_stream(stream)
        kept = self._units.compact()  # once dead units outnumber the live ones
        if kept is not None:
            self._edges = [self._edges[u] for u in kept.tolist()]
            self._stacked = stack_edges(self._edges)

    def keep_mask(self, tracks: Detections, stream: npt.NDArray[np.int64]) -> Mask:
        """``[N]`` bool: which rows pass the ROIs of their stream.

        A row is kept unless an inverse ROI that applies to its class contains
        its anchor, or regular ROIs apply to its class and none contains it.
        Rows of streams without ROIs are kept.

        Args:
            tracks: ``[N]`` rows of any frames of any streams.
            stream: ``[N]`` int64 stream index of each row.

        Raises:
            ValueError: ``stream`` is not ``[N]``.
        """
        n = len(tracks)
        if np.shape(stream) != (n,):
            raise ValueError(f"stream must have shape ({n},) like tracks, got {np.shape(stream)}")
        # Stateless: frame numbers play no part, so the round carries none.
        rnd = Round(
            tracks, np.asarray(stream, np.int64), np.zeros(n, np.int64), np.zeros(0, np.int64)
        )
        pairs = self._units.pairs(rnd)
        inside = inside_polygons(self._units.points(rnd, pairs), self._stacked, pairs.unit)
        inverse = self._units["inverse"][pairs.unit]
        removed, regular, regular_inside = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        removed[pairs.row[inside & inverse]] = True
        regular[pairs.row[~inverse]] = True
        regular_inside[pairs.row[inside & ~inverse]] = True
        keep: Mask = ~removed & (~regular | regular_inside)
        return keep

    def _add_roi(self, stream: int, roi: Roi) -> None:
        self._units.add(stream, roi.class_ids, roi.anchor, inverse=roi.inverse)
        self._edges.append(polygon_edges(roi.polygon.as_array()))
        self._stacked = stack_edges(self._edges)
