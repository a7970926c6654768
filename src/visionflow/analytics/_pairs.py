"""Rounds, units and pairs: how one NumPy pass covers every stream of a batch.

Analytics run for all streams of a batch at once. Three words:

- a **round** (:class:`Round`) holds the confirmed tracks of at most one frame
  per stream (a batch with several frames of one stream is split into
  rounds, in time order, as :class:`~visionflow.tracking.BatchedByteTrack`
  does), with each row's stream index and frame number;
- a **unit** is one analytic of one stream: one line, one zone, one ROI, one
  direction detector. A *bank* holds every unit of one kind for every stream
  (:class:`Units`: each unit's stream and parameter columns);
- a **pair** (:class:`Pairs`) is a (row, unit) combination for every unit of
  the row's stream that watches the row's class. Banks compute on pairs,
  with each pair's parameters gathered from its unit: one pass per round,
  whatever the number of streams and analytics.

Per-track state is held in a :class:`~visionflow.analytics._table.TrackTable`
keyed by :func:`pair_keys` (unit and track id in one ``int64``), so the state
of every unit of every stream lives in one sorted table.

A single-stream counter (``LineCounter`` …) is a bank with one unit on stream
0, fed by :meth:`Round.single`: the same code path as the pipeline's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from visionflow.types import Detections

I64 = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Points = npt.NDArray[np.float64]

KEY_SHIFT = 32
"""Bits of a pair key that hold the track id; the unit index sits above them."""
_COMPACT_AFTER = 32
"""Dead units a bank tolerates before :meth:`Units.compact` renumbers (besides as many as live)."""
ANCHORS: tuple[str, ...] = (
    "bottom_center",
    "center",
    "top_center",
    "bottom_left",
    "bottom_right",
    "top_left",
    "top_right",
)
"""Anchor names, indexed by the ``anchor`` column of a bank's units."""


@dataclass(frozen=True, slots=True)
class Round:
    """Confirmed tracks of at most one frame per stream, for one vectorised pass.

    Attributes:
        tracks: ``[N]`` rows, each stream's rows together.
        stream: ``[N]`` int64 stream index of each row.
        frame_number: ``[N]`` int64 frame number of each row's frame.
        stream_frame: ``[S]`` int64 frame number of each stream index in this
            round, ``-1`` for a stream without a frame in it (its units neither
            advance nor forget).
    """

    tracks: Detections
    stream: I64
    frame_number: I64
    stream_frame: I64
    _anchors: dict[str, Points] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def single(cls, tracks: Detections, frame_number: int, owner: str) -> Round:
        """The round of one frame of stream 0 (a single-stream counter's update).

        Raises:
            ValueError: a track id is not positive or repeats (see :func:`check_ids`).
        """
        n = len(tracks)
        stream = np.zeros(n, np.int64)
        check_ids(stream, tracks.track_id, owner)
        frames = np.full(n, frame_number, np.int64)
        return cls(tracks, stream, frames, np.asarray([frame_number], np.int64))

    @classmethod
    def of_frames(
        cls,
        tracks: Detections,
        slot_stream: Sequence[int],
        slot_frame: Sequence[int],
        num_streams: int,
        *,
        owner: str = "analytics",
        slots: Sequence[int] | None = None,
        compiled: bool = False,
    ) -> Round:
        """The round of the frames ``tracks.frame_index`` points to (one slot per stream).

        Args:
            tracks: rows of the round's slots; ``frame_index`` is the slot.
            slot_stream: stream index of each slot of the batch.
            slot_frame: frame number of each slot of the batch.
            num_streams: number of stream indices in use (size of ``stream_frame``).
            owner: name used in error messages.
            slots: the slots of this round (their streams distinct); ``None`` =
                every slot. ``tracks`` must hold rows of these slots only.
            compiled: build the rows in one compiled call (numba, imported on
                first use; the same round); ``False`` runs the NumPy code.
        """
        if compiled:
            from visionflow.analytics._round_kernel import rows_of_frames

            rows = rows_of_frames(tracks, slot_stream, slot_frame, num_streams, slots)
            if rows is not None:  # else: the NumPy code below raises the error
                return cls(tracks, *rows)
        streams = np.asarray(slot_stream, np.int64)
        frames = np.asarray(slot_frame, np.int64)
        stream_frame = np.full(num_streams, -1, np.int64)
        active = slice(None) if slots is None else np.asarray(slots, np.intp)
        stream_frame[streams[active]] = frames[active]
        slot = tracks.frame_index
        row_stream, row_frame = streams[slot], frames[slot]
        check_ids(row_stream, tracks.track_id, owner)
        return cls(tracks, row_stream, row_frame, stream_frame)

    def __len__(self) -> int:
        return len(self.stream)

    def anchors(self, anchor: str) -> Points:
        """``[N, 2]`` the rows' ``anchor`` points, computed once per round and anchor."""
        points = self._anchors.get(anchor)
        if points is None:
            points = self._anchors[anchor] = self.tracks.anchors(anchor)
        return points

    def kernel_arrays(
        self,
    ) -> tuple[npt.NDArray[np.float32], I64, npt.NDArray[np.int32], I64, I64, I64]:
        """``(xyxy, track_id, class_id, stream, frame_number, stream_frame)``: the round
        as the compiled rounds take it (``_round_kernel.RoundArrays``)."""
        t = self.tracks
        return t.xyxy, t.track_id, t.class_id, self.stream, self.frame_number, self.stream_frame

    def frame_of(self, streams: I64) -> I64:
        """``[K]`` frame number of each stream index in this round, ``-1`` when absent."""
        known = (streams >= 0) & (streams < len(self.stream_frame))
        frames: I64 = np.full(len(streams), -1, np.int64)
        frames[known] = self.stream_frame[streams[known]]
        return frames

    def present_keys(self) -> I64:
        """``[N]`` sorted ``stream << 32 | track_id`` of every row (who is in the frame)."""
        return np.sort((self.stream << KEY_SHIFT) | self.tracks.track_id)


def check_ids(stream: I64, track_id: I64, owner: str) -> None:
    """Raise ``ValueError`` unless ids are positive and unique within each stream's frame.

    Args:
        stream: ``[N]`` stream index of each row.
        track_id: ``[N]`` track ids.
        owner: name used in the error message (``LineCounter 'gate'``).
    """
    if len(track_id) and int(track_id.min()) <= 0:
        raise ValueError(
            f"{owner}: track_id must be positive (confirmed tracks only), "
            f"got {track_id[track_id <= 0].tolist()}; hint: run a tracker before analytics"
        )
    if len(track_id) and int(track_id.max()) >= 1 << KEY_SHIFT:
        raise ValueError(f"{owner}: track_id must be below 2**{KEY_SHIFT}")
    keys = np.sort((stream << KEY_SHIFT) | track_id)
    repeated = keys[1:][keys[1:] == keys[:-1]] & ((1 << KEY_SHIFT) - 1)
    if len(repeated):
        raise ValueError(
            f"{owner}: track_id must be unique within a frame, got repeats {repeated.tolist()}; "
            "hint: pass the tracks of one frame of one stream"
        )


@dataclass(frozen=True, slots=True)
class Pairs:
    """(row, unit) pairs of a round: every unit of a row's stream that watches its class.

    Attributes:
        row: ``[P]`` row in the round's tracks.
        unit: ``[P]`` unit index.

    Pairs are ordered by unit, then by row, so a unit's results come out in
    row order, and units in the order they were added.
    """

    row: Rows
    unit: Rows

    def __len__(self) -> int:
        return len(self.row)

    def keys(self, rnd: Round) -> I64:
        """``[P]`` state-table key of each pair (:func:`pair_keys`)."""
        return pair_keys(self.unit, rnd.tracks.track_id[self.row])


def pair_keys(unit: npt.NDArray[np.integer[Any]], track_id: I64) -> I64:
    """``unit << 32 | track_id``: one sortable key per (unit, track)."""
    keys: I64 = (unit.astype(np.int64) << KEY_SHIFT) | track_id
    return keys


def remap_keys(keys: I64, kept: Rows) -> I64:
    """Keys of live units renumbered after :meth:`Units.compact` kept ``kept``."""
    new_index = np.full(int(kept[-1]) + 1 if len(kept) else 0, -1, np.int64)
    new_index[kept] = np.arange(len(kept))
    return pair_keys(new_index[key_units(keys)], key_tracks(keys))


def key_units(keys: I64) -> Rows:
    """The unit index of each key of :func:`pair_keys`."""
    return (keys >> KEY_SHIFT).astype(np.intp)


def key_tracks(keys: I64) -> I64:
    """The track id of each key of :func:`pair_keys`."""
    tracks: I64 = keys & ((1 << KEY_SHIFT) - 1)
    return tracks


@dataclass(frozen=True, slots=True)
class _Plan:
    """How the live units of a bank are laid out (see :meth:`Units._plan`).

    Attributes:
        by_stream: live unit indices ordered by stream (stable).
        unit_streams: their streams, ascending.
        ascending: live unit indices, ascending.
        one_stream: the stream when every live unit has the same one, else -1.
        one_anchor: the anchor when every live unit uses the same one, else -1.
        all_classes: every live unit watches every class.
        kernel: the units as compiled rounds take them (see :meth:`Units.kernel_arrays`).
    """

    by_stream: Rows
    unit_streams: I64
    ascending: Rows
    one_stream: int
    one_anchor: int
    all_classes: bool
    kernel: tuple[I64, Rows, Rows, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]


class Units:
    """The units of one bank: each unit's stream, class filter, anchor and parameters.

    Removing a stream marks its units dead (stream ``-1``); once dead units
    outnumber the live ones, :meth:`compact` drops them and renumbers the
    live ones in order (the bank then remaps its keys and per-unit arrays,
    and re-points the counters that show those units, see
    :class:`~visionflow.analytics._view.Views`).

    Args:
        defaults: parameter name → a scalar template; its dtype defines the
            column, every :meth:`add` must give a value for it.
    """

    def __init__(self, defaults: dict[str, np.generic]) -> None:
        self._defaults = {name: np.asarray(value) for name, value in defaults.items()}
        self.stream: I64 = np.zeros(0, np.int64)
        self.anchor: Rows = np.zeros(0, np.intp)
        self.columns: dict[str, npt.NDArray[Any]] = {
            name: np.zeros(0, v.dtype) for name, v in self._defaults.items()
        }
        self._all_classes = np.zeros(0, bool)
        self._classes = np.zeros((0, 0), bool)  # [U, C] watched classes when not all
        self._cached_plan: _Plan | None = None

    def __len__(self) -> int:
        return len(self.stream)

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self.columns[name]

    def add(self, stream: int, class_ids: frozenset[int] | None, anchor: str, **params: Any) -> int:
        """Register a unit of ``stream``; return its index.

        Raises:
            ValueError: an unknown anchor, or a parameter missing or unknown.
        """
        if anchor not in ANCHORS:
            Detections.empty().anchors(anchor)  # raises the standard message
        if set(params) != set(self._defaults):
            raise ValueError(f"unit parameters {sorted(params)} != {sorted(self._defaults)}")
        unit = len(self.stream)
        self.stream = np.append(self.stream, np.int64(stream))
        self.anchor = np.append(self.anchor, ANCHORS.index(anchor)).astype(np.intp)
        for name, value in params.items():
            col = self.columns[name]
            self.columns[name] = np.append(col, np.asarray(value, col.dtype))
        self._add_classes(class_ids)
        self._cached_plan = None
        return unit

    def compact(self) -> Rows | None:
        """Drop dead units once they outnumber the live ones; return the kept indices.

        A pipeline that adds and removes streams for days would otherwise grow
        every per-unit array (and the per-round work over them) without end.
        Live units keep their order, so keys remapped with :func:`remap_keys`
        stay sorted.

        Returns:
            The old indices of the kept units, ascending (their new index is
            their position), or ``None`` when nothing was dropped.
        """
        live = np.flatnonzero(self.stream >= 0)
        if len(self.stream) - len(live) <= max(len(live), _COMPACT_AFTER):
            return None
        self.stream, self.anchor = self.stream[live], self.anchor[live]
        self.columns = {name: col[live] for name, col in self.columns.items()}
        self._all_classes, self._classes = self._all_classes[live], self._classes[live]
        self._cached_plan = None
        return live

    def streams_of(self, units: Collection[int]) -> set[int]:
        """The streams of ``units`` (unit indices)."""
        return set(self.stream[np.fromiter(units, np.intp, len(units))].tolist())

    def any_live(self) -> bool:
        """Whether any unit is live (a bank without live units has nothing to do)."""
        return bool(len(self._plan().ascending))

    def remove_stream(self, stream: int) -> Rows:
        """Mark ``stream``'s units dead; return their indices."""
        dead = np.flatnonzero(self.stream == stream)
        self.stream[dead] = -1
        self._cached_plan = None
        return dead

    def pairs(self, rnd: Round) -> Pairs:
        """Every (row, unit) of the round whose unit watches the row's class."""
        plan = self._plan()
        by_stream, unit_streams = plan.by_stream, plan.unit_streams
        n = len(rnd)
        if not len(by_stream) or not n:
            return Pairs(np.zeros(0, np.intp), np.zeros(0, np.intp))
        if plan.one_stream >= 0 and bool((rnd.stream == plan.one_stream).all()):
            # One stream (a single-stream counter, or one camera): every row × every unit.
            row = np.tile(np.arange(n, dtype=np.intp), len(by_stream))
            unit = np.repeat(plan.ascending, n)
        else:  # for each row, the block of its stream's units
            start = np.searchsorted(unit_streams, rnd.stream, side="left")
            count = np.searchsorted(unit_streams, rnd.stream, side="right") - start
            total = int(count.sum())
            row = np.repeat(np.arange(n, dtype=np.intp), count)
            first = np.repeat(np.cumsum(count) - count, count)
            unit = by_stream[np.repeat(start, count) + (np.arange(total) - first)]
            order = np.argsort(unit, kind="stable")  # rows stay ascending within a unit
            row, unit = row[order], unit[order]
        if not plan.all_classes:
            keep = self.watches(unit, rnd.tracks.class_id[row])
            row, unit = row[keep], unit[keep]
        return Pairs(row, unit.astype(np.intp, copy=False))

    def watches(
        self, unit: npt.NDArray[np.integer[Any]], class_id: npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.bool_]:
        """``[P]`` whether each unit watches the paired class."""
        ok = self._all_classes[unit]
        width = self._classes.shape[1]
        known = (class_id >= 0) & (class_id < width)
        if width and known.any():
            ok = ok | (known & self._classes[unit, np.where(known, class_id, 0)])
        return np.asarray(ok, bool)

    def kernel_arrays(self) -> tuple[I64, Rows, Rows, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """``(stream, live units ascending, anchor, all_classes, classes [U, C])``: the
        units as the compiled rounds take them (``_round_kernel.UnitArrays``)."""
        return self._plan().kernel

    def points(self, rnd: Round, pairs: Pairs) -> Points:
        """``[P, 2]`` each pair's anchor point (its unit's anchor of its row's box)."""
        plan = self._plan()
        if plan.one_anchor >= 0:
            one: Points = rnd.anchors(ANCHORS[plan.one_anchor])[pairs.row]
            return one
        out = np.zeros((len(pairs), 2))
        kinds = self.anchor[pairs.unit]
        for kind in np.unique(kinds).tolist():  # a handful of anchor kinds at most
            sel = kinds == kind
            out[sel] = rnd.anchors(ANCHORS[kind])[pairs.row[sel]]
        return out

    def _plan(self) -> _Plan:
        """The live units' layout, recomputed only after units were added or removed."""
        if self._cached_plan is None:
            live = np.flatnonzero(self.stream >= 0)
            by_stream = live[np.argsort(self.stream[live], kind="stable")]
            streams = np.unique(self.stream[live])
            anchors = np.unique(self.anchor[live])
            self._cached_plan = _Plan(
                by_stream=by_stream,
                unit_streams=self.stream[by_stream],
                ascending=live,
                one_stream=int(streams[0]) if len(streams) == 1 else -1,
                one_anchor=int(anchors[0]) if len(anchors) == 1 else -1,
                all_classes=bool(self._all_classes[live].all()),
                kernel=(self.stream, live, self.anchor, self._all_classes, self._classes),
            )
        return self._cached_plan

    def _add_classes(self, class_ids: frozenset[int] | None) -> None:
        self._all_classes = np.append(self._all_classes, class_ids is None)
        width = max(self._classes.shape[1], max(class_ids or {-1}) + 1)
        grown = np.zeros((len(self._all_classes), width), bool)
        grown[: self._classes.shape[0], : self._classes.shape[1]] = self._classes
        for class_id in class_ids or ():
            if class_id >= 0:
                grown[-1, class_id] = True
        self._classes = grown


def stale_rows(
    keys: I64, last_seen: I64, units: Units, rnd: Round, forget_frames: npt.NDArray[Any]
) -> npt.NDArray[np.bool_]:
    """``[T]`` rows of a state table whose unit's stream is in the round and that were
    not seen for at least their unit's ``forget_frames`` frames.

    Args:
        keys: ``[T]`` the table's pair keys.
        last_seen: ``[T]`` frame number each row was last seen.
        units: the bank's units.
        rnd: the current round (streams absent from it never forget).
        forget_frames: ``[U]`` per-unit forget horizon in frames.
    """
    unit = key_units(keys)
    now = rnd.frame_of(units.stream[unit])
    return np.asarray((now >= 0) & (now - last_seen >= forget_frames[unit]), bool)
