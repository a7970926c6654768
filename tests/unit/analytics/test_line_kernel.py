"""The compiled line round (numba) equals the NumPy round of ``LineBank``, bit for bit.

A compiled bank and a ``compiled=False`` bank get the same counters and the
same rounds; after every round each column of the state table (bytes), the
keys, the returned crossings, the counts, the suppressed recounts and the
recent crossings of the re-acquisition rule must be identical. Scenes: random
walks of many tracks over several streams on integer and float coordinates
(tracks sitting on a line, landing on vertices, moving along a segment),
plain segments and bent polylines (a hairpin, a 12-segment zigzag), every
mode, a reference direction, ``min_frames`` 1 to 3, re-acquisitions inside
and outside the recount window, streams missing, empty, removed and added
mid-run, and the hand-derived cases of ``test_line_cases``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest
from _analytics_helpers import boxes_at, frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_line_cases import CASES, Case

from visionflow.analytics import LineCounter, LineCrossings
from visionflow.analytics import _line_kernel as kernel
from visionflow.analytics._pairs import Round
from visionflow.analytics._polyline import Polylines, path_hits, polyline_sides
from visionflow.analytics.line_bank import _STATE, LineBank
from visionflow.analytics.lines import MAX_ANGLE_DEG
from visionflow.geometry import Line, Point, Polyline
from visionflow.types import Detections

MODES = ["loose", "balanced", "strict"]
GATE = Line(Point(0, 100), Point(200, 100))
VEE = Polyline((Point(0, 100), Point(100, 150), Point(200, 100)))
ELL = Polyline((Point(0, 100), Point(200, 100), Point(200, 0)))
HAIRPIN = Polyline((Point(20, 100), Point(180, 100), Point(20, 101)))  # normals cancel at the tip
ZIGZAG = Polyline(tuple(Point(20.0 * i, 100.0 + 20 * (i % 2)) for i in range(13)))  # 12 segments
FIXED_LINES = [GATE, VEE, ELL, HAIRPIN, ZIGZAG]
SNAPS = np.asarray([(0, 100), (100, 100), (100, 150), (200, 100), (200, 0), (180, 100), (40, 100)])
"""Vertices and points on the fixed lines that walkers jump onto now and then."""
KERNEL_STATE = (  # the order of _line_kernel.State
    "last_seen",
    "first_seen",
    "observed_side",
    "settled_side",
    "pending",
    "settled_xy",
    "first_new_xy",
)


def _same(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Same dtype, shape and bytes (``-0.0`` and ``0.0`` differ)."""
    assert got.dtype == expected.dtype, what
    assert got.shape == expected.shape, what
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(expected).tobytes(), what


def _same_crossings(got: dict[int, LineCrossings], expected: dict[int, LineCrossings]) -> None:
    assert list(got) == list(expected)
    for unit, crossings in expected.items():
        for name in ("row", "track_id", "class_id", "direction_in"):
            _same(getattr(got[unit], name), getattr(crossings, name), f"unit {unit} {name}")


def _same_state(compiled: LineBank, numpy: LineBank) -> None:
    _same(compiled._table.ids, numpy._table.ids, "ids")
    for name in _STATE:
        _same(compiled._table[name], numpy._table[name], name)
    for name in ("unit", "frame", "xy", "going_in", "track_id"):
        _same(getattr(compiled._recent, name), getattr(numpy._recent, name), f"recent {name}")
    _same(compiled._suppressed, numpy._suppressed, "suppressed")
    assert compiled._counts == numpy._counts


@dataclass
class Twins:
    """A compiled bank and a NumPy bank fed the same counters and rounds."""

    compiled: LineBank = field(default_factory=LineBank)
    numpy: LineBank = field(default_factory=lambda: LineBank(compiled=False))
    crossings: int = 0
    screened: int = 0  # crossings that went through the recount screen

    def add(self, stream: int, name: str, line: Line | Polyline, **kwargs: object) -> None:
        units = {
            bank.add(stream, LineCounter(name, line, **kwargs))  # type: ignore[arg-type]
            for bank in (self.compiled, self.numpy)
        }
        assert len(units) == 1

    def update(self, rnd: Round) -> None:
        got, expected = self.compiled.update(rnd), self.numpy.update(rnd)
        _same_crossings(got, expected)
        _same_state(self.compiled, self.numpy)
        self.crossings += sum(len(c) for c in expected.values())
        self.screened = int(self.numpy._suppressed.sum()) + len(self.numpy._recent)

    def remove_stream(self, stream: int) -> None:
        self.compiled.remove_stream(stream)
        self.numpy.remove_stream(stream)
        _same_state(self.compiled, self.numpy)


def _random_line(rng: np.random.Generator) -> Line | Polyline:
    if rng.random() < 0.5:
        return FIXED_LINES[int(rng.integers(len(FIXED_LINES)))]
    n = int(rng.choice([2, 3, 4, 6]))
    while True:
        pts = rng.integers(0, 201, (n, 2)) if rng.random() < 0.5 else rng.uniform(0, 200, (n, 2))
        if (np.abs(np.diff(pts, axis=0)).sum(axis=1) > 0).all():
            break
    points = tuple(Point(float(x), float(y)) for x, y in pts.tolist())
    return Line(*points) if n == 2 and rng.random() < 0.5 else Polyline(points)


def _add_random_counter(twins: Twins, stream: int, rng: np.random.Generator) -> None:
    while True:
        kwargs: dict[str, object] = {
            "min_frames": int(rng.integers(1, 4)),
            "forget_frames": int(rng.choice([3, 10, 60])),
            "mode": str(rng.choice(MODES)),
            "anchor": str(rng.choice(["bottom_center", "bottom_center", "center"])),
            "recount_window_frames": int(rng.choice([0, 10, 40])),
            "recount_radius_px": float(rng.choice([20.0, 80.0])),
        }
        if rng.random() < 0.3:
            kwargs["direction"] = tuple(rng.normal(size=2).tolist())
        if rng.random() < 0.2:
            kwargs["class_ids"] = frozenset({0, 2})
        try:
            twins.add(stream, "l", _random_line(rng), **kwargs)
            return
        except ValueError:  # a direction parallel to a single segment
            continue


@dataclass
class Walkers:
    """Tracks of one stream: random walks on the integer grid (or not), snapping onto
    the fixed lines, walking along y = 100, losing and switching ids."""

    rng: np.random.Generator
    xy: np.ndarray = field(init=False)
    velocity: np.ndarray = field(init=False)
    ids: np.ndarray = field(init=False)
    classes: np.ndarray = field(init=False)
    frame: int = -1

    def __post_init__(self) -> None:
        n = int(self.rng.integers(1, 12))
        self.xy = self.rng.integers(-20, 221, (n, 2)).astype(float)
        self.velocity = self.rng.integers(-15, 16, (n, 2)).astype(float)
        self.velocity[self.rng.random(n) < 0.2, 1] = 0.0  # along the horizontal lines
        self.ids = np.arange(1, n + 1)
        self.classes = self.rng.integers(0, 3, n)

    def next_frame(self) -> Detections:
        rng, n = self.rng, len(self.ids)
        self.frame += int(rng.integers(1, 3))
        self.xy += self.velocity * (rng.random(n) < 0.85)[:, None]  # some stand still
        self.velocity[(self.xy < -20) | (self.xy > 220)] *= -1
        snap = rng.random(n) < 0.08
        self.xy[snap] = SNAPS[rng.integers(len(SNAPS), size=int(snap.sum()))]
        onto = rng.random(n) < 0.05  # onto the horizontal line y = 100
        self.xy[onto, 1] = 100.0
        switch = rng.random(n) < 0.04  # id switch: a re-acquisition
        self.ids[switch] = self.ids.max() + 1 + np.arange(int(switch.sum()))
        seen = rng.random(n) < 0.85
        xy = self.xy[seen] + (rng.normal(0, 3, (int(seen.sum()), 2)) if rng.random() < 0.2 else 0)
        order = rng.permutation(int(seen.sum()))
        return boxes_at(
            [tuple(p) for p in xy[order].tolist()],
            self.ids[seen][order].tolist(),
            self.classes[seen][order].tolist(),
        )


def _round(per_stream: dict[int, tuple[int, Detections]], num_streams: int) -> Round:
    """One frame per stream in ``per_stream`` (stream → (frame, tracks))."""
    streams = list(per_stream)
    tracks = [per_stream[s][1] for s in streams]
    if not tracks:
        return Round.of_frames(Detections.empty(), [], [], num_streams)
    merged = Detections(
        np.concatenate([t.xyxy for t in tracks]),
        np.concatenate([t.confidence for t in tracks]),
        np.concatenate([t.class_id for t in tracks]),
        np.concatenate([np.full(len(t), i, np.int32) for i, t in enumerate(tracks)]),
        np.concatenate([t.track_id for t in tracks]),
    )
    return Round.of_frames(merged, streams, [per_stream[s][0] for s in streams], num_streams)


def _play(twins: Twins, walkers: dict[int, Walkers], rounds: int, rng: np.random.Generator) -> None:
    for _ in range(rounds):
        present = [s for s in walkers if rng.random() < 0.8]
        per_stream = {}
        for s in present:
            tracks = walkers[s].next_frame()
            if rng.random() < 0.05:  # a frame without tracks
                tracks = Detections.empty()
            per_stream[s] = (walkers[s].frame, tracks)
        twins.update(_round(per_stream, max(walkers) + 1))


@pytest.mark.parametrize("seed", range(8))
def test_compiled_equals_numpy_on_random_scenes(seed: int) -> None:
    """Six streams, 1-3 lines each; stream 1 removed mid-run, stream 6 added later."""
    rng = np.random.default_rng(seed)
    twins = Twins()
    walkers = {s: Walkers(np.random.default_rng([seed, s])) for s in range(6)}
    for s in walkers:
        for _ in range(int(rng.integers(1, 4))):
            _add_random_counter(twins, s, rng)
    _play(twins, walkers, 80, rng)
    twins.remove_stream(1)
    _play(twins, walkers, 40, rng)  # stream 1's rows still come: no units left for them
    walkers[6] = Walkers(np.random.default_rng([seed, 6]))
    twins.add(6, "zig", ZIGZAG, min_frames=1, mode="strict", recount_window_frames=40)
    _play(twins, walkers, 80, rng)
    assert twins.crossings > 20
    assert twins.screened > 0


def test_compiled_equals_numpy_across_compaction() -> None:
    """40 streams, 36 removed: the bank renumbers units, keys and lines."""
    rng = np.random.default_rng(7)
    twins = Twins()
    walkers = {s: Walkers(np.random.default_rng([7, s])) for s in range(40)}
    for s in walkers:
        _add_random_counter(twins, s, rng)
    _play(twins, walkers, 30, rng)
    for s in range(4, 40):
        twins.remove_stream(s)
        del walkers[s]
    assert len(twins.compiled) == len(twins.numpy) < 40  # compacted
    _play(twins, walkers, 60, rng)
    assert twins.crossings > 0


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_compiled_equals_numpy_on_line_cases(case: Case) -> None:
    """Touches at end points, vertices, the line itself, jitter, recounts (hand-derived)."""
    twins = Twins()
    twins.add(0, "gate", case.line, **case.kwargs)
    for frame_number, tracks in enumerate(frames(case.trajectories, case.classes)):
        twins.update(Round.single(tracks, frame_number, "test"))
    assert twins.crossings == len(case.events)


coords = st.tuples(st.integers(-40, 240), st.integers(-20, 240))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paths=st.lists(st.lists(coords, min_size=2, max_size=20), min_size=1, max_size=3),
    line=st.sampled_from(FIXED_LINES),
    mode=st.sampled_from(MODES),
    min_frames=st.integers(1, 3),
    direction=st.sampled_from([None, (0.0, 1.0), (1.0, 1.0), (-3.0, 1.0)]),
    recount=st.sampled_from([0, 30]),
)
def test_compiled_equals_numpy_on_integer_paths(
    *,
    paths: list[list[tuple[int, int]]],
    line: Line | Polyline,
    mode: str,
    min_frames: int,
    direction: tuple[float, float] | None,
    recount: int,
) -> None:
    """Integer paths hit segments, end points and vertices exactly and run along lines."""
    twins = Twins()
    try:
        twins.add(
            0,
            "l",
            line,
            mode=mode,
            min_frames=min_frames,
            direction=direction,
            recount_window_frames=recount,
        )
    except ValueError:  # direction parallel to the segment
        return
    trajectories = {i + 1: list(path) for i, path in enumerate(paths)}
    for frame_number, tracks in enumerate(frames(trajectories)):  # type: ignore[arg-type]
        twins.update(Round.single(tracks, frame_number, "test"))


SHARP_VEE = Polyline((Point(0, 100), Point(10, 150), Point(20, 100)))  # normals 79° off
U_SHAPE = Polyline((Point(50, 0), Point(50, 150), Point(150, 150), Point(150, 0)))  # equidistant


def _geometry(seed: int) -> tuple[Polylines, list[np.ndarray]]:
    """The fixed lines and a few random ones (integer or float vertices), as one bank pads them."""
    rng = np.random.default_rng(seed)
    vertices = [line.as_array() for line in (*FIXED_LINES, SHARP_VEE, U_SHAPE)]
    for _ in range(8):
        vertices.append(_random_line(rng).as_array())
    lines = Polylines.empty()
    for v in vertices:
        lines = lines.append(v)
    return lines, vertices


def _probe_points(v: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Points off, on and near polyline ``v``: random, integer, on its segments (as
    float arithmetic puts them), at its vertices, mirrored about them, with -0.0."""
    seg = rng.integers(0, len(v) - 1, n)
    t = rng.choice([0.0, 0.25, 0.5, 1.0, *rng.uniform(-0.2, 1.2, 4)], n)
    on = v[seg] + t[:, None] * (v[seg + 1] - v[seg])
    near = on + rng.choice([0.0, 1e-9, -1e-9, 1e-13, 1.0], (n, 2))
    vertex = v[rng.integers(0, len(v), n)]
    mirrored = 2 * vertex - rng.uniform(-20, 220, (n, 2))
    points = np.concatenate(
        [
            rng.uniform(-20, 220, (n, 2)),
            rng.integers(-20, 221, (n, 2)).astype(float),
            on,
            near,
            vertex,
            mirrored,
            [[-0.0, 100.0], [0.0, -0.0], [-0.0, -0.0], [100.0, 75.0]],
        ]
    )
    return points


@pytest.mark.parametrize("seed", range(3))
def test_sides_match_polyline_sides(seed: int) -> None:
    """The kernel's side of a point is ``polyline_sides``'s, on and near every line (read
    from ``observed_side`` after one round of fresh pairs: the raw side, 0 on the line)."""
    rng = np.random.default_rng(seed)
    lines, vertices = _geometry(seed)
    points = [_probe_points(v, rng, 300) for v in vertices]
    which = np.repeat(np.arange(len(vertices)), [len(p) for p in points]).astype(np.intp)
    xy = np.concatenate(points)
    n, n_lines = len(xy), len(vertices)
    state = (
        np.zeros(n, np.int64),
        np.full(n, -1, np.int64),
        np.zeros(n, np.int8),
        np.zeros(n, np.int8),
        np.zeros(n, np.int32),
        np.zeros((n, 2)),
        np.zeros((n, 2)),
    )
    params = (
        np.ones(n_lines, np.int64),
        np.zeros(n_lines, bool),
        np.zeros(n_lines),
        np.zeros(n_lines, bool),
        np.zeros(n_lines),
        np.zeros(n_lines),
        np.zeros(n_lines, np.int64),
    )
    arrays = (lines.vertices, lines.segments, lines.normals, lines.segment_table)
    index = np.arange(n, dtype=np.intp)
    kernel.advance(index, np.zeros(n, np.int64), xy, which, state, params, arrays)
    expected = polyline_sides(xy, lines, which)
    np.testing.assert_array_equal(state[2], expected)
    assert int((expected == 0).sum()) > 100  # many points exactly on a line


@pytest.mark.parametrize("seed", range(3))
def test_first_contact_matches_path_hits(seed: int) -> None:
    """Touch, touch point and normal of the kernel are ``path_hits``'s, bit for bit: paths
    through vertices (the normal sum), along segments (collinear), from and to the line."""
    rng = np.random.default_rng(seed)
    lines, vertices = _geometry(seed)
    arrays = (lines.vertices, lines.segments, lines.normals, lines.segment_table)
    sums = 0
    for u, v in enumerate(vertices):
        a, b = _probe_points(v, rng, 200), _probe_points(v, rng, 200)
        vertex = v[rng.integers(0, len(v), len(a))]
        through = vertex + rng.choice([0.5, 1.0, 1.7, 3.0], len(a))[:, None] * (vertex - a)
        starts = np.concatenate([a, a, a])
        ends = np.concatenate([rng.permutation(b), through, a[::-1]])
        which = np.full(len(starts), u, np.intp)
        hits = path_hits(starts, ends, lines, which)
        for k, (sx, sy, ex, ey) in enumerate(np.concatenate([starts, ends], 1).tolist()):
            hit, first, nx, ny = kernel._first_contact(sx, sy, ex, ey, u, arrays)
            at = first if hit else 0.0
            xy = np.asarray([sx + at * (ex - sx), sy + at * (ey - sy)])
            assert hit == hits.hit[k], (u, k)
            _same(xy, hits.xy[k], f"xy {u} {k}")
            _same(np.asarray([nx, ny]), hits.normal[k], f"normal {u} {k}")
            # a normal not along any one segment's: a sum at a vertex
            sums += bool(hit) and not np.isclose(np.abs(lines.normals[u] @ [nx, ny]), 1).any()
    assert sums > 50


@pytest.mark.parametrize("mode", ["balanced", "strict"])
def test_alignment_at_the_mode_limit(mode: str) -> None:
    """Reference directions whose cosine with a 1 px crossing sits ulps around
    ``min_cos - 1e-12`` (and inside that slack): each counts in both banks or in neither."""
    min_cos = float(np.cos(np.radians(MAX_ANGLE_DEG[mode])))
    limit = min_cos - 1e-12
    twins, cosines = Twins(), []
    for c in sorted({limit + i * 2.0**-53 for i in range(-30, 31)} | {min_cos - 5e-13}):
        twins.add(0, "l", GATE, mode=mode, min_frames=1, direction=(np.sqrt(1 - c * c), c))
        cosines.append(float(twins.numpy._units["direction_y"][-1]))  # cos = (0, 1) . unit
    for frame_number, y in enumerate((99.5, 100.5)):
        twins.update(Round.single(boxes_at([(100.0, y)], [1], [0]), frame_number, "test"))
    counted = [twins.numpy.counts(u)["in"] == {0: 1} for u in range(len(cosines))]
    assert counted == [c >= limit for c in cosines]
    assert limit in cosines and any(limit < c < min_cos for c in cosines)


def test_one_signature_any_layout() -> None:
    """The kernel is compiled once, for arrays of any layout and alignment: here the
    state columns are fields of one packed (unaligned) structured array."""
    rng = np.random.default_rng(3)
    twins = Twins()
    walkers = {0: Walkers(np.random.default_rng([3, 0]))}
    _add_random_counter(twins, 0, rng)
    _play(twins, walkers, 30, rng)  # tables of 0, 1 and more rows
    assert len(kernel.advance.signatures) == 1

    bank, rows = twins.compiled, len(twins.compiled._table)
    assert rows > 1
    columns = {name: bank._table[name] for name in KERNEL_STATE}
    fields = [(name, c.dtype, c.shape[1:]) for name, c in columns.items()]
    packed = np.zeros(rows, [("pad", np.int8), *fields])  # every field unaligned
    for name, column in columns.items():
        packed[name] = column
    state = tuple(packed[name] for name in KERNEL_STATE)
    assert not state[0].flags.aligned and not state[0].flags.c_contiguous
    contiguous = tuple(column.copy() for column in columns.values())
    index = rng.permutation(rows)[: rows // 2 + 1].astype(np.intp)
    points = rng.uniform(0, 200, (len(index), 2))
    unit, frame = np.zeros(len(index), np.intp), np.full(len(index), 1000, np.int64)
    _, params, lines = bank._kernel_arrays()
    got = kernel.advance(index, frame, points, unit, state, params, lines)
    expected = kernel.advance(index, frame, points, unit, contiguous, params, lines)
    for a, b in zip(got, expected, strict=True):
        _same(a, b, "output")
    for name, a, b in zip(KERNEL_STATE, state, contiguous, strict=True):
        _same(a, b, name)
    assert len(kernel.advance.signatures) == 1


def test_kernel_refuses_other_dtypes() -> None:
    """One signature, no silent recompiles: a wrong dtype is an error, not a new version."""
    bank = LineBank()
    bank.add(0, LineCounter("l", GATE))
    none = np.zeros(0, np.intp)
    with pytest.raises(TypeError):
        kernel.advance(none, none, np.zeros((0, 2), np.float32), none, *bank._kernel_arrays())
    assert len(kernel.advance.signatures) == 1


def test_warm_up_changes_nothing() -> None:
    twins = Twins()
    twins.add(0, "l", VEE, min_frames=1)
    twins.update(Round.single(boxes_at([(100, 80)], [1], [0]), 0, "test"))
    twins.compiled.warm_up()
    twins.numpy.warm_up()  # a no-op
    _same_state(twins.compiled, twins.numpy)
    twins.update(Round.single(boxes_at([(100, 160)], [1], [0]), 1, "test"))
    assert twins.crossings == 1


def test_import_does_not_load_numba() -> None:
    code = (
        "import sys, visionflow, visionflow.analytics\n"
        "from visionflow.analytics.line_bank import LineBank\n"
        "LineBank(compiled=False)\n"
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
