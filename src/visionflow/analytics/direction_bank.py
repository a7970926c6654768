"""Direction detection for every detector of every stream in one pass per round.

A :class:`DirectionBank` holds every :class:`~visionflow.analytics.direction.DirectionDetector`
of every stream as a unit of its stream (see :mod:`visionflow.analytics._pairs`)
and advances them all with one set of NumPy calls per round: each (track,
detector) pair is one row of the state table, with its detector's parameters
gathered from the unit columns. A standalone detector is a bank of one unit.

**History.** Each state row keeps its last observations in a ring of
``history_frames + 1`` cells of its unit, within a column as wide as the
longest history of the bank: a pair's heading is its current anchor minus the
oldest of its last ``history_frames + 1`` observations (the current one
included), as :mod:`~visionflow.analytics.direction` states, with the same
arithmetic. A ring writes one cell per observation instead of shifting the
whole history.

**Directions.** Direction vectors are padded to ``[U, Lmax, 2]``; a padding
direction's cosine is ``-inf``, so it never wins.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from visionflow.analytics._pairs import (
    KEY_SHIFT,
    Pairs,
    Points,
    Round,
    Rows,
    Units,
    key_tracks,
    key_units,
    remap_keys,
    stale_rows,
)
from visionflow.analytics._table import TrackTable
from visionflow.analytics._view import Views, check_stream_index
from visionflow.analytics.direction import NONE, DirectionChanges, DirectionStates

if TYPE_CHECKING:
    from visionflow.analytics.direction import DirectionDetector

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


class DirectionBank:
    """Every direction detector of every stream, updated once per round.

    Streams are dense ``int`` indices chosen by the caller. Not thread-safe.
    """

    def __init__(self) -> None:
        self._units = Units(
            {
                "history_frames": np.int64(0),
                "min_length_px": np.float64(0),  # min_displacement_px, at least 1e-9
                "min_frames": np.int64(0),
                "forget_frames": np.int64(0),
                "min_cos": np.float64(0),
                "loose": np.bool_(False),  # match any direction below 90 degrees (cos > 0)
            }
        )
        self._views = Views()
        self._directions = np.zeros((0, 0, 2))  # [U, Lmax, 2] unit vectors, zero padded
        self._valid = np.zeros((0, 0), bool)  # [U, Lmax] real (not padding) directions
        self._table = _state_table(0)

    def streams_of(self, units: Collection[int]) -> set[int]:
        """The streams of ``units`` (as in the results of :meth:`update`)."""
        return self._units.streams_of(units)

    def add(self, stream: int, detector: DirectionDetector) -> int:
        """Adopt a fresh ``detector`` as a unit of ``stream``; return the unit index.

        From then on ``detector`` is a view of the unit (``states()``,
        ``reset()``, ``num_tracks``) and only :meth:`update` advances it.

        Raises:
            ValueError: ``detector`` already holds track state or belongs to a bank.
        """
        check_stream_index(stream)
        detector._check_adoptable()
        unit = self._register(stream, detector)
        detector._attach(self, unit)
        self._views.add(unit, detector)
        return unit

    def remove_stream(self, stream: int) -> None:
        """Drop every detector of ``stream`` and the state of its tracks."""
        dead = self._units.remove_stream(stream)
        self._table.keep(~np.isin(key_units(self._table.ids), dead))
        self._views.drop(dead)
        kept = self._units.compact()  # once dead units outnumber the live ones
        if kept is not None:
            self._table.ids = remap_keys(self._table.ids, kept)
            self._directions, self._valid = self._directions[kept], self._valid[kept]
            self._views.renumber(kept)

    def update(self, rnd: Round) -> dict[int, DirectionChanges]:
        """Advance every detector of the streams in ``rnd`` by their frame.

        Returns:
            unit → the tracks whose direction was set or changed, only for
            units with at least one; ``row`` indexes ``rnd.tracks``.
        """
        if not self._units.any_live():  # nothing to advance: no state either
            return {}
        pairs = self._units.pairs(rnd)
        changes = self._advance(rnd, pairs) if len(pairs) else {}
        # Last: dropping rows invalidates the rows located by ``_advance``.
        t = self._table
        if len(t):
            t.keep(
                ~stale_rows(t.ids, t["last_seen"], self._units, rnd, self._units["forget_frames"])
            )
        return changes

    def states(self, unit: int) -> DirectionStates:
        """The established direction of every track ``unit`` holds (copies)."""
        rows = self._rows(unit)
        return DirectionStates(
            key_tracks(self._table.ids[rows]), self._table["current"][rows].copy()
        )

    def num_tracks(self, unit: int) -> int:
        """Number of tracks whose state ``unit`` holds."""
        rows = self._rows(unit)
        return int(rows.stop - rows.start)

    def reset(self, unit: int) -> None:
        """Forget every track of ``unit``."""
        rows = self._rows(unit)
        keep = np.ones(len(self._table), bool)
        keep[rows] = False
        self._table.keep(keep)

    def _register(self, stream: int, detector: DirectionDetector) -> int:
        """Add ``detector``'s parameters as a unit of ``stream``; return the unit index.

        Also how a standalone detector builds its private one-unit bank.
        """
        unit = self._units.add(
            stream,
            detector.class_ids,
            detector.anchor,
            history_frames=detector.history_frames,
            min_length_px=max(detector.min_displacement_px, 1e-9),
            min_frames=detector.min_frames,
            forget_frames=detector.forget_frames,
            min_cos=detector._min_cos,
            loose=detector._loose,
        )
        self._add_directions(detector._unit_vectors)
        if detector.history_frames + 1 > self._table["history"].shape[1]:
            self._widen_history(detector.history_frames + 1)
        return unit

    def _advance(self, rnd: Round, pairs: Pairs) -> dict[int, DirectionChanges]:
        """Observe every pair once; return the changes by unit."""
        index = self._table.locate(pairs.keys(rnd))
        self._table["last_seen"][index] = rnd.frame_number[pairs.row]
        heading = self._push(index, pairs.unit, self._units.points(rnd, pairs))
        candidate = self._match(pairs.unit, heading)
        changed, previous = self._debounce(index, pairs.unit, candidate)
        picked = np.flatnonzero(changed)
        if not len(picked):
            return {}
        row = pairs.row[picked].astype(np.int64)
        h = heading[picked]
        found = DirectionChanges(
            row=row,
            track_id=rnd.tracks.track_id[row],
            class_id=rnd.tracks.class_id[row],
            direction=candidate[picked],
            previous=previous[picked],
            heading_deg=np.degrees(np.arctan2(h[:, 1], h[:, 0])),
        )
        return _by_unit(found, pairs.unit[picked])

    def _rows(self, unit: int) -> slice:
        """The table rows of ``unit`` (contiguous: keys sort by unit first)."""
        ids = self._table.ids
        lo, hi = np.searchsorted(ids, [unit << KEY_SHIFT, (unit + 1) << KEY_SHIFT])
        return slice(int(lo), int(hi))

    def _add_directions(self, vectors: Points) -> None:
        units, width = self._directions.shape[0], max(self._directions.shape[1], len(vectors))
        directions, valid = np.zeros((units + 1, width, 2)), np.zeros((units + 1, width), bool)
        directions[:units, : self._directions.shape[1]] = self._directions
        valid[:units, : self._valid.shape[1]] = self._valid
        directions[units, : len(vectors)] = vectors
        valid[units, : len(vectors)] = True
        self._directions, self._valid = directions, valid

    def _widen_history(self, cells: int) -> None:
        """Re-pad the history column to ``cells`` (a ring never uses cells past its own)."""
        old, self._table = self._table, _state_table(cells)
        self._table.ids = old.ids
        self._table.columns = dict(old.columns)
        history = np.zeros((len(old), cells, 2))
        history[:, : old["history"].shape[1]] = old["history"]
        self._table.columns["history"] = history

    def _push(self, index: Rows, unit: Rows, points: Points) -> Points:
        """Record ``points`` in the rows' history rings; return ``[P, 2]`` headings."""
        t = self._table
        cells = self._units["history_frames"][unit] + 1
        observed = t["observed"][index]  # observations before this one
        t["history"][index, observed % cells] = points
        observed += 1
        t["observed"][index] = observed
        oldest = (observed - np.minimum(observed, cells)) % cells
        heading: Points = points - t["history"][index, oldest]
        return heading

    def _match(self, unit: Rows, heading: Points) -> I64:
        """``[P]`` best direction index per heading, ``-1`` for none."""
        squared = heading * heading
        length = np.sqrt(squared[:, 0] + squared[:, 1])  # np.linalg.norm's arithmetic, faster
        moving = (length >= self._units["min_length_px"][unit]) & (length > 0)
        vectors = self._directions[unit]  # [P, Lmax, 2]
        dot = heading[:, None, 0] * vectors[..., 0] + heading[:, None, 1] * vectors[..., 1]
        cos = dot / np.maximum(length, 1e-12)[:, None]
        if not self._valid.all():  # some detector has fewer directions than Lmax
            cos[~self._valid[unit]] = -np.inf
        best = np.argmax(cos, axis=1)
        best_cos = cos[np.arange(len(cos)), best]
        ok = np.where(
            self._units["loose"][unit],
            best_cos > 0.0,
            best_cos >= self._units["min_cos"][unit] - 1e-12,
        )
        return np.where(moving & ok, best, NONE).astype(np.int64)

    def _debounce(self, index: Rows, unit: Rows, candidate: I64) -> tuple[Mask, I64]:
        """Update streaks; return (changed mask, previous direction)."""
        t = self._table
        same = candidate == t["candidate"][index]
        streak = np.where(candidate == NONE, 0, np.where(same, t["streak"][index] + 1, 1))
        t["candidate"][index] = candidate
        t["streak"][index] = streak
        previous = t["current"][index].astype(np.int64)
        ready = streak >= self._units["min_frames"][unit]
        changed = (candidate != NONE) & ready & (candidate != previous)
        t["current"][index[changed]] = candidate[changed]
        return changed, previous


def _by_unit(changes: DirectionChanges, unit: Rows) -> dict[int, DirectionChanges]:
    """Split ``changes`` of pairs sorted by ``unit`` into one result per unit."""
    if unit[0] == unit[-1]:  # one unit changed (a standalone detector, a quiet round)
        return {int(unit[0]): changes}
    starts = [0, *(np.flatnonzero(unit[1:] != unit[:-1]) + 1).tolist()]
    ends = [*starts[1:], len(unit)]
    return {
        int(unit[start]): _rows_of(changes, slice(start, end))
        for start, end in zip(starts, ends, strict=True)
    }


def _rows_of(c: DirectionChanges, rows: slice) -> DirectionChanges:
    return DirectionChanges(
        c.row[rows],
        c.track_id[rows],
        c.class_id[rows],
        c.direction[rows],
        c.previous[rows],
        c.heading_deg[rows],
    )


def _state_table(history_cells: int) -> TrackTable:
    """The per-(detector, track) state table, keyed by pair keys."""
    return TrackTable(
        {
            "history": np.zeros((history_cells, 2)),  # ring of each unit's last observations
            "observed": np.int64(0),  # observations so far (the ring's write position)
            "candidate": np.int64(NONE),
            "streak": np.int32(0),
            "current": np.int64(NONE),
            "last_seen": np.int64(0),
        }
    )
