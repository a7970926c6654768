"""Every counting line of every stream, advanced one round at a time in one NumPy pass.

A :class:`LineBank` holds the lines (*units*) of all streams: their
parameters as columns of :class:`~visionflow.analytics._pairs.Units`, their
vertices padded into one :class:`~visionflow.analytics._polyline.Polylines`,
the per-track state of every (unit, track) in one
:class:`~visionflow.analytics._table.TrackTable` keyed by
:func:`~visionflow.analytics._pairs.pair_keys`, and the recent crossings of
the re-acquisition rule in one :class:`~visionflow.analytics._recount.RecentCrossings`.
:meth:`LineBank.update` takes a :class:`~visionflow.analytics._pairs.Round`
(at most one frame per stream) and advances every (row, unit) pair at once;
its cost grows with the number of pairs, not of streams or lines.

The counting rules are those of :mod:`visionflow.analytics.lines`; a
:class:`~visionflow.analytics.lines.LineCounter` is a view of one unit (a
standalone counter is the only unit of a private bank).

By default a round up to its (rare) re-acquisition screen and report (the
pairs, their table rows, sides, state machine, touch and alignment tests, the
stale rows) runs as one compiled call
(:mod:`~visionflow.analytics._line_kernel`, same results value for value);
``LineBank(compiled=False)`` runs the NumPy code below, the reference.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from visionflow.analytics._pairs import (
    KEY_SHIFT,
    Pairs,
    Round,
    Units,
    key_tracks,
    key_units,
    pair_keys,
    remap_keys,
    stale_rows,
)
from visionflow.analytics._polyline import Polylines, path_hits, polyline_sides
from visionflow.analytics._recount import RecentCrossings, member
from visionflow.analytics._table import TrackTable
from visionflow.analytics._view import Views, check_stream_index
from visionflow.analytics.line_results import LineCrossings, LineSpec

if TYPE_CHECKING:
    from visionflow.analytics import _line_kernel
    from visionflow.analytics.lines import LineCounter

log = logging.getLogger(__name__)

Points = npt.NDArray[np.float64]
Rows = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
Counts = tuple[dict[int, int], dict[int, int]]  # (in, out): class_id → crossings
_NO_ROWS = np.zeros(0, np.intp)  # round_step's rows: none, the kernel searches them
KernelArrays = tuple["_line_kernel.State", "_line_kernel.Params", "_line_kernel.Lines"]


_PARAMS: dict[str, np.generic] = {
    "min_frames": np.int64(0),
    "forget_frames": np.int64(0),
    "loose": np.bool_(False),
    "min_cos": np.float64(0.0),
    "has_direction": np.bool_(False),
    "direction_x": np.float64(0.0),
    "direction_y": np.float64(0.0),
    "recount_window": np.int64(0),
    "recount_radius": np.float64(0.0),
}
_STATE: dict[str, np.generic | Points] = {
    "settled_side": np.int8(0),  # 0 until first seen off the line
    "observed_side": np.int8(0),  # side of the latest off-line observation
    "settled_xy": np.zeros(2),
    "first_new_xy": np.zeros(2),
    "pending": np.int32(0),
    "first_seen": np.int64(-1),
    "last_seen": np.int64(0),
}


class LineBank:
    """The counting lines of every stream, updated one round at a time.

    Streams are dense int indices chosen by the caller. Not thread-safe.

    Args:
        compiled: advance the pairs in one compiled call (numba, imported on
            first use); ``False`` runs the NumPy reference code (same results).
    """

    def __init__(self, *, compiled: bool = True) -> None:
        self.compiled = compiled
        self._units = Units(_PARAMS)
        self._views = Views()
        self._lines = Polylines.empty()
        self._table = TrackTable(_STATE)
        self._recent = RecentCrossings()
        self._suppressed: I64 = np.zeros(0, np.int64)
        self._names: list[tuple[str, str]] = []
        self._counts: list[Counts] = []
        # The table's columns dict (replaced whenever rows change) and the kernel arrays of it.
        self._kernel_cache: tuple[dict[str, npt.NDArray[Any]], KernelArrays] | None = None

    def __len__(self) -> int:
        """Number of units ever added (removed streams' units included)."""
        return len(self._units)

    def streams_of(self, units: Collection[int]) -> set[int]:
        """The streams of ``units`` (as in the results of :meth:`update`)."""
        return self._units.streams_of(units)

    def add(self, stream: int, counter: LineCounter) -> int:
        """Adopt a fresh ``counter`` as a unit of ``stream``; return the unit index.

        From then on the counter is a view of the unit (its counts, state and
        ``reset``) and is advanced only by :meth:`update`.

        Raises:
            ValueError: ``stream`` is negative, or the counter already belongs
                to a bank, or has state (it holds tracks or counts; ``reset``
                it first).
        """
        check_stream_index(stream)
        counter._check_adoptable()
        unit = self._register(stream, counter._spec)
        counter._attach(self, unit)
        self._views.add(unit, counter)
        return unit

    def _register(self, stream: int, spec: LineSpec) -> int:
        """Add a unit of ``stream`` for ``spec``; return its index."""
        direction = spec.direction if spec.direction is not None else np.zeros(2)
        unit = self._units.add(
            stream,
            spec.class_ids,
            spec.anchor,
            min_frames=spec.min_frames,
            forget_frames=spec.forget_frames,
            loose=spec.loose,
            min_cos=spec.min_cos,
            has_direction=spec.direction is not None,
            direction_x=direction[0],
            direction_y=direction[1],
            recount_window=spec.recount_window_frames,
            recount_radius=spec.recount_radius_px,
        )
        self._lines = self._lines.append(spec.vertices)
        self._suppressed = np.append(self._suppressed, np.int64(0))
        self._names.append((spec.in_name, spec.out_name))
        self._counts.append(({}, {}))
        self._kernel_cache = None
        return unit

    def remove_stream(self, stream: int) -> None:
        """Forget ``stream``'s units: their tracks, recent crossings and counts."""
        dead = self._units.remove_stream(stream)
        if len(dead):
            self._table.keep(~np.isin(key_units(self._table.ids), dead))
            self._recent.keep(~np.isin(self._recent.unit, dead))
            for unit in dead.tolist():
                self._clear_totals(unit)
            self._views.drop(dead)
            self._compact()

    def _compact(self) -> None:
        """Drop dead units from every per-unit array once they outnumber the live ones."""
        kept = self._units.compact()
        if kept is None:
            return
        self._table.ids = remap_keys(self._table.ids, kept)
        new_index = np.full(int(kept[-1]) + 1, -1, np.intp)
        new_index[kept] = np.arange(len(kept))
        self._recent.unit = new_index[self._recent.unit]
        self._lines = self._lines.take(kept)
        self._suppressed = self._suppressed[kept]
        self._names = [self._names[u] for u in kept.tolist()]
        self._counts = [self._counts[u] for u in kept.tolist()]
        self._kernel_cache = None
        self._views.renumber(kept)

    def reset(self, unit: int) -> None:
        """Forget every track and recent crossing of ``unit``, and zero its counts."""
        lo, hi = self._rows_of(unit)
        keep = np.ones(len(self._table), bool)
        keep[lo:hi] = False
        self._table.keep(keep)
        self._recent.keep(self._recent.unit != unit)
        self._clear_totals(unit)

    def counts(self, unit: int) -> dict[str, dict[int, int]]:
        """Cumulative crossings of ``unit``: ``{in_name: {class_id: n}, out_name: {...}}``."""
        (in_name, out_name), (n_in, n_out) = self._names[unit], self._counts[unit]
        return {in_name: dict(n_in), out_name: dict(n_out)}

    def num_tracks(self, unit: int) -> int:
        """Number of tracks whose state ``unit`` holds (bounded by its ``forget_frames``)."""
        lo, hi = self._rows_of(unit)
        return hi - lo

    def suppressed_recounts(self, unit: int) -> int:
        """Crossings of ``unit`` suppressed as re-acquisitions so far."""
        return int(self._suppressed[unit])

    def has_state(self, unit: int) -> bool:
        """Whether ``unit`` holds tracks, recent crossings or non-zero counts."""
        return bool(
            self.num_tracks(unit)
            or self._suppressed[unit]
            or any(self._counts[unit])
            or (self._recent.unit == unit).any()
        )

    def warm_up(self) -> None:
        """Compile the round now (or load it from numba's on-disk cache) instead of
        on the first frame; a no-op for the NumPy bank. Bank state is unchanged.

        The first compile on a machine takes seconds (about 3.5 s on a 2-core VM);
        later processes load the cached code in about 0.3 s.
        """
        if not self.compiled:
            return
        from visionflow.analytics import _line_kernel as kernel

        started = time.perf_counter()
        none = np.zeros(0, np.intp)
        kernel.advance(none, none.astype(np.int64), np.zeros((0, 2)), none, *self._kernel_arrays())
        if (seconds := time.perf_counter() - started) > 1.0:
            log.info("compiled the line round in %.1f s (cached for later runs)", seconds)

    def update(self, rnd: Round) -> dict[int, LineCrossings]:
        """Advance every unit whose stream has a frame in ``rnd``.

        Args:
            rnd: confirmed tracks of at most one frame per stream.

        Returns:
            unit → its crossings in this round (``row`` indexes ``rnd.tracks``,
            in row order), only for units with at least one crossing.
        """
        if not self._units.any_live():  # nothing to advance: no state either
            return {}
        if self.compiled:
            return self._update_compiled(rnd)
        pairs = self._units.pairs(rnd)
        crossed = going_in = np.zeros(0, bool)
        if len(pairs):
            crossed, going_in = self._advance(rnd, pairs)
        t = self._table
        t.keep(~stale_rows(t.ids, t["last_seen"], self._units, rnd, self._units["forget_frames"]))
        if not crossed.any():
            return {}
        return self._report(rnd, pairs, crossed, going_in)

    def _update_compiled(self, rnd: Round) -> dict[int, LineCrossings]:
        """:meth:`update` with the round in one compiled call (same results).

        The kernel also finds the pairs, their rows and the stale rows, and runs
        :meth:`_judge`'s touch and mode tests; the re-acquisition screen then
        runs here, on the crossings it returns. A round with a track new to a
        unit runs twice: the first finds the keys to insert (and searches the
        rows once for both).
        """
        from visionflow.analytics import _line_kernel as kernel

        t, units = self._table, self._units
        args = (rnd.kernel_arrays(), units.kernel_arrays(), units["forget_frames"])
        step: _line_kernel.Step = kernel.round_step(*args, t.ids, _NO_ROWS, *self._kernel_arrays())
        if step is not None and not step[4]:  # keys to insert: then their rows are known
            rows = t.locate_searched(step[2], step[3])
            step = kernel.round_step(*args, t.ids, rows, *self._kernel_arrays())
        if step is None:  # no crossing, no stale row
            return {}
        row, unit, _, index, _, crossed, going_in, screen, hit_xy, stale, n_stale = step
        if len(screen):
            crossed[screen] = self._not_recounted(
                rnd, unit[screen], index[screen], hit_xy, going_in[screen]
            )
        if n_stale:  # last: dropping rows invalidates ``index``
            t.keep(~stale)
        if not crossed.any():
            return {}
        return self._report(rnd, Pairs(row, unit), crossed, going_in)

    def _advance(self, rnd: Round, pairs: Pairs) -> tuple[Mask, Mask]:
        """Update the state of every pair; return ``[P]`` (crossed, direction_in)."""
        t = self._table
        index = t.locate(pairs.keys(rnd))
        frame = rnd.frame_number[pairs.row]
        t["last_seen"][index] = frame
        fresh = t["first_seen"][index] < 0
        t["first_seen"][index[fresh]] = frame[fresh]
        points = self._units.points(rnd, pairs)
        raw = polyline_sides(points, self._lines, pairs.unit)
        side = np.where(raw == 0, t["observed_side"][index], raw)
        t["observed_side"][index] = side
        settled = t["settled_side"][index]
        stay = (side != 0) & ((settled == 0) | (side == settled))
        flipped = (settled != 0) & (side == -settled)
        pending = np.where(flipped, t["pending"][index] + 1, 0)
        first = flipped & (pending == 1)
        t["first_new_xy"][index[first]] = points[first]
        done = pending >= self._units["min_frames"][pairs.unit]
        crossed = np.zeros(len(index), bool)
        if done.any():  # rare: most rounds settle nothing
            k = np.flatnonzero(done)
            crossed[k] = self._judge(
                rnd, pairs.unit[k], index[k], now_xy=points[k], going_in=side[k] > 0
            )
        moved = stay | done
        t["settled_side"][index[moved]] = side[moved]
        placed = (stay & (raw != 0)) | done  # on the line is on no side: never the settled point
        t["settled_xy"][index[placed]] = points[placed]
        t["pending"][index] = np.where(done, 0, pending)
        return crossed, side > 0

    def _kernel_arrays(self) -> KernelArrays:
        """The state columns (written in place), unit parameters and lines, as the kernel
        takes them (arrays of any layout); made again only when they changed."""
        cached = self._kernel_cache
        if cached is None or cached[0] is not self._table.columns:
            cached = self._kernel_cache = (self._table.columns, self._new_kernel_arrays())
        return cached[1]

    def _new_kernel_arrays(self) -> KernelArrays:
        t, u, lines = self._table, self._units, self._lines
        state = (
            t["last_seen"],
            t["first_seen"],
            t["observed_side"],
            t["settled_side"],
            t["pending"],
            t["settled_xy"],
            t["first_new_xy"],
        )
        params = (
            u["min_frames"],
            u["loose"],
            u["min_cos"],
            u["has_direction"],
            u["direction_x"],
            u["direction_y"],
            u["recount_window"],
        )
        return state, params, (lines.vertices, lines.segments, lines.normals, lines.segment_table)

    def _judge(self, rnd: Round, unit: Rows, rows: Rows, *, now_xy: Points, going_in: Mask) -> Mask:
        """Which confirmed side changes count: touch, mode, re-acquisition.

        Args:
            rnd: the round.
            unit: ``[K]`` unit of each side change.
            rows: ``[K]`` its row in the state table.
            now_xy: ``[K, 2]`` the anchor that confirmed it.
            going_in: ``[K]`` whether it goes to the in side.
        """
        t, u = self._table, self._units
        start = t["settled_xy"][rows]
        hits = path_hits(start, t["first_new_xy"][rows], self._lines, unit)
        has_direction = u["has_direction"][unit]
        direction = np.stack([u["direction_x"][unit], u["direction_y"][unit]], axis=1)
        normal = np.where(going_in[:, None], hits.normal, -hits.normal)
        reference = np.where(has_direction[:, None], direction, normal)
        movement = now_xy - start
        length = np.maximum(np.linalg.norm(movement, axis=1), 1e-12)
        cos = np.einsum("kc,kc->k", movement, reference) / length
        loose = u["loose"][unit]
        aligned = np.where(loose, cos > 0.0, cos >= u["min_cos"][unit] - 1e-12)
        ok: Mask = hits.hit & ((loose & ~has_direction) | aligned)
        screen = ok & (u["recount_window"][unit] > 0)
        if screen.any():
            ok[screen] = self._not_recounted(
                rnd, unit[screen], rows[screen], hits.xy[screen], going_in[screen]
            )
        return ok

    def _not_recounted(
        self, rnd: Round, unit: Rows, rows: Rows, hit_xy: Points, going_in: Mask
    ) -> Mask:
        """False for crossings that repeat a lost track's recent one (see the lines module)."""
        u, recent = self._units, self._recent
        now = rnd.frame_of(u.stream)
        recent.prune(now, u["recount_window"])
        stream = u.stream[recent.unit]
        lost = ~member((stream << KEY_SHIFT) | recent.track_id, rnd.present_keys())
        ids, first_seen = key_tracks(self._table.ids[rows]), self._table["first_seen"][rows]
        match = recent.matches(
            unit, hit_xy, going_in, ids, first_seen, lost=lost, radius_px=u["recount_radius"][unit]
        )
        repeat = match >= 0
        frame = now[unit]
        recent.take_over(match[repeat], ids[repeat], frame[repeat])
        new = ~repeat
        recent.add(unit[new], frame[new], hit_xy[new], going_in[new], ids[new])
        np.add.at(self._suppressed, unit[repeat], 1)
        return new

    def _report(
        self, rnd: Round, pairs: Pairs, crossed: Mask, going_in: Mask
    ) -> dict[int, LineCrossings]:
        """Split the crossed pairs by unit (pairs are ordered by unit, then row); count them."""
        sel = np.flatnonzero(crossed)
        unit, row, going_in = pairs.unit[sel], pairs.row[sel], going_in[sel]
        track_id, class_id = rnd.tracks.track_id[row], rnd.tracks.class_id[row]
        self._accumulate(unit, going_in, class_id)
        bounds = [0, *(np.flatnonzero(unit[1:] != unit[:-1]) + 1).tolist(), len(sel)]
        return {  # units with crossings only
            int(unit[lo]): LineCrossings(
                row[lo:hi].astype(np.int64), track_id[lo:hi], class_id[lo:hi], going_in[lo:hi]
            )
            for lo, hi in itertools.pairwise(bounds)
        }

    def _accumulate(self, unit: Rows, going_in: Mask, class_id: npt.NDArray[np.int32]) -> None:
        """Add crossings to the counts: one ``unique`` over (unit, direction, class)."""
        offset = 1 << 31  # class ids are int32: shifted to be non-negative
        slot = unit.astype(np.int64) * 2 + ~going_in  # (unit, in = 0 / out = 1)
        keys = (slot << 32) | (class_id.astype(np.int64) + offset)
        combos, n = np.unique(keys, return_counts=True)
        for key, k in zip(combos.tolist(), n.tolist(), strict=True):
            per_class = self._counts[key >> 33][(key >> 32) & 1]
            cls = (key & 0xFFFFFFFF) - offset
            per_class[cls] = per_class.get(cls, 0) + k

    def _rows_of(self, unit: int) -> tuple[int, int]:
        """``[lo, hi)``: the table rows of ``unit`` (rows are sorted by pair key)."""
        bounds = pair_keys(np.asarray([unit, unit + 1]), np.zeros(2, np.int64))
        lo, hi = np.searchsorted(self._table.ids, bounds).tolist()
        return int(lo), int(hi)

    def _clear_totals(self, unit: int) -> None:
        self._suppressed[unit] = 0
        self._counts[unit] = ({}, {})
