"""Every zone of every stream, advanced for a whole round in one vectorised pass.

A :class:`ZoneBank` holds each zone of each stream as a *unit* (see
:mod:`visionflow.analytics._pairs`): one state table keyed by (unit, track
id), the zones' parameters as per-unit columns, their polygons as padded edge
arrays and their overcrowding state as per-unit arrays. :meth:`ZoneBank.update`
takes a round (at most one frame per stream) and runs the rules of
:class:`~visionflow.analytics.zones.ZoneCounter` for every (track, zone) pair
at once; results come out only for the (few) zones with something to report.

A round up to its report (the pairs and their table rows, point in polygon,
observing, the state machine, loitering, the stale rows) runs as one
compiled call of :mod:`~visionflow.analytics._zone_kernel` (same results,
value for value); a round with nothing to report ends there;
``ZoneBank(compiled=False)`` runs the NumPy steps below instead, the
reference the kernel is tested against.

A standalone :class:`~visionflow.analytics.zones.ZoneCounter` is a one-unit
bank on stream 0, so both paths run this code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from visionflow.analytics._handover import match_handovers
from visionflow.analytics._pairs import (
    Pairs,
    Round,
    Units,
    key_tracks,
    key_units,
    pair_keys,
    remap_keys,
    stale_rows,
)
from visionflow.analytics._polygon import Edges, inside_polygons, polygon_edges, stack_edges
from visionflow.analytics._table import TrackTable, count_by_class
from visionflow.analytics._view import Views, check_stream_index
from visionflow.analytics._zone_steps import observe, step
from visionflow.analytics.crowding import CrowdingChange, CrowdingStates, OvercrowdingMonitor
from visionflow.analytics.zone_results import (
    NO_ENTRIES,
    NO_EXITS,
    NO_LOITERING,
    RoundReport,
    ZoneEntries,
    ZoneExits,
    ZoneLoitering,
    ZoneUpdate,
    concat_exits,
    take,
)

if TYPE_CHECKING:
    from visionflow.analytics import _zone_kernel
    from visionflow.analytics.zones import ZoneCounter

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
Points = npt.NDArray[np.float64]

_PARAMS: dict[str, np.generic] = {
    "min_frames": np.int64(0),
    "forget_frames": np.int64(0),
    "loitering_frames": np.int64(0),  # 0: no loitering alerts
    "recount_window_frames": np.int64(0),  # 0: no id-switch handovers
    "recount_radius_px": np.float64(0),
}
_STATE: dict[str, np.generic | npt.NDArray[Any]] = {
    "inside": np.bool_(False),  # the settled state
    "pending": np.int64(0),  # observations contradicting "inside"
    "run_start": np.int64(0),  # first frame of the pending run
    "enter_frame": np.int64(0),
    "last_inside": np.int64(0),
    "last_seen": np.int64(0),
    "class_id": np.int32(0),
    "loitered": np.bool_(False),  # alert raised during this visit
    "entry_id": np.int64(0),  # the id the visit entered under
    "first_seen": np.int64(-1),
    "first_xy": np.zeros(2),
    "last_xy": np.zeros(2),
}
_NO_ROWS = np.zeros(0, np.intp)  # round_step's rows: none, the kernel searches them
_CLASS_OFFSET = 1 << 31  # int32 class id → non-negative, order kept


class ZoneBank:
    """The zones of many streams as units of one state, updated per round.

    Add each stream's :class:`~visionflow.analytics.zones.ZoneCounter`
    with :meth:`add`; the counter then reads its unit's state here
    (``occupancy()``, ``reset()``, ``crowding`` …) and the bank alone
    advances it. Not thread-safe.

    Args:
        compiled: run a round's per-pair work as one compiled call (numba,
            compiled at the first update or by :meth:`warm_up`); ``False``
            runs the NumPy steps (same results, more interpreter overhead).
    """

    def __init__(self, *, compiled: bool = True) -> None:
        self.compiled = compiled
        self._units = Units(_PARAMS)
        self._views = Views()
        self._table = TrackTable(_STATE)
        self._crowding = CrowdingStates()
        self._edges: list[Edges] = []
        self._stacked = stack_edges([])
        self._classes: list[tuple[int, ...]] = []  # filtered classes, reported as 0 when empty
        self._handovers: I64 = np.zeros(0, np.int64)
        self._params: _zone_kernel.Params | None = None  # the kernel's, made on first use
        # The table's columns dict (replaced whenever rows change) and the kernel's tuple of it.
        self._columns: tuple[dict[str, npt.NDArray[Any]], _zone_kernel.Columns] | None = None
        self._crowding_on = False  # a unit has overcrowding alerts

    def __len__(self) -> int:
        return len(self._units)

    def streams_of(self, units: Collection[int]) -> set[int]:
        """The streams of ``units`` (as in the results of :meth:`update`)."""
        return self._units.streams_of(units)

    def add(self, stream: int, counter: ZoneCounter) -> int:
        """Adopt a fresh ``counter`` as a unit of ``stream``; return the unit index.

        Args:
            stream: dense stream index (the ``stream`` of the rounds' rows).
            counter: a counter never updated (or reset since), of no other bank.

        Raises:
            ValueError: ``stream`` is negative, or ``counter`` has state or
                already belongs to a bank.
        """
        check_stream_index(stream)
        counter._check_adoptable()
        unit = self._register(stream, counter)
        counter._attach(self, unit)
        self._views.add(unit, counter)
        return unit

    def _register(self, stream: int, counter: ZoneCounter) -> int:
        """Add ``counter``'s zone as a unit of ``stream`` (no checks); return its index."""
        unit = self._units.add(
            stream,
            counter.class_ids,
            counter.anchor,
            min_frames=counter.min_frames,
            forget_frames=counter.forget_frames,
            loitering_frames=counter.loitering_frames or 0,
            recount_window_frames=counter.recount_window_frames,
            recount_radius_px=counter.recount_radius_px,
        )
        crowd = counter._crowding_args
        self._crowding.add(*(crowd or (0, 1)))
        self._edges.append(polygon_edges(counter.polygon.as_array()))
        self._stacked = stack_edges(self._edges)
        self._classes.append(tuple(sorted(counter.class_ids or ())))
        self._handovers = np.append(self._handovers, np.int64(0))
        self._units_changed()
        return unit

    def remove_stream(self, stream: int) -> None:
        """Forget ``stream``'s units and their state (no exits are reported)."""
        dead = self._units.remove_stream(stream)
        if len(dead):
            self._forget_units(dead)
            self._views.drop(dead)
            self._compact()

    def _compact(self) -> None:
        """Drop dead units from every per-unit array once they outnumber the live ones."""
        kept = self._units.compact()
        if kept is None:
            return
        self._table.ids = remap_keys(self._table.ids, kept)
        self._crowding.take(kept)
        self._edges = [self._edges[u] for u in kept.tolist()]
        self._stacked = stack_edges(self._edges)
        self._classes = [self._classes[u] for u in kept.tolist()]
        self._handovers = self._handovers[kept]
        self._units_changed()
        self._views.renumber(kept)

    def _units_changed(self) -> None:
        """Refresh what the rounds keep of the units' parameters."""
        self._params = None
        self._crowding_on = bool((self._crowding.threshold > 0).any())

    def reset(self, unit: int) -> None:
        """Forget the tracks and alert state of ``unit`` (no exits are reported)."""
        self._forget_units(np.asarray([unit], np.intp))

    def occupancy(self, unit: int) -> dict[int, int]:
        """``{class_id: tracks inside}`` of ``unit`` (see :attr:`ZoneUpdate.occupancy`)."""
        if self.compiled:
            return self._occupancies(np.asarray([unit], np.intp))[unit]
        t, rows = self._table, self._rows_of(unit)
        found = count_by_class(t["class_id"][rows][t["inside"][rows]])
        return {**dict.fromkeys(self._classes[unit], 0), **found}

    def num_tracks(self, unit: int) -> int:
        """Number of tracks whose state ``unit`` holds."""
        rows = self._rows_of(unit)
        return int(rows.stop - rows.start)

    def handovers(self, unit: int) -> int:
        """Visits of ``unit`` continued under a new track id (id switches)."""
        return int(self._handovers[unit])

    def crowding(self, unit: int) -> OvercrowdingMonitor | None:
        """A view of ``unit``'s overcrowding state; ``None`` when it has none."""
        if not self._crowding.threshold[unit]:
            return None
        return OvercrowdingMonitor.view(self._crowding, unit)

    def warm_up(self) -> None:
        """Compile the round kernel now (or load it from numba's on-disk cache) instead
        of at the first update; a no-op for the NumPy steps. The state is unchanged.
        """
        if not self.compiled:
            return
        started = time.perf_counter()
        from visionflow.analytics import _zone_kernel as kernel

        empty, no_edges = TrackTable(_STATE), stack_edges([])
        no_rows = np.zeros(0, np.intp)
        pairs = (no_rows, no_rows, np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(0, np.int32))
        columns, params = kernel.table_columns(empty), kernel.unit_params(Units(_PARAMS))
        kernel.advance(pairs, empty.ids, columns, params, no_edges)
        kernel.loiter(pairs, columns, np.zeros(0, np.int64), np.zeros(0, np.bool_))
        self._occupancies(no_rows)  # and the occupancy kernel
        if (seconds := time.perf_counter() - started) > 1.0:
            log.info("compiled the zone kernel in %.1f s (cached for later runs)", seconds)

    def update(self, rnd: Round) -> dict[int, ZoneUpdate]:
        """Advance every unit whose stream has a frame in ``rnd``.

        Returns:
            unit → its :class:`ZoneUpdate`, only for units with an entry, an
            exit (forgotten tracks' included), a loitering alert or an
            overcrowding change; ``row`` fields index ``rnd.tracks``.
        """
        if not self._units.any_live():  # nothing to advance: no state either
            return {}
        if self.compiled:
            return self._update_compiled(rnd)
        pairs = self._units.pairs(rnd)
        index = self._table.locate(pairs.keys(rnd))
        unit_frame = rnd.frame_of(self._units.stream)  # [U], -1: not in the round
        found = self._advance(rnd, pairs, index, unit_frame)
        return self._report(rnd, pairs, index, found, stale=None)

    def _update_compiled(self, rnd: Round) -> dict[int, ZoneUpdate]:
        """:meth:`update` with the round up to its report in one compiled call (same results).

        A round with a track new to a unit runs twice: the first finds the keys
        to insert (and searches the rows once for both). An entry where a
        hand-over may continue a visit defers the loitering test (and the stale
        rows) until after the hand-over.
        """
        from visionflow.analytics import _zone_kernel as kernel

        t, units = self._table, self._units
        args = (rnd.kernel_arrays(), units.kernel_arrays(), units["forget_frames"])
        params = self._kernel_params()
        step: _zone_kernel.Step
        rows, edges = _NO_ROWS, self._stacked
        step = kernel.round_step(*args, t.ids, rows, self._kernel_columns(), params, edges)
        if step is not None and not step[4]:  # keys to insert: then their rows are known
            rows = t.locate_searched(step[2], step[3])
            step = kernel.round_step(*args, t.ids, rows, self._kernel_columns(), params, edges)
        if step is None:  # most rounds: nothing happened
            return self._crowding_only(rnd) if self._crowding_on else {}
        row, unit, _, index, _, inside_now, entered, exited, due, dwell, deferred, stale = step
        pairs = Pairs(row, unit)
        if deferred:
            entered &= ~self._hand_over(index, unit, entered, rnd.frame_of(units.stream))
            kernel_pairs = self._kernel_pairs(rnd, pairs, index)
            columns = kernel.table_columns(t)
            due, dwell = kernel.loiter(kernel_pairs, columns, params[1], inside_now)
        loiter_unit, loitering = self._loiter_report(index, pairs, due, dwell)
        found = (entered, exited, loiter_unit, loitering)
        return self._report(rnd, pairs, index, found, None if deferred else stale)

    def _report(
        self,
        rnd: Round,
        pairs: Pairs,
        index: Rows,
        found: tuple[Mask, Mask, Rows, ZoneLoitering],
        stale: Mask | None,
    ) -> dict[int, ZoneUpdate]:
        """Exits, forgotten tracks and overcrowding after the pairs' steps; the units' updates.

        Args:
            rnd: the round.
            pairs: its pairs.
            index: the pairs' table rows.
            found: ``(entered, exited)`` masks over the pairs, the loitering
                alerts' units and the alerts.
            stale: the table rows to forget, ``None``: find them here.
        """
        entered, exited, loiter_unit, loitering = found
        # Read every row through ``index`` before _forget compacts the table.
        left = self._exits(index[exited], pairs.row[exited].astype(np.int64))
        left_unit = pairs.unit[exited]
        gone_unit, gone = self._forget(rnd, stale)
        crowding = self._crowd(rnd)
        entries = ZoneEntries(
            row=pairs.row[entered].astype(np.int64),
            track_id=rnd.tracks.track_id[pairs.row[entered]],
            class_id=rnd.tracks.class_id[pairs.row[entered]],
        )
        exit_unit, exits = left_unit, left
        if len(gone_unit):  # per unit: exits seen, then forgotten
            exit_unit = np.concatenate([left_unit, gone_unit])
            order = np.argsort(exit_unit, kind="stable")
            exit_unit, exits = exit_unit[order], take(concat_exits(left, gone), order)
        report = RoundReport(
            pairs.unit[entered], entries, exit_unit, exits, loiter_unit, loitering, *crowding
        )
        units = report.units()
        return report.split(units, self._occupancies(units)) if len(units) else {}

    def _crowding_only(self, rnd: Round) -> dict[int, ZoneUpdate]:
        """:meth:`_report` of a round in which no track entered, exited, loitered or left."""
        crowd_unit, changes = self._crowd(rnd)
        if not len(crowd_unit):
            return {}
        none = np.zeros(0, np.intp)
        report = RoundReport(
            none, NO_ENTRIES, none, NO_EXITS, none, NO_LOITERING, crowd_unit, changes
        )
        units = report.units()
        return report.split(units, self._occupancies(units))

    def _kernel_params(self) -> _zone_kernel.Params:
        """The units' parameters as the zone kernel takes them (made once per set of units)."""
        if self._params is None:
            from visionflow.analytics import _zone_kernel as kernel

            self._params = kernel.unit_params(self._units)
        return self._params

    def _kernel_columns(self) -> _zone_kernel.Columns:
        """The table's columns as the zone kernel takes them; made again when they changed."""
        cached = self._columns
        if cached is None or cached[0] is not self._table.columns:
            from visionflow.analytics import _zone_kernel as kernel

            cached = self._columns = (self._table.columns, kernel.table_columns(self._table))
        return cached[1]

    def _kernel_pairs(self, rnd: Round, pairs: Pairs, index: Rows) -> _zone_kernel.Pairs:
        """The pairs as the zone kernel takes them (C-contiguous; copies only of odd ones)."""
        return (
            np.ascontiguousarray(index, np.intp),
            np.ascontiguousarray(pairs.unit, np.intp),
            np.ascontiguousarray(rnd.frame_number[pairs.row], np.int64),
            np.ascontiguousarray(self._units.points(rnd, pairs), np.float64),
            np.ascontiguousarray(rnd.tracks.class_id[pairs.row], np.int32),
        )

    def _advance(
        self, rnd: Round, pairs: Pairs, index: Rows, unit_frame: I64
    ) -> tuple[Mask, Mask, Rows, ZoneLoitering]:
        """The pairs' steps in NumPy: ``(entered, exited)`` masks and the loitering alerts."""
        frame, points = rnd.frame_number[pairs.row], self._units.points(rnd, pairs)
        inside_now = inside_polygons(points, self._stacked, pairs.unit)
        observe(self._table, index, points, rnd.tracks.class_id[pairs.row], frame)
        entered, exited = step(
            self._table, self._units, index, pairs.unit, inside_now=inside_now, frame=frame
        )
        if entered.any():
            entered &= ~self._hand_over(index, pairs.unit, entered, unit_frame)
        loiter_unit, loitering = self._loitering(index, pairs, inside_now, frame)
        return entered, exited, loiter_unit, loitering

    def _hand_over(self, index: Rows, unit: Rows, entered: Mask, unit_frame: I64) -> Mask:
        """Let entering tracks continue lost tracks' visits; return the mask of those."""
        window = self._units["recount_window_frames"]
        recount = entered & (window[unit] > 0)
        matched = [np.zeros(0, np.intp)] * 2
        for u in np.unique(unit[recount]).tolist():  # units with entries: rare
            entering = index[recount & (unit == u)]
            new, old = match_handovers(
                self._table,
                self._rows_of(u),
                entering,
                int(unit_frame[u]),
                window_frames=int(window[u]),
                radius_px=float(self._units["recount_radius_px"][u]),
            )
            matched = [np.concatenate([matched[0], new]), np.concatenate([matched[1], old])]
        new, old = matched
        if not len(new):
            return np.zeros(len(index), bool)
        t = self._table
        for name in ("enter_frame", "entry_id", "loitered"):
            t[name][new] = t[name][old]
        old_unit = key_units(t.ids[old])
        t["inside"][old] = False  # leaves silently: _forget drops it this round
        t["last_seen"][old] = unit_frame[old_unit] - self._units["forget_frames"][old_unit]
        np.add.at(self._handovers, old_unit, 1)
        return np.isin(index, new)

    def _loitering(
        self, index: Rows, pairs: Pairs, inside_now: Mask, frame: I64
    ) -> tuple[Rows, ZoneLoitering]:
        """Raise the alert for tracks seen inside whose dwell reached their threshold."""
        t = self._table
        threshold = self._units["loitering_frames"][pairs.unit]
        dwell = frame - t["enter_frame"][index] + 1
        due = inside_now & (threshold > 0) & t["inside"][index] & ~t["loitered"][index]
        due &= dwell >= threshold
        t["loitered"][index[due]] = True
        return self._loiter_report(index, pairs, due, dwell)

    def _loiter_report(
        self, index: Rows, pairs: Pairs, due: Mask, dwell: I64
    ) -> tuple[Rows, ZoneLoitering]:
        """The alerts ``due`` (already marked ``loitered``) of the pairs, with their dwell."""
        if not due.any():
            return np.zeros(0, np.intp), NO_LOITERING
        t, rows = self._table, index[due]
        return pairs.unit[due], ZoneLoitering(
            row=pairs.row[due].astype(np.int64),
            track_id=key_tracks(t.ids[rows]),
            class_id=t["class_id"][rows],
            dwell_frames=dwell[due],
        )

    def _exits(self, rows: Rows, track_rows: I64) -> ZoneExits:
        t = self._table
        return ZoneExits(
            row=track_rows,
            track_id=key_tracks(t.ids[rows]),
            class_id=t["class_id"][rows],
            dwell_frames=t["last_inside"][rows] - t["enter_frame"][rows] + 1,
            entry_track_id=t["entry_id"][rows],
        )

    def _forget(self, rnd: Round, stale: Mask | None) -> tuple[Rows, ZoneExits]:
        """Drop tracks unseen for their ``forget_frames`` (``stale``, or found here); those
        inside exit (row ``-1``)."""
        t = self._table
        if stale is None:
            stale = stale_rows(
                t.ids, t["last_seen"], self._units, rnd, self._units["forget_frames"]
            )
        if not stale.any():
            return np.zeros(0, np.intp), NO_EXITS
        leaving = np.flatnonzero(stale & t["inside"])
        exits = self._exits(leaving, np.full(len(leaving), -1, np.int64))
        units = key_units(t.ids[leaving])
        t.keep(~stale)
        return units, exits

    def _crowd(self, rnd: Round) -> tuple[Rows, list[CrowdingChange]]:
        """Advance the overcrowding state of the round's units that have one."""
        if not self._crowding_on:
            return np.zeros(0, np.intp), []
        unit_frame = rnd.frame_of(self._units.stream)  # [U], -1: not in the round
        on = np.flatnonzero((self._crowding.threshold > 0) & (unit_frame >= 0))
        if not len(on):
            return np.zeros(0, np.intp), []
        t = self._table
        inside_units = key_units(t.ids[t["inside"]])
        occupancy = np.bincount(inside_units, minlength=len(self._units))[on]
        return self._crowding.step(on, occupancy.astype(np.int64), unit_frame[on])

    def _occupancies(self, units: Rows) -> dict[int, dict[int, int]]:
        """``unit → {class_id: tracks inside}`` for the given units, in one pass."""
        t = self._table
        out = {u: dict.fromkeys(self._classes[u], 0) for u in units.tolist()}
        if self.compiled:  # one call instead of some ten NumPy ones
            from visionflow.analytics._occupancy_kernel import occupancy

            counted = occupancy(
                t.ids, t["inside"], t["class_id"], np.ascontiguousarray(units, np.intp)
            )
            for u, class_id, n in zip(*(a.tolist() for a in counted), strict=True):
                out[u][class_id] = n
            return out
        inside = np.flatnonzero(t["inside"])
        unit_of = key_units(t.ids[inside])
        keep = np.isin(unit_of, units)
        classes = t["class_id"][inside[keep]].astype(np.int64) + _CLASS_OFFSET
        found, counts = np.unique(pair_keys(unit_of[keep], classes), return_counts=True)
        units_classes = key_units(found).tolist(), key_tracks(found).tolist()
        for u, class_id, n in zip(*units_classes, counts.tolist(), strict=True):
            out[u][class_id - _CLASS_OFFSET] = n
        return out

    def _rows_of(self, unit: int) -> slice:
        """The table rows of ``unit`` (contiguous: keys sort by unit first)."""
        bounds = pair_keys(np.asarray([unit, unit + 1]), np.zeros(2, np.int64))
        lo, hi = np.searchsorted(self._table.ids, bounds).tolist()
        return slice(lo, hi)

    def _forget_units(self, units: Rows) -> None:
        t = self._table
        t.keep(~np.isin(key_units(t.ids), units))
        self._crowding.reset(units)
        self._handovers[units] = 0
