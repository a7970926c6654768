"""Counting tracks that cross a line segment or polyline, per direction and class.

Direction convention (image coordinates, ``x`` rightwards, ``y`` downwards):
stand on the line's first point and look along it *as drawn on the screen*.
The side on your right hand is the **in** side, the side on your left hand
the **out** side; a track crosses **in** when its anchor moves from the left
side to the right side. For a segment ``start → end`` with ``d = end - start``
and ``v = p - start`` the side of ``p`` is the sign of ``d.x * v.y - d.y * v.x``
(positive: right, in). Examples: a horizontal line drawn left → right counts
moving **down** the picture as *in*; a vertical line drawn top → bottom counts
moving **leftwards** as *in*. Reverse the points to swap the directions.

**Polylines** (3+ points) are one line with bends, counted as a whole: the
side of a point is the side of the polyline nearest to it, with corners
resolved by the vertex pseudo-normal (see :mod:`visionflow.analytics._polyline`),
so a side is well defined everywhere and a path through a shared vertex
changes it once and counts once. A path that crosses the polyline several
times between two observations counts its net effect: a zigzag crossed
in-out-in is one *in*.

**Crossing rule.** A track's *settled* side changes only after its anchor has
been observed on the other side for ``min_frames`` consecutive observations
(hysteresis: a track jittering on the line counts at most once; frames in
which the track is missing neither extend nor break the run, so positions
arriving every k-th frame still count exactly once). The change counts only
if the straight path from the last position on the settled side to the first
position on the new side touches the line (so passing beyond an end never
counts, touching an end point does; a point exactly on the line, or on its
extension beyond an end, is on neither side, so it is never that last
position). A point exactly on the line keeps the
side of the track's previous observation, so stopping on the line and going
on counts once, and touching the line and going back counts nothing. A track
first seen on a side (e.g. entering the frame already across the line)
settles there without counting: nobody saw it cross.

**Confirmed tracks only.** Only the tracker's confirmed tracks reach the
analytics (``tracker.min_hits``); a non-positive id is an error. A crossing
needs at least ``1 + min_frames`` observations of the track (one on the old
side, ``min_frames`` on the new one), so a separate minimum track age would
add nothing: a track seen fewer frames can never count.

**Modes** (DeepStream nvdsanalytics' ``mode``; its docs only say that
*loose* "counts all crossing without strong adherence to direction" and that
*balanced* and *strict* expect increasingly strict adherence, with no
numbers). Each crossing has a *movement*: from the last position on the old
side to the position at which the crossing is confirmed (a longer baseline
than the single crossing step, so box jitter barely turns it). Its
*reference* is the ``direction`` vector when the line has one, else the
normal of the line where the path first touched it, pointing to the side it
went to. The crossing counts when the angle between movement and reference is
below 90° (loose), at most 60° (balanced) or at most 30° (strict) — our
choice. Without a ``direction``, loose accepts every crossing (no angle test
at all); balanced and strict reject grazing crossings. With a
``direction``, only crossings moving along it count (as DeepStream's
``line-crossing-<label>=direction;line``); they are still named *in* or *out*
by the side they reach. A crossing rejected by its mode still moves the
track's settled side.

**Re-acquisition / id switch** (``recount_window_frames``, 0 = off): a
crossing by track ``B`` is *suppressed* when a counted crossing of this line
in the same direction by another track ``A`` happened at most
``recount_window_frames`` earlier, within ``recount_radius_px`` of ``B``'s
crossing point, ``A`` is absent from the current frame (lost), and ``B`` was
first seen after ``A``'s crossing (B is a new id, not a separate object that
was already there). Only a track's latest counted crossing is kept as a
record (in, then out, then lost: a new id crossing in again is counted). The
suppressed crossing then takes over the record, so a chain of
re-acquisitions still counts once. The window trades a missed count
of a second object passing the very same spot right after a first one left
the scene against double counts; keep it short (about a second).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from visionflow.analytics._pairs import Round
from visionflow.analytics._recount import unit_direction
from visionflow.analytics._table import check_positive
from visionflow.analytics._view import UnitView
from visionflow.analytics.line_bank import LineBank
from visionflow.analytics.line_results import LineCrossings, LineSpec
from visionflow.geometry import Line, Polyline
from visionflow.types import Detections

__all__ = ["MAX_ANGLE_DEG", "LineBank", "LineCounter", "LineCrossings", "Mode"]

Points = npt.NDArray[np.float64]
Mode = Literal["loose", "balanced", "strict"]
MAX_ANGLE_DEG: dict[str, float] = {"loose": 90.0, "balanced": 60.0, "strict": 30.0}
"""Largest angle between a crossing's movement and its reference, per mode."""


class LineCounter(UnitView):
    """Counts tracks crossing a segment or polyline, per direction and class.

    See the module docstring for the exact rule, the modes and the
    re-acquisition window. A counter is one unit of a :class:`LineBank`: on
    its own it is the only unit of a private bank and :meth:`update` advances
    it by one frame; once adopted by a shared bank (:meth:`LineBank.add`, the
    pipeline's way: every line of every stream in one pass per round) it is a
    view of its unit there (:meth:`counts`, :meth:`reset`, :attr:`num_tracks`,
    :attr:`suppressed_recounts`) and only the bank advances it. Not thread-safe.

    Args:
        name: name of the line (used in events and errors).
        line: the directed segment or polyline, in source-frame pixels.
        in_name: label of the left → right direction.
        out_name: label of the right → left direction.
        class_ids: classes to count; ``None`` counts every class.
        anchor: box point that must cross (see :meth:`Detections.anchors`).
        min_frames: consecutive observations on the new side before a crossing
            counts (``1`` = no hysteresis).
        forget_frames: frames without a sighting after which a track's state is
            dropped; a track that reappears later starts afresh.
        mode: ``loose``, ``balanced`` or ``strict``.
        direction: ``(dx, dy)``: only crossings moving along it count.
        recount_window_frames: re-acquisition window in frames; 0 disables it.
        recount_radius_px: re-acquisition radius around a crossing point.
    """

    bank_kind = "LineBank"
    _bank: LineBank

    def __init__(
        self,
        name: str,
        line: Line | Polyline,
        *,
        in_name: str = "in",
        out_name: str = "out",
        class_ids: frozenset[int] | None = None,
        anchor: str = "bottom_center",
        min_frames: int = 2,
        forget_frames: int = 60,
        mode: Mode = "loose",
        direction: tuple[float, float] | None = None,
        recount_window_frames: int = 30,
        recount_radius_px: float = 50.0,
    ) -> None:
        check_positive("min_frames", min_frames)
        check_positive("forget_frames", forget_frames)
        if in_name == out_name:
            raise ValueError(f"in_name and out_name must differ, both are {in_name!r}")
        if mode not in MAX_ANGLE_DEG:
            raise ValueError(f"mode={mode!r} is not one of {sorted(MAX_ANGLE_DEG)}")
        if recount_window_frames < 0 or not recount_radius_px > 0:
            raise ValueError(
                "recount_window_frames must be >= 0 and recount_radius_px > 0, got "
                f"{recount_window_frames} and {recount_radius_px}"
            )
        Detections.empty().anchors(anchor)  # validates the anchor name early
        self.name = name
        self.line = Polyline.from_line(line) if isinstance(line, Line) else line
        self.in_name, self.out_name = in_name, out_name
        self.class_ids = class_ids
        self.anchor = anchor
        self.min_frames = min_frames
        self.forget_frames = forget_frames
        self.mode = mode
        self.recount_window_frames = recount_window_frames
        self.recount_radius_px = float(recount_radius_px)
        vertices = self.line.as_array()
        self._spec = LineSpec(
            vertices=vertices,
            in_name=in_name,
            out_name=out_name,
            class_ids=class_ids,
            anchor=anchor,
            min_frames=min_frames,
            forget_frames=forget_frames,
            loose=mode == "loose",
            min_cos=float(np.cos(np.radians(MAX_ANGLE_DEG[mode]))),
            direction=unit_direction(direction, vertices),
            recount_window_frames=recount_window_frames,
            recount_radius_px=self.recount_radius_px,
        )
        self._own_bank()  # private until a bank adopts the counter (UnitView)

    @property
    def num_tracks(self) -> int:
        """Number of tracks whose state is held (bounded by ``forget_frames``)."""
        return self._bank.num_tracks(self._unit)

    @property
    def suppressed_recounts(self) -> int:
        """Crossings suppressed as re-acquisitions of a lost track so far."""
        return self._bank.suppressed_recounts(self._unit)

    @property
    def vertices(self) -> Points:
        """``[V, 2]`` the line's points in pixels (a copy)."""
        return self._spec.vertices.copy()

    def reset(self) -> None:
        """Forget every track and recent crossing, and zero the counts."""
        self._bank.reset(self._unit)

    def counts(self) -> dict[str, dict[int, int]]:
        """Cumulative crossings: ``{in_name: {class_id: n}, out_name: {...}}`` (a copy)."""
        return self._bank.counts(self._unit)

    def _own_bank(self) -> None:
        self._bank = LineBank()
        self._unit = self._bank._register(0, self._spec)

    def _state_note(self) -> str | None:
        has = self._bank.has_state(self._unit)
        return "tracks, counts or recent crossings" if has else None

    def update(self, tracks: Detections, frame_number: int) -> LineCrossings:
        """Advance by one frame and return the crossings counted in it.

        Args:
            tracks: confirmed tracks of one frame of this stream (positive,
                unique ``track_id``).
            frame_number: 0-based frame number within the stream.

        Returns:
            One entry per crossing counted in this frame, in row order.

        Raises:
            ValueError: a track id is not positive or repeats.
            RuntimeError: the counter is a unit of a shared :class:`LineBank`.
        """
        self._require_standalone()
        rnd = Round.single(tracks, frame_number, self._owner())
        return self._bank.update(rnd).get(self._unit) or LineCrossings.empty()
