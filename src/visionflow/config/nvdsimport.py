"""Convert DeepStream nvdsanalytics rules into visionflow's ``analytics:`` section.

The mapping (DeepStream → visionflow):

=======================================  =========================================
``[property] config-width/height``       coordinates scaled from it to
                                         ``frame_size_wh`` (kept if not given)
``[roi-filtering-stream-N] roi-<L>``     ``analytics.roi[]`` ``name: L``,
                                         ``polygon``, ``inverse`` (inverse-roi)
``[overcrowding-stream-N] roi-<L>``      ``analytics.zones[]`` with
                                         ``overcrowding`` (object-threshold,
                                         time-threshold)
``[line-crossing-stream-N]`` ``line-     ``analytics.lines[]`` ``name: L``,
crossing-<L>``                           ``start``/``end`` (the line),
                                         ``direction`` (the direction vector),
                                         ``mode``
``[direction-detection-stream-N]``       ``analytics.directions[]``, one per
                                         group, ``directions: {L: [p1, p2]}``
``class-id`` (``-1`` = all)              ``classes`` (omitted for all)
stream ``N``                             ``streams: [<id>]`` (``stream-N`` or
                                         the N-th of ``streams``)
=======================================  =========================================

Rules identical but for their stream become one entry listing every stream.
What has no visionflow meaning (on-screen display options, disabled groups,
infinite lines) is reported in :attr:`NvdsImport.warnings`, never dropped
silently; an infinite line (``extended=1``) becomes the segment where it
crosses the reference frame.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from visionflow.config.loader import validate_mapping
from visionflow.config.nvdsanalytics import (
    XY,
    DirectionRule,
    LineCrossingRule,
    NvdsAnalytics,
    OvercrowdingRule,
    RoiRule,
    Rule,
)
from visionflow.errors import ConfigError

_SOURCE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
FloatXY = tuple[float, float]


@dataclass
class _Item:
    """One output entry, its provenance and the streams it applies to."""

    section: str
    body: dict[str, Any]
    origins: list[str]
    streams: list[str]


@dataclass
class NvdsImport:
    """The converted ``analytics:`` section.

    Attributes:
        source: the DeepStream file it came from.
        analytics: the mapping to put under ``analytics:`` (plain data).
        warnings: one line per thing not carried over or changed in meaning.
        header: comment lines describing the conversion.
    """

    source: str
    analytics: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    _items: list[_Item] = field(default_factory=list, repr=False)

    def to_yaml(self) -> str:
        """The section as YAML, each entry preceded by a comment naming its origin."""
        out = [f"# {line}" if line else "#" for line in self.header]
        out += [f"# warning: {w}" for w in self.warnings]
        out.append("analytics:")
        for key, value in self.analytics.items():
            if key in _SECTIONS:
                out.append(f"  {key}:")
                out += [_render(item) for item in self._items if item.section == key]
            else:
                out.append("  " + yaml.safe_dump({key: value}, default_flow_style=None).strip())
        return "\n".join(out) + "\n"


_SECTIONS = ("lines", "zones", "roi", "directions")


def convert(
    config: NvdsAnalytics,
    *,
    streams: Sequence[str] | None = None,
    frame_size_wh: tuple[int, int] | None = None,
) -> NvdsImport:
    """Map ``config`` to visionflow's ``analytics:`` section.

    Args:
        config: from :func:`~visionflow.config.nvdsanalytics.load_nvdsanalytics`.
        streams: source id of DeepStream stream 0, 1, ...; default ``stream-N``.
        frame_size_wh: the streams' frame size; coordinates are scaled from
            ``config-width`` × ``config-height`` to it, as DeepStream scales
            them to each stream. ``None`` keeps them (with a warning).

    Raises:
        ConfigError: a stream index has no name in ``streams``, or a name is
            not a valid source id.
    """
    conv = _Converter(config, streams, frame_size_wh)
    return conv.run()


class _Converter:
    def __init__(
        self,
        config: NvdsAnalytics,
        streams: Sequence[str] | None,
        frame_size_wh: tuple[int, int] | None,
    ) -> None:
        for name in streams or ():
            if not _SOURCE_ID.match(name):
                raise ConfigError(
                    f"stream name {name!r} is not a valid source id "
                    "(letters, digits, '_', '.', '-')"
                )
        if frame_size_wh is not None and min(frame_size_wh) < 1:
            raise ConfigError(f"frame size must be positive pixels, got {list(frame_size_wh)}")
        self.config = config
        self.streams = list(streams) if streams is not None else None
        cw, ch = config.config_wh
        fw, fh = frame_size_wh or config.config_wh
        self.scale = (fw / cw, fh / ch)
        self.frame_size_wh = frame_size_wh
        self.warnings: list[str] = list(config.notes)
        self.items: list[_Item] = []
        self._notes: list[str] = []  # remarks on the entry being converted

    def run(self) -> NvdsImport:
        cfg = self.config
        if not cfg.enabled:
            self.warnings.append(
                "[property] enable=0: the plugin is off in DeepStream; "
                "its rules are imported anyway"
            )
        for rule in [*cfg.rois, *cfg.overcrowding, *cfg.lines]:
            if self._enabled(rule):
                self._add(rule)
        self._add_directions([d for d in cfg.directions if self._enabled(d)])
        self._class_note()
        merged = _merge(self.items)
        if self.frame_size_wh is None and merged:
            cw, ch = cfg.config_wh
            self.warnings.append(
                f"coordinates kept in DeepStream's {cw}x{ch} config frame: right only for "
                f"{cw}x{ch} streams; pass --frame-size WxH (frame_size_wh) to scale them"
            )
        analytics: dict[str, Any] = {}
        for section in _SECTIONS:
            entries = [_entry(item) for item in merged if item.section == section]
            if entries:
                analytics[section] = entries
        _check(analytics, sorted({s for item in merged for s in item.streams}), cfg.source)
        return NvdsImport(cfg.source, analytics, self.warnings, self._header(), merged)

    def _header(self) -> list[str]:
        cw, ch = self.config.config_wh
        lines = [
            f"visionflow analytics from the DeepStream nvdsanalytics config {self.config.source}",
            "(`visionflow import-nvdsanalytics`); add `sources:` and `model:` to run it.",
        ]
        if self.frame_size_wh is None:
            lines.append(f"Coordinates are DeepStream's, in its {cw}x{ch} config frame.")
        else:
            fw, fh = self.frame_size_wh
            lines.append(f"Coordinates scaled from DeepStream's {cw}x{ch} frame to {fw}x{fh}.")
        ids = sorted({s for item in self.items for s in item.streams})
        if ids:
            lines.append("Source ids used (must match your `sources:` ids): " + ", ".join(ids))
        return lines

    def _enabled(self, rule: Rule) -> bool:
        if not rule.enabled:
            self.warnings.append(
                f"{rule.origin.where()}: its group has enable=0 (or no enable key); not imported"
            )
        return rule.enabled

    def _stream(self, rule: Rule) -> str:
        if self.streams is None:
            return f"stream-{rule.stream}"
        if rule.stream >= len(self.streams):
            raise ConfigError(
                f"{self.config.source}: [{rule.origin.group}] is stream {rule.stream}, but "
                f"--streams names only {len(self.streams)}: {', '.join(self.streams)}"
            )
        return self.streams[rule.stream]

    def _point(self, p: XY | FloatXY) -> list[float | int]:
        return [_num(p[0] * self.scale[0]), _num(p[1] * self.scale[1])]

    def _add(self, rule: Rule) -> None:
        if isinstance(rule, RoiRule):
            section, body = "roi", self._roi(rule)
        elif isinstance(rule, OvercrowdingRule):
            section, body = "zones", self._zone(rule)
        else:
            assert isinstance(rule, LineCrossingRule)
            section, body = "lines", self._line(rule)
        if rule.class_ids is not None:
            body["classes"] = list(rule.class_ids)
        origin = rule.origin.where() + "".join(f" ({note})" for note in self._notes)
        self._notes = []
        self.items.append(_Item(section, body, [origin], [self._stream(rule)]))

    def _roi(self, rule: RoiRule) -> dict[str, Any]:
        body: dict[str, Any] = {"name": rule.label}
        body["polygon"] = [self._point(p) for p in rule.polygon]
        body["inverse"] = rule.inverse
        return body

    def _zone(self, rule: OvercrowdingRule) -> dict[str, Any]:
        body: dict[str, Any] = {"name": rule.label}
        body["polygon"] = [self._point(p) for p in rule.polygon]
        body["overcrowding"] = {
            "threshold": max(rule.object_threshold, 1),
            "min_duration_s": rule.time_threshold_ms / 1000,
        }
        if rule.object_threshold < 1:
            self.warnings.append(
                f"{rule.origin.where()}: object-threshold=0 would flag every frame; imported as 1"
            )
        return body

    def _line(self, rule: LineCrossingRule) -> dict[str, Any]:
        a, b = rule.line
        ends: tuple[FloatXY, FloatXY] = (a, b)
        if rule.extended:
            ends = _clip_to_frame(a, b, self.config.config_wh)
            self._notes.append("extended: the line across the frame")
            why = "extended=1" if rule.extended_given else "no 'extended' key (DeepStream: 1)"
            cw, ch = self.config.config_wh
            shown = [[round(v, 1) for v in p] for p in ends]
            self.warnings.append(
                f"{rule.origin.where()}: {why} means an infinite line in DeepStream; "
                f"visionflow counts segments only: imported as the segment {shown} across "
                f"the {cw}x{ch} frame (set extended=0 to keep the drawn segment)"
            )
        (dx0, dy0), (dx1, dy1) = rule.direction
        direction = (dx1 - dx0, dy1 - dy0)
        line_d = (ends[1][0] - ends[0][0], ends[1][1] - ends[0][1])
        toward_in = line_d[0] * direction[1] - line_d[1] * direction[0]
        if toward_in < 0:  # moving along `direction` must reach the line's right (in) side
            ends = (ends[1], ends[0])
            self._notes.append(f"reversed, so {rule.label}'s crossings are 'in'")
        elif toward_in == 0:
            raise ConfigError(
                f"{self.config.source}: {rule.origin.where()}: the direction "
                f"{list(direction)} is parallel to the line, so no crossing can follow it "
                "(DeepStream would never count); make it point across the line"
            )
        body: dict[str, Any] = {"name": rule.label}
        body["start"], body["end"] = self._point(ends[0]), self._point(ends[1])
        body["direction"] = self._point(direction)
        body["mode"] = rule.mode
        return body

    def _add_directions(self, rules: list[DirectionRule]) -> None:
        groups: dict[str, list[DirectionRule]] = {}
        for rule in rules:
            groups.setdefault(rule.origin.group, []).append(rule)
        for members in groups.values():
            first = members[0]
            body: dict[str, Any] = {"name": "direction-detection"}
            body["directions"] = {
                r.label: [self._point(r.start), self._point(r.end)] for r in members
            }
            body["mode"] = first.mode
            if first.class_ids is not None:
                body["classes"] = list(first.class_ids)
            origins = [r.origin.where() for r in members]
            self.items.append(_Item("directions", body, origins, [self._stream(first)]))

    def _class_note(self) -> None:
        ids = sorted({c for item in self.items for c in item.body.get("classes", ())})
        if ids:
            self.warnings.append(
                f"class-id values {ids} are indices into the DeepStream model's labels; "
                "visionflow reads them as indices into model.names: check they mean the "
                "same classes (or replace them by names)"
            )


def _check(analytics: dict[str, Any], stream_ids: list[str], source: str) -> None:
    """Validate the section with the real loader (placeholder sources and model).

    Raises:
        ConfigError: a rule breaks a visionflow constraint DeepStream does not
            have (e.g. a self-intersecting polygon); the message has its path.
    """
    data = {
        "sources": [{"id": i, "uri": f"{i}.mp4"} for i in stream_ids or ["x"]],
        "model": {"kind": "onnx", "weights": "model.onnx", "names": "model.names"},
        "analytics": analytics,
    }
    try:
        validate_mapping(data, source=source)
    except ConfigError as exc:
        problems = "; ".join(exc.problems)
        raise ConfigError(f"{source}: cannot convert: {problems}", exc.problems) from exc


def _entry(item: _Item) -> dict[str, Any]:
    body = dict(item.body)
    body["streams"] = list(item.streams)
    return body


def _merge(items: list[_Item]) -> list[_Item]:
    """Merge entries equal but for their streams (DeepStream repeats groups per stream)."""
    merged: list[_Item] = []
    for item in items:
        twin = next((m for m in merged if m.section == item.section and m.body == item.body), None)
        if twin is None:
            merged.append(_Item(item.section, item.body, list(item.origins), list(item.streams)))
        else:
            twin.origins += item.origins
            twin.streams += [s for s in item.streams if s not in twin.streams]
    return merged


def _render(item: _Item) -> str:
    text = yaml.safe_dump([_entry(item)], default_flow_style=None, sort_keys=False)
    body = "\n".join("    " + line for line in text.rstrip("\n").splitlines())
    comments = "\n".join(f"    # from {o}" for o in item.origins)
    return comments + "\n" + body


def _num(value: float) -> float | int:
    """``value`` rounded to 1/1000 px, as an int when whole (keeps the YAML readable)."""
    rounded = round(value, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def _clip_to_frame(a: XY, b: XY, frame_wh: tuple[int, int]) -> tuple[FloatXY, FloatXY]:
    """Where the infinite line through ``a`` and ``b`` enters and leaves the frame.

    Liang-Barsky on ``p = a + t (b - a)`` over ``0 <= x <= w, 0 <= y <= h``;
    the points keep the ``a`` → ``b`` orientation. A line missing the frame
    (only possible when ``a`` and ``b`` lie outside it) keeps its two points.
    """
    w, h = frame_wh
    d = (b[0] - a[0], b[1] - a[1])
    lo, hi = -float("inf"), float("inf")
    for p0, dp, size in ((a[0], d[0], w), (a[1], d[1], h)):
        if dp == 0:
            if not 0 <= p0 <= size:
                return (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
            continue
        t0, t1 = (0 - p0) / dp, (size - p0) / dp
        lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
    if lo >= hi:
        return (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
    return (a[0] + lo * d[0], a[1] + lo * d[1]), (a[0] + hi * d[0], a[1] + hi * d[1])
