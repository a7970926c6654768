"""The compiled zone occupancy equals a count over the table, in the same order."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from visionflow.analytics._occupancy_kernel import occupancy
from visionflow.analytics._pairs import key_units, pair_keys
from visionflow.analytics._table import TrackTable
from visionflow.analytics.zone_bank import _STATE


def _random_table(rng: np.random.Generator, units: int) -> TrackTable:
    table = TrackTable(_STATE)
    unit = rng.integers(0, units, int(rng.integers(0, 300)))
    table.locate(np.unique(pair_keys(unit, rng.integers(1, 2**31, len(unit)))))
    table["inside"][:] = rng.random(len(table)) < 0.4
    table["class_id"][:] = rng.choice([0, 2, 7, 79], len(table))
    return table


@pytest.mark.parametrize("seed", range(25))
def test_occupancy_counts_each_asked_units_classes_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = _random_table(rng, units=12)
    asked = rng.permutation(14)[: int(rng.integers(0, 14))].astype(np.intp)  # some hold nothing
    got = [
        tuple(x)
        for x in zip(
            *(a.tolist() for a in occupancy(table.ids, table["inside"], table["class_id"], asked)),
            strict=True,
        )
    ]
    inside = table["inside"]
    counted = Counter(
        zip(key_units(table.ids[inside]).tolist(), table["class_id"][inside].tolist(), strict=True)
    )
    want = [
        (u, c, counted[u, c])
        for u in asked.tolist()
        for c in sorted({c for v, c in counted if v == u})
    ]
    assert got == want
