"""Per-track state held as columns of NumPy arrays, keyed by sorted track ids.

Analytics keep a little state per track (which side of a line it settled on,
whether it is inside a zone, when it was last seen). Holding that state in a
``dict`` keyed by track id would mean a Python loop over tracks every frame;
here every column is one array, rows are sorted by track id, and a frame's
tracks are located with one :func:`numpy.searchsorted` call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Column = npt.NDArray[Any]


class TrackTable:
    """Columns of per-track state, one row per track id, rows sorted by id.

    :attr:`columns` is a new dict whenever rows are added or dropped (never
    changed in place), so a cache of the columns can compare it by identity.
    The columns are field views of one record array, so that adding or
    dropping rows is one gather of whole rows rather than one per column (a
    few µs each, and a frame of new tracks adds rows in every bank). A caller
    that replaces :attr:`columns` with arrays of its own still works: the rows
    are then gathered column by column.

    Args:
        defaults: column name → a one-row template array; its dtype and trailing
            shape define the column, its value fills the rows of new tracks.
    """

    def __init__(self, defaults: dict[str, np.generic | Column]) -> None:
        self._defaults = {name: np.asarray(value) for name, value in defaults.items()}
        record = [(name, value.dtype, value.shape) for name, value in self._defaults.items()]
        self._default_row = np.zeros((), np.dtype(record, align=True))
        for name, value in self._defaults.items():
            self._default_row[name] = value
        # Rows are gathered as opaque bytes: NumPy copies a record dtype field by field
        # (~2.5x slower for these tables).
        self._bytes = np.dtype((np.void, self._default_row.dtype.itemsize))
        self.ids: npt.NDArray[np.int64] = np.zeros(0, np.int64)
        self.columns: dict[str, Column] = {}
        self._rows: Column = np.zeros(0, self._default_row.dtype)  # views: ``_views``
        self._views: dict[str, Column] = {}
        self.clear()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    def clear(self) -> None:
        """Forget every track."""
        self.ids = np.zeros(0, np.int64)
        self._set_rows(np.zeros(0, self._default_row.dtype))

    def _set_rows(self, rows: Column) -> None:
        """Hold ``rows`` (a record array); the columns become views of its fields."""
        self._rows = rows
        self.columns = self._views = {name: rows[name] for name in self._defaults}

    def locate(self, track_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """Row of each id, inserting default rows for ids not held yet.

        Args:
            track_ids: ``[N]`` unique track ids of one frame.

        Returns:
            ``[N]`` row indices into :attr:`ids` and every column.
        """
        if not len(track_ids):
            return np.zeros(0, np.intp)
        return self.locate_searched(track_ids, np.searchsorted(self.ids, track_ids))

    def locate_searched(
        self, track_ids: npt.NDArray[np.int64], index: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.intp]:
        """:meth:`locate` for a caller that has searched already (the search is most of it
        at a thousand ids): ``index`` is ``np.searchsorted(ids, track_ids)``."""
        if not len(track_ids):
            return np.zeros(0, np.intp)
        if len(self.ids) == 0:
            new_ids = track_ids
        else:
            held = self.ids[np.minimum(index, len(self.ids) - 1)] == track_ids
            if held.all():
                return index
            new_ids = track_ids[~held]
        new_ids = np.sort(new_ids)
        self._insert(new_ids)
        # Each id moves down by the new ids sorted before it; a new id lands at its
        # insertion point plus the same count. A search in the few new ids, not the table.
        shifted: npt.NDArray[np.intp] = index + np.searchsorted(new_ids, track_ids)
        return shifted

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only the rows where ``mask`` is true (bounded memory)."""
        if mask.all():
            return
        # ``take`` of row indices: a boolean mask on an [N, 2] column costs ~10x more.
        rows = np.flatnonzero(mask)
        self.ids = self.ids.take(rows)
        if self.columns is self._views:
            self._set_rows(self._rows.view(self._bytes).take(rows).view(self._rows.dtype))
        else:
            self.columns = {name: col.take(rows, axis=0) for name, col in self.columns.items()}

    def _insert(self, new_ids: npt.NDArray[np.int64]) -> None:
        """Insert default rows for ``new_ids`` (sorted, none held yet), keeping the order."""
        n = len(self.ids) + len(new_ids)
        new_rows = np.searchsorted(self.ids, new_ids) + np.arange(len(new_ids))
        # Each output row's source row (new rows read row 0, then get their default):
        # one gather per column, ~10x cheaper than a boolean-mask scatter on [N, 2].
        source = np.zeros(n, np.intp)
        old_rows = np.ones(n, np.bool_)
        old_rows[new_rows] = False
        source[old_rows] = np.arange(len(self.ids))
        self.ids = self._spread(self.ids, new_ids, source, new_rows)
        if self.columns is self._views:
            raw, default = (
                r.reshape(-1).view(self._bytes) for r in (self._rows, self._default_row)
            )
            self._set_rows(self._spread(raw, default, source, new_rows).view(self._rows.dtype))
            return
        self.columns = {
            name: self._spread(col, self._defaults[name], source, new_rows)
            for name, col in self.columns.items()
        }

    @staticmethod
    def _spread(old: Column, new: Column, source: npt.NDArray[np.intp], new_rows: Column) -> Column:
        """Rows ``old[source]`` with ``new`` (rows, or one broadcast row) at ``new_rows``."""
        if not len(old):  # nothing to gather from: every row is new
            out = np.empty((len(source), *old.shape[1:]), old.dtype)
        else:
            out = old.take(source, axis=0)
        out[new_rows] = new
        return out


def check_positive(name: str, value: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def count_by_class(class_id: npt.NDArray[np.integer[Any]]) -> dict[int, int]:
    """``{class_id: rows}`` for the given class ids (one entry per distinct class)."""
    classes, counts = np.unique(class_id, return_counts=True)
    return dict(zip(classes.tolist(), counts.tolist(), strict=True))
