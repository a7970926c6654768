"""The compiled zone round (numba) equals the NumPy steps of ZoneBank, value for value.

A compiled bank and a ``compiled=False`` bank get the same rounds of random
many-stream scenes (the zones of ``test_zone_bank``: square, concave L,
triangle, concave star; class filters, anchors, min_frames 1-3, loitering,
overcrowding, id-switch recount), with tracks that walk on the integer grid
and often stand exactly on a vertex or an edge, vanish, come back, switch
ids; streams that skip rounds, empty rounds, streams removed and added mid-run
(with unit compaction). After every round every table column, the keys, the
counters and every reported field must be identical. Point in polygon is
also compared directly on vertices, edges and points one ulp off them.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from _analytics_helpers import boxes_at
from test_zone_bank import VERTICES, polygon, random_zone

from visionflow.analytics import ZoneCounter, ZoneUpdate
from visionflow.analytics import _zone_kernel as kernel
from visionflow.analytics._pairs import Round, pair_keys
from visionflow.analytics._polygon import inside_polygons, polygon_edges, stack_edges
from visionflow.analytics._table import TrackTable
from visionflow.analytics.zone_bank import _PARAMS, _STATE, ZoneBank
from visionflow.geometry import Point, Polygon
from visionflow.types import Detections

# Vertices and edge midpoints of every test polygon: tracks step onto them.
SPECIAL = np.asarray(
    [
        p
        for vertices in VERTICES.values()
        for a, b in zip(vertices, [*vertices[1:], vertices[0]], strict=True)
        for p in (a, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
    ],
    np.float64,
)


class Walkers:
    """Tracks of any number of streams on the integer grid (ids 1, 2, … per stream)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.pos: dict[int, np.ndarray] = {}
        self.ids: dict[int, np.ndarray] = {}
        self.next_id: dict[int, int] = {}
        self.frame: dict[int, int] = {}

    def frame_of(self, s: int) -> tuple[Detections, int]:
        """The next frame of stream ``s``: its tracks (rows in random order) and number."""
        rng = self.rng
        if s not in self.pos:
            k = int(rng.integers(1, 13))
            self.pos[s] = rng.integers(-20, 121, (k, 2)).astype(float)
            self.ids[s], self.next_id[s], self.frame[s] = np.arange(1, k + 1), k + 1, -1
        pos, ids, k = self.pos[s], self.ids[s], len(self.ids[s])
        pos += rng.integers(-12, 13, (k, 2))
        snap = rng.random(k) < 0.15  # onto a vertex or an edge midpoint
        pos[snap] = SPECIAL[rng.integers(0, len(SPECIAL), int(snap.sum()))]
        switch = rng.random(k) < 0.05  # id switches: a new id at the same spot
        ids[switch] = self.next_id[s] + np.arange(int(switch.sum()))
        self.next_id[s] += int(switch.sum())
        visible = np.flatnonzero(rng.random(k) < (0.0 if rng.random() < 0.05 else 0.8))
        rng.shuffle(visible)
        self.frame[s] += int(rng.integers(1, 3))
        points = [(float(x), float(y)) for x, y in pos[visible]]
        classes = (ids[visible] % 3).tolist()
        return boxes_at(points, ids[visible].tolist(), classes), self.frame[s]


def make_round(frames: dict[int, tuple[Detections, int]], order: list[int], n: int) -> Round:
    parts = [frames[s][0] for s in order]
    for slot, part in enumerate(parts):
        part.frame_index[:] = slot
    tracks = Detections.concatenate(parts) if parts else Detections.empty()
    return Round.of_frames(tracks, order, [frames[s][1] for s in order], n)


def assert_same_update(got: ZoneUpdate, want: ZoneUpdate) -> None:
    for record in ("entered", "exited", "loitering"):
        a, b = getattr(got, record), getattr(want, record)
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert x.dtype == y.dtype and np.array_equal(x, y), (record, f.name)
    assert list(got.occupancy.items()) == list(want.occupancy.items())
    assert got.crowding == want.crowding


def assert_same_state(got: ZoneBank, want: ZoneBank) -> None:
    a, b = got._table, want._table
    assert a.ids.dtype == b.ids.dtype and np.array_equal(a.ids, b.ids)
    for name in _STATE:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name
    for name, value in vars(want._crowding).items():
        assert np.array_equal(getattr(got._crowding, name), value), name
    assert np.array_equal(got._handovers, want._handovers)
    for unit in range(len(want)):
        assert got.occupancy(unit) == want.occupancy(unit)
        assert got.num_tracks(unit) == want.num_tracks(unit)


def record_views(table: TrackTable) -> None:
    """Make the keys and columns strided, unaligned views into one packed record array."""
    columns = getattr(table, "columns", None)
    if not isinstance(columns, dict):
        pytest.skip("TrackTable no longer keeps a dict of columns")
    fields = [("ids", np.int64), *((n, c.dtype, c.shape[1:]) for n, c in columns.items())]
    records = np.zeros(len(table), np.dtype(fields))  # packed: fields off their alignment
    records["ids"] = table.ids
    for name, col in columns.items():
        records[name] = col
    table.ids = records["ids"]
    table.columns = {name: records[name] for name in columns}
    assert len(table) < 2 or not (table.ids.flags.aligned or table["pending"].flags.aligned)


def run_pair(
    seed: int,
    *,
    streams: int,
    max_zones: int,
    rounds: int,
    remove: dict[int, list[int]] | None = None,
    add: dict[int, int] | None = None,
    strided: bool = False,
) -> Counter[str]:
    """One random scene through a compiled and a NumPy bank; assert equal every round."""
    rng = np.random.default_rng(seed)
    compiled, numpy = ZoneBank(), ZoneBank(compiled=False)
    assert compiled.compiled and not numpy.compiled
    n_indices = streams + len(add or {})

    def add_stream(s: int) -> None:
        for i in range(int(rng.integers(1, max_zones + 1))):
            name, kwargs = random_zone(rng, i)
            unit = compiled.add(s, ZoneCounter(name, **kwargs))
            assert numpy.add(s, ZoneCounter(name, **kwargs)) == unit
            seen["units"] += 1

    seen = Counter[str]()
    for s in range(streams):
        add_stream(s)
    walkers, live = Walkers(rng), list(range(streams))
    for r in range(rounds):
        for s in (remove or {}).get(r, []):
            compiled.remove_stream(s)
            numpy.remove_stream(s)
            seen["removed"] += 1
        if (add or {}).get(r) is not None:
            add_stream(add[r])  # type: ignore[index]
            live.append(add[r])  # type: ignore[index]
        present = [s for s in live if rng.random() < 0.75]  # removed streams' rows too
        present = [] if rng.random() < 0.05 else present  # empty rounds
        rng.shuffle(present)
        rnd = make_round({s: walkers.frame_of(s) for s in present}, present, n_indices)
        if strided:
            record_views(compiled._table)
        handovers = int(numpy._handovers.sum())
        got, want = compiled.update(rnd), numpy.update(rnd)
        assert sorted(got) == sorted(want), (seed, r)
        for unit, update in want.items():
            assert_same_update(got[unit], update)
            seen.update(_kinds(update))
        assert_same_state(compiled, numpy)
        seen["handover_rounds"] += int(numpy._handovers.sum()) > handovers
        seen["empty_rounds"] += not len(rnd)
    assert len(compiled) == len(numpy)
    seen["compacted"] += len(numpy) < seen["units"]
    return seen


def _kinds(update: ZoneUpdate) -> list[str]:
    kinds = ["entry"] * len(update.entered) + ["loitering"] * len(update.loitering)
    kinds += ["exit" if row >= 0 else "forgotten" for row in update.exited.row.tolist()]
    return kinds + ([f"crowding_{update.crowding.state}"] if update.crowding else [])


@pytest.mark.parametrize("seeds", [range(0, 6), range(6, 12)])
def test_compiled_bank_equals_numpy_bank_every_round(seeds: range) -> None:
    seen = Counter[str]()
    for seed in seeds:
        seen += run_pair(seed, streams=6, max_zones=3, rounds=40, remove={15: [1]}, add={20: 6})
    kinds = ("entry", "exit", "forgotten", "loitering", "crowding_start", "crowding_end")
    assert all(seen[k] > 0 for k in (*kinds, "handover_rounds", "empty_rounds")), seen


def test_many_streams_removed_compacts_the_units_alike() -> None:
    # 36 of 40 streams removed: dead units outnumber live ones, keys are renumbered.
    seen = run_pair(3, streams=40, max_zones=1, rounds=12, remove={5: list(range(4, 40))})
    assert seen["compacted"] == 1 and seen["entry"] > 0, seen


def test_strided_unaligned_table_columns_give_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The table's columns as views into one packed record array (another layout
    # TrackTable may hold): the kernel reads and writes them in place.
    strided_calls = []
    round_step = kernel.round_step

    def observed(*args: Any) -> Any:
        strided_calls.append(not all(c.flags.c_contiguous for c in args[5] if len(c) > 1))
        return round_step(*args)

    monkeypatch.setattr(kernel, "round_step", observed)
    seen = Counter[str]()
    for seed in range(3):
        seen += run_pair(seed, streams=4, max_zones=2, rounds=30, strided=True)
    assert sum(strided_calls) > 20 and seen["entry"] > 0, (sum(strided_calls), seen)


def _kernel_inside(points: np.ndarray, which: np.ndarray, edges: Any) -> np.ndarray:
    """Point in polygon as the kernel computes it (a fresh table, min_frames 1)."""
    table = TrackTable(_STATE)
    index = table.locate(pair_keys(which, np.arange(1, len(which) + 1, dtype=np.int64)))
    units = len(edges[0])
    pairs = (index, which, np.zeros(len(which), np.int64), points, np.zeros(len(which), np.int32))
    params = (np.ones(units, np.int64), np.zeros(units, np.int64), np.zeros(units, np.int64))
    columns = tuple(table[name] for name in kernel.COLUMNS)
    inside_now, entered, *_ = kernel.advance(pairs, table.ids, columns, params, edges)
    assert np.array_equal(entered, inside_now)  # a fresh track enters where it is inside
    return np.asarray(inside_now)


def test_point_in_polygon_is_bit_identical_on_edges_and_vertices() -> None:
    rng = np.random.default_rng(5)
    shapes = [np.asarray(v, np.float64) for v in VERTICES.values()]
    shapes.append(shapes[-1] * 1.37 + 0.1)  # non-integer vertices: rounding on every edge
    edges = stack_edges([polygon_edges(v) for v in shapes])
    parts = [np.mgrid[-5:106:5, -5:106:5].reshape(2, -1).T.astype(np.float64)]
    for v in shapes:
        w = np.roll(v, -1, axis=0)
        parts += [v, (v + w) / 2, v + (w - v) / 3, v + (w - v) * 0.7]  # on vertices and edges
        parts += [np.nextafter(v, np.inf), np.nextafter(v, -np.inf)]  # one ulp off
    base = np.concatenate(parts)
    noisy = base + rng.uniform(-1e-9, 1e-9, base.shape)
    points = np.concatenate([base, noisy, rng.uniform(-10, 140, (2000, 2))])
    for u in range(len(shapes)):  # every point against every polygon
        which = np.full(len(points), u, np.intp)
        want = inside_polygons(points, edges, which)
        assert np.array_equal(_kernel_inside(points, which, edges), want), u
    which = rng.integers(0, len(shapes), len(points)).astype(np.intp)
    assert np.array_equal(
        _kernel_inside(points, which, edges), inside_polygons(points, edges, which)
    )


def _handover_zone(loitering_frames: int) -> ZoneCounter:
    square = Polygon((Point(0, 0), Point(100, 0), Point(100, 100), Point(0, 100)))
    return ZoneCounter(
        "plaza",
        square,
        min_frames=1,
        forget_frames=10,
        loitering_frames=loitering_frames,
        recount_window_frames=3,
        recount_radius_px=10.0,
    )


def _handover_frames() -> Iterator[tuple[Detections, int]]:
    """Track 1 inside at frames 0-2, unseen at 3; track 2 at its spot at 4-5, out at 6."""
    for f in range(7):
        track = 1 if f < 3 else 2
        point = (150.0, 50.0) if f == 6 else (50.0, 50.0)
        yield (Detections.empty() if f == 3 else boxes_at([point], [track], [0])), f


@pytest.mark.parametrize("loitering_frames", [2, 5, 6])
def test_loitering_is_tested_after_the_hand_over(loitering_frames: int) -> None:
    # Track 2 continues track 1's visit (entered at frame 0) at frame 4: its dwell
    # counts from frame 0 and its loitering flag is track 1's.
    banks = ZoneBank(), ZoneBank(compiled=False)
    for bank in banks:
        bank.add(0, _handover_zone(loitering_frames))
    alerts: list[tuple[int, int, int]] = []
    for tracks, f in _handover_frames():
        tracks.frame_index[:] = 0
        rnd = Round.of_frames(tracks, [0], [f], 1)
        got, want = banks[0].update(rnd), banks[1].update(rnd)
        assert sorted(got) == sorted(want)
        for unit, update in want.items():
            assert_same_update(got[unit], update)
            alerts += [
                (f, *pair)
                for pair in zip(
                    update.loitering.track_id.tolist(),
                    update.loitering.dwell_frames.tolist(),
                    strict=True,
                )
            ]
        assert_same_state(*banks)
    expected = {2: [(1, 1, 2)], 5: [(4, 2, 5)], 6: [(5, 2, 6)]}[loitering_frames]
    assert alerts == expected
    assert banks[0].handovers(0) == banks[1].handovers(0) == 1


def test_one_signature_per_kernel_function() -> None:
    run_pair(1, streams=3, max_zones=2, rounds=15, remove={8: [0]})
    ZoneBank().warm_up()
    assert len(kernel.advance.signatures) == len(kernel.loiter.signatures) == 1
    steps = [v for k, v in vars(kernel).items() if hasattr(v, "signatures") and k.startswith("_")]
    assert len(steps) >= 5 and all(len(step.signatures) <= 1 for step in steps)


def test_kernel_covers_the_state_and_parameters() -> None:
    assert sorted(kernel.COLUMNS) == sorted(_STATE)
    assert set(kernel.PARAMS) <= set(_PARAMS)


def test_warm_up_leaves_the_state_as_it_is() -> None:
    bank = ZoneBank()
    bank.add(0, ZoneCounter("plaza", polygon("square"), min_frames=1))
    tracks = boxes_at([(50.0, 50.0), (10.0, 10.0)], [1, 2], [0, 0])
    bank.update(Round.of_frames(tracks, [0], [0], 1))
    before = {name: bank._table[name].copy() for name in _STATE}
    bank.warm_up()
    assert all(np.array_equal(bank._table[name], col) for name, col in before.items())
    assert bank.occupancy(0) == {0: 2}


def test_the_pipeline_and_standalone_counters_run_compiled() -> None:
    from visionflow.pipeline.stream_analytics import AnalyticsHub

    assert AnalyticsHub({})._zones.compiled
    assert ZoneCounter("z", polygon("square"))._bank.compiled


def test_numpy_bank_never_imports_numba() -> None:
    code = (
        "import sys\n"
        "from visionflow.analytics import ZoneCounter\n"
        "from visionflow.analytics.zone_bank import ZoneBank\n"
        "from visionflow.analytics._pairs import Round\n"
        "from visionflow.geometry import Point, Polygon\n"
        "from visionflow.types import Detections\n"
        "assert 'numba' not in sys.modules\n"
        "bank = ZoneBank(compiled=False)\n"
        "bank.warm_up()\n"
        "sq = Polygon((Point(0, 0), Point(9, 0), Point(9, 9)))\n"
        "bank.add(0, ZoneCounter('z', sq))\n"
        "bank.update(Round.single(Detections.empty(), 0, 'z'))\n"
        "assert 'numba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
