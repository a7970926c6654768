"""Adapter around the reference ByteTrack (the ``bytetracker`` package).

``bytetracker`` 0.3.2 is the ByteTrack authors' tracker (``yolox/tracker`` of
the ByteTrack repository) packaged for pip: per-object ``STrack`` objects, the
same Kalman filter, ``lap.lapjv`` assignment and the ``+1`` pixel IoU of
``cython_bbox`` re-written in Python. It is a test-only dependency, installed
with ``pip install --no-deps bytetracker==0.3.2`` plus ``lap`` (its pinned
``torch==1.13`` / ``scipy==1.9.3`` / ``lap==0.4.0`` cannot be installed next to
ours and are not needed). It imports ``torch`` only to receive the detections
as a tensor (``.numpy()`` on column slices, an ``isinstance`` check), so
:func:`_import_reference` lends it a stand-in ``torch`` module for the import
and the detections are passed as :class:`_TensorLike` arrays.

The package has two slips of its own, outside the ByteTrack algorithm, that
the adapter undoes (each is explained where it is handled):

* boxes reach ``STrack`` as centre ``x, y, w, h`` where top-left ``x, y, w, h``
  is meant (:func:`_compensate_centre_as_corner`);
* the low-score detections get the *high* detections' classes,
  ``clss_second = classes[remain_inds]``, and ``zip`` then truncates the low
  detections to as many as there are high ones, so on a frame with only
  low-score boxes the second association sees none. :func:`_fixed_update`
  replaces that one line with ``classes[inds_second]`` (the source is patched
  at import, and the test fails if the line is no longer there).

One quirk of the ByteTrack algorithm itself is kept, and reported: its final
bookkeeping subtracts the removed-track list *before* adding the frame's
removals, so an expired lost track stays matchable one frame longer (marked
``Removed``); if it is re-found in that frame, its id is still in the removed
list, and the next time it is lost it is dropped at once instead of being
kept for the buffer. :attr:`ReferenceRun.zombie_refinds` lists those
re-finds, so tests can tell that divergence from a real one.

Its output boxes are Kalman-filtered states, not detections, so the adapter
records which detection each track was last matched to (a subclass of its
``STrack``) and returns one id per input row, ``-1`` for rows it did not output.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.types import Detections

I64Array = npt.NDArray[np.int64]


class _TensorLike(np.ndarray):  # type: ignore[type-arg]
    """A NumPy array with the one tensor method the reference calls."""

    def numpy(self) -> npt.NDArray[Any]:
        return np.asarray(self)


def _import_reference() -> types.ModuleType:
    """Import ``bytetracker.byte_tracker``, lending it a stand-in ``torch`` if needed."""
    if importlib.util.find_spec("bytetracker") is None or importlib.util.find_spec("lap") is None:
        pytest.skip(
            "reference ByteTrack missing: "
            "pip install lap && pip install --no-deps bytetracker==0.3.2",
            allow_module_level=True,
        )
    if "torch" in sys.modules:
        return importlib.import_module("bytetracker.byte_tracker")
    # Even where torch is installed: the same code path everywhere, and no
    # 1-2 s torch import for a tensor type the adapter never uses.
    stand_in = types.ModuleType("torch")
    stand_in.Tensor = type("Tensor", (), {})  # type: ignore[attr-defined]
    sys.modules["torch"] = stand_in
    try:
        return importlib.import_module("bytetracker.byte_tracker")
    finally:
        del sys.modules["torch"]  # nothing else may mistake it for torch


byte_tracker = _import_reference()
basetrack = importlib.import_module("bytetracker.basetrack")


class _RecordingSTrack(byte_tracker.STrack):  # type: ignore[misc, name-defined]
    """``STrack`` that remembers the detection (``tlwh`` + score) it last took."""

    def activate(self, kalman_filter: Any, frame_id: int) -> None:
        super().activate(kalman_filter, frame_id)
        self.last_key = self.key

    def update(self, new_track: Any, frame_id: int) -> None:
        super().update(new_track, frame_id)
        self.last_key = new_track.key

    def re_activate(self, new_track: Any, frame_id: int, new_id: bool = False) -> None:
        if self.state == basetrack.TrackState.Removed:
            _ZOMBIES.append((frame_id - 1, int(self.track_id)))
        super().re_activate(new_track, frame_id, new_id)
        self.last_key = new_track.key

    @property
    def key(self) -> bytes:
        return np.asarray(self._tlwh, np.float64).tobytes()


_ZOMBIES: list[tuple[int, int]] = []


@dataclass
class ReferenceRun:
    """What the reference did on a clip.

    Attributes:
        ids: per frame, ``[N]`` int64 id of each detection row, -1 if not output.
        zombie_refinds: ``(frame index, track id)`` of every re-find of an
            already expired track (see the module docstring).
    """

    ids: list[I64Array]
    zombie_refinds: list[tuple[int, int]] = field(default_factory=list)


def _fixed_update() -> Callable[..., Any]:
    """``BYTETracker.update`` with the low-score class slip fixed and our ``STrack``.

    Compiled from the package's own source, in a copy of its module namespace
    where ``STrack`` is :class:`_RecordingSTrack`; nothing else changes.
    """
    source = textwrap.dedent(inspect.getsource(byte_tracker.BYTETracker.update))
    slip = "clss_second = classes[remain_inds]"
    if source.count(slip) != 1:
        raise AssertionError(f"bytetracker changed: {slip!r} not found once in update()")
    source = source.replace(slip, "clss_second = classes[inds_second]")
    namespace = dict(vars(byte_tracker), STrack=_RecordingSTrack)
    local: dict[str, Any] = {}
    exec(compile(source, byte_tracker.__file__, "exec"), namespace, local)
    update: Callable[..., Any] = local["update"]
    return update


class _ReferenceTracker(byte_tracker.BYTETracker):  # type: ignore[misc, name-defined]
    update = _fixed_update()


def run_reference(
    frames: Sequence[Detections],
    *,
    track_thresh: float = 0.5,
    track_buffer: int = 30,
    match_thresh: float = 0.8,
    frame_rate: float = 30.0,
) -> ReferenceRun:
    """Track ``frames`` with the reference ByteTrack (arguments: its own)."""
    _ZOMBIES.clear()
    basetrack.BaseTrack._count = 0  # ids are a class-level counter: restart at 1
    tracker = _ReferenceTracker(
        track_thresh=track_thresh,
        track_buffer=track_buffer,
        match_thresh=match_thresh,
        frame_rate=frame_rate,
    )
    out: list[I64Array] = []
    for dets in frames:
        table = np.concatenate(
            [
                _compensate_centre_as_corner(dets.xyxy.astype(np.float64)),
                dets.confidence.astype(np.float64)[:, None],
                dets.class_id.astype(np.float64)[:, None],
            ],
            axis=1,
        ).reshape(-1, 6)
        tracker.update(table.view(_TensorLike), None)
        xywh = byte_tracker.xyxy2xywh(table[:, :4])
        tlwh_rows = {row.tobytes(): i for i, row in enumerate(np.asarray(xywh, np.float64))}
        ids = np.full(len(dets), -1, np.int64)
        for track in tracker.tracked_stracks:
            if track.is_activated and track.frame_id == tracker.frame_id:
                ids[tlwh_rows[track.last_key]] = track.track_id
        out.append(ids)
    return ReferenceRun(out, list(_ZOMBIES))


@cache
def run_clip(clip: str, frame_rate: float = 30.0, track_thresh: float = 0.5) -> ReferenceRun:
    """:func:`run_reference` on a harness clip (``"vtest"`` or a scene), once per process."""
    import tracking_harness

    return run_reference(
        tracking_harness.clip_detections(clip), frame_rate=frame_rate, track_thresh=track_thresh
    )


def _compensate_centre_as_corner(xyxy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Undo the wrapper's box-format slip, so the reference sees the true boxes.

    ``bytetracker``'s ``BYTETracker.update`` converts its ``x1, y1, x2, y2``
    input to *centre* ``x, y, w, h`` and passes that to ``STrack(tlwh=...)``
    as if it were the top-left corner, which shifts every box by half its own
    size (the ByteTrack repository passes ``tlbr_to_tlwh(box)``). Because a
    track and a detection of different sizes are shifted by different amounts,
    that changes IoUs. Feeding it ``(x1 - w/2, y1 - h/2, x1 + w/2, y1 + h/2)``
    makes its centre-``xywh`` equal the true ``x1, y1, w, h``.
    """
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    x1, y1 = xyxy[:, 0], xyxy[:, 1]
    return np.stack([x1 - w / 2, y1 - h / 2, x1 + w / 2, y1 + h / 2], axis=1)
