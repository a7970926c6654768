"""The per-track state table of the analytics banks: rows found and inserted in order."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.analytics._table import TrackTable


def _table() -> TrackTable:
    return TrackTable({"seen": np.int64(-1), "xy": np.zeros(2)})


@pytest.mark.parametrize("seed", range(20))
def test_locate_finds_held_ids_and_inserts_new_ones_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = _table()
    for frame in range(30):
        ids = rng.choice(np.arange(1, 200, dtype=np.int64), int(rng.integers(0, 60)), replace=False)
        before = dict(zip(table.ids.tolist(), table["seen"].tolist(), strict=True))
        index = table.locate(ids)
        assert np.all(np.diff(table.ids) > 0)  # sorted, unique
        np.testing.assert_array_equal(table.ids[index], ids)
        assert set(table.ids.tolist()) == set(before) | set(ids.tolist())
        for track_id, seen in zip(table.ids.tolist(), table["seen"].tolist(), strict=True):
            assert seen == before.get(track_id, -1)  # held rows kept, new rows default
        table["seen"][index] = frame
        table.keep(rng.random(len(table)) < 0.8)


def test_locate_of_nothing_changes_nothing() -> None:
    table = _table()
    table.locate(np.asarray([5, 3], np.int64))
    assert len(table.locate(np.zeros(0, np.int64))) == 0
    np.testing.assert_array_equal(table.ids, [3, 5])


@pytest.mark.parametrize("seed", range(10))
def test_insert_and_keep_carry_every_column_row_by_row(seed: int) -> None:
    """Both kinds of column, 1-D and [N, 2], follow their ids through inserts and drops
    (the table gathers rows with ``take``; a dict per id is the reference)."""
    rng = np.random.default_rng(seed)
    table, held = _table(), {}
    for frame in range(40):
        ids = rng.choice(np.arange(1, 300, dtype=np.int64), int(rng.integers(0, 8)), replace=False)
        index = table.locate(ids)
        xy = rng.normal(size=(len(ids), 2))
        table["seen"][index], table["xy"][index] = frame, xy
        held.update({i: (frame, tuple(p)) for i, p in zip(ids.tolist(), xy.tolist(), strict=True)})
        mask = rng.random(len(table)) < 0.9
        held = {i: held[i] for i, m in zip(table.ids.tolist(), mask.tolist(), strict=True) if m}
        table.keep(mask)
        assert table.ids.tolist() == sorted(held)
        got = zip(table["seen"].tolist(), map(tuple, table["xy"].tolist()), strict=True)
        assert list(got) == [held[i] for i in table.ids.tolist()]


def test_columns_replaced_by_the_caller_are_carried_column_by_column() -> None:
    """A bank that swaps in a column of its own (the direction bank's re-padded history)
    keeps it through inserts and drops; the table's own columns are views of one record
    array."""
    table = _table()
    table.locate(np.asarray([2, 4], np.int64))
    assert table["xy"].base is not None  # a field view, not an array of its own
    own = np.arange(4.0).reshape(2, 2)
    table.columns = {**table.columns, "xy": own}
    table.locate(np.asarray([3], np.int64))
    np.testing.assert_array_equal(table["xy"], [[0, 1], [0, 0], [2, 3]])
    table.keep(np.asarray([False, True, True]))
    np.testing.assert_array_equal(table.ids, [3, 4])
    np.testing.assert_array_equal(table["xy"], [[0, 0], [2, 3]])
    np.testing.assert_array_equal(table["seen"], [-1, -1])
