"""Read DeepStream's ``Gst-nvdsanalytics`` config file into plain rules.

The file (``config_nvdsanalytics.txt``) is a GLib key file with one
``[property]`` group and per-stream groups ``[roi-filtering-stream-N]``,
``[overcrowding-stream-N]``, ``[line-crossing-stream-N]`` and
``[direction-detection-stream-N]``. This module reproduces the plugin's own
parser (``nvdsanalytics_property_parser.cpp``): the same keys, defaults and
value checks, but it rejects what DeepStream silently misreads (an odd
number of polygon coordinates, a line with other than 8 numbers) and it
reports every key it does not use. :mod:`visionflow.config.nvdsimport` turns
the result into visionflow's ``analytics:`` section.

Coordinates stay in DeepStream's reference frame, ``config-width`` ×
``config-height`` pixels; class ids stay DeepStream's ``class-id`` numbers
(``None`` where the file says ``-1``, i.e. every class).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from visionflow.config._keyfile import (
    Entry,
    KeyFile,
    as_bool,
    as_int,
    as_int_list,
    read_keyfile,
    read_yaml_keyfile,
)
from visionflow.errors import ConfigError

XY = tuple[int, int]
Mode = Literal["strict", "balanced", "loose"]
MODES: tuple[Mode, ...] = ("strict", "balanced", "loose")
KINDS = ("roi-filtering", "overcrowding", "line-crossing", "direction-detection")
_STREAM_GROUP = re.compile(r"^(" + "|".join(KINDS) + r")-stream-(.*)$")
_DISPLAY_KEYS = ("osd-mode", "display-font-size", "display-obj-cnt", "obj-cnt-win-in-ms")


@dataclass(frozen=True, slots=True)
class Rule:
    """What every per-stream rule shares.

    Attributes:
        stream: the ``N`` of ``[...-stream-N]``.
        label: the ``<label>`` of ``roi-<label>``, ``line-crossing-<label>``...
        class_ids: DeepStream class ids, ``None`` for every class (``-1``).
        enabled: the group's ``enable``.
        origin: the entry that defined the rule (file line, group, key).
    """

    stream: int
    label: str
    class_ids: tuple[int, ...] | None
    enabled: bool
    origin: Entry


@dataclass(frozen=True, slots=True)
class RoiRule(Rule):
    """``roi-<label>`` of ``[roi-filtering-stream-N]``; ``inverse``: keep outside."""

    polygon: tuple[XY, ...] = ()
    inverse: bool = False


@dataclass(frozen=True, slots=True)
class OvercrowdingRule(Rule):
    """``roi-<label>`` of ``[overcrowding-stream-N]``.

    ``object_threshold`` objects in the polygon for ``time_threshold_ms``
    raise the alert (DeepStream's defaults: 1 object, 2000 ms).
    """

    polygon: tuple[XY, ...] = ()
    object_threshold: int = 1
    time_threshold_ms: int = 2000


@dataclass(frozen=True, slots=True)
class LineCrossingRule(Rule):
    """``line-crossing-<label>=x1d;y1d;x2d;y2d;x1c;y1c;x2c;y2c``.

    Counts objects crossing ``line`` while moving along ``direction``
    (first point → second point). ``extended``: the infinite line through
    ``line`` counts (DeepStream's default when the key is absent is 1);
    ``extended_given`` says whether the file set it.
    """

    direction: tuple[XY, XY] = ((0, 0), (0, 0))
    line: tuple[XY, XY] = ((0, 0), (0, 0))
    extended: bool = True
    extended_given: bool = False
    mode: Mode = "loose"


@dataclass(frozen=True, slots=True)
class DirectionRule(Rule):
    """``direction-<label>=x1;y1;x2;y2``: objects moving from point 1 towards point 2."""

    start: XY = (0, 0)
    end: XY = (0, 0)
    mode: Mode = "balanced"


@dataclass
class NvdsAnalytics:
    """Everything the file configures.

    Attributes:
        source: file name for messages.
        enabled: ``[property] enable``.
        config_wh: ``(config-width, config-height)``: the frame size the
            coordinates were drawn on.
        rois, overcrowding, lines, directions: the rules, in file order.
        notes: one line per key or group that has no effect here.
    """

    source: str
    enabled: bool
    config_wh: tuple[int, int]
    rois: list[RoiRule] = field(default_factory=list)
    overcrowding: list[OvercrowdingRule] = field(default_factory=list)
    lines: list[LineCrossingRule] = field(default_factory=list)
    directions: list[DirectionRule] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_nvdsanalytics(path: str | Path) -> NvdsAnalytics:
    """Read and check an nvdsanalytics config file (``.yml``/``.yaml``: the YAML form).

    Raises:
        ConfigError: the file is missing, unreadable or malformed; the message
            names the line, group and key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
    except FileNotFoundError as exc:
        raise ConfigError(f"nvdsanalytics config not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read nvdsanalytics config {path}: {exc}") from exc
    yml = path.suffix.lower() in (".yml", ".yaml")
    return parse_nvdsanalytics(text, source=str(path), form="yaml" if yml else "keyfile")


def parse_nvdsanalytics(
    text: str, *, source: str = "<string>", form: Literal["keyfile", "yaml"] = "keyfile"
) -> NvdsAnalytics:
    """Parse the text of an nvdsanalytics config (see :func:`load_nvdsanalytics`).

    Args:
        text: the file's text.
        source: file name for messages.
        form: ``keyfile`` (``config_nvdsanalytics.txt``) or ``yaml`` (the
            ``.yml`` form DeepStream also reads: the same groups and keys).
    """
    kf = read_yaml_keyfile(text, source) if form == "yaml" else read_keyfile(text, source)
    if "property" not in kf.groups:
        raise kf.error(None, "no [property] group; DeepStream requires one")
    result = _property(kf, kf.groups["property"])
    result.notes[:0] = kf.notes
    for name, entries in kf.groups.items():
        match = _STREAM_GROUP.match(name)
        if name == "property":
            continue
        if not match:
            result.notes.append(f"[{name}]: not an nvdsanalytics group; ignored (as DeepStream)")
            continue
        stream = _stream_index(kf, name, match.group(2))
        _GROUP_PARSERS[match.group(1)](kf, result, name, stream, entries)
    return result


def _property(kf: KeyFile, entries: dict[str, Entry]) -> NvdsAnalytics:
    size = []
    for key in ("config-width", "config-height"):
        if key not in entries:
            raise kf.error(None, f"[property] needs {key} (the frame size the shapes are drawn on)")
        size.append(as_int(kf, entries[key], minimum=1))
    if "enable" not in entries:
        raise kf.error(None, "[property] needs enable (DeepStream refuses the file without it)")
    enabled = as_bool(kf, entries["enable"])
    result = NvdsAnalytics(kf.source, enabled, (size[0], size[1]))
    display = [
        f"{e.key}={e.value} (line {e.line})" for e in entries.values() if e.key in _DISPLAY_KEYS
    ]
    if display:
        result.notes.append(
            f"[property] {', '.join(display)}: DeepStream on-screen display options, not "
            "used: visionflow's annotated video always draws the shapes and counts"
        )
    for key, entry in entries.items():
        if key not in (*_DISPLAY_KEYS, "enable", "config-width", "config-height"):
            result.notes.append(f"{entry.where()}: unknown key; ignored (as DeepStream)")
    return result


def _stream_index(kf: KeyFile, group: str, suffix: str) -> int:
    if not suffix.isdigit():
        raise kf.error(None, f"[{group}]: the stream index after '-stream-' must be a number")
    return int(suffix)


@dataclass(frozen=True, slots=True)
class _Common:
    """Group-wide keys; DeepStream applies them to every label of the group."""

    enabled: bool
    class_ids: tuple[int, ...] | None

    def fields(self, stream: int, label: str, origin: Entry) -> dict[str, Any]:
        """Keyword arguments for a :class:`Rule` subclass."""
        return {
            "stream": stream,
            "label": label,
            "class_ids": self.class_ids,
            "enabled": self.enabled,
            "origin": origin,
        }


def _common(kf: KeyFile, entries: dict[str, Entry]) -> _Common:
    enabled = as_bool(kf, entries["enable"]) if "enable" in entries else False
    class_ids: tuple[int, ...] | None = None
    if "class-id" in entries:
        ids = as_int_list(kf, entries["class-id"], minimum=-1)
        class_ids = None if -1 in ids else tuple(dict.fromkeys(ids))
    return _Common(enabled, class_ids)


def _labelled(
    kf: KeyFile,
    group: str,
    entries: dict[str, Entry],
    prefix: str,
    *,
    group_keys: tuple[str, ...],
    out: list[str],
) -> list[tuple[str, Entry]]:
    """``(label, entry)`` of every ``<prefix><label>`` key; other unknown keys go to ``out``."""
    found = []
    for key, entry in entries.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            found.append((key[len(prefix) :], entry))
        elif key not in ("enable", "class-id", *group_keys):
            out.append(f"{entry.where()}: unknown key; ignored (as DeepStream)")
    if not found:
        raise kf.error(None, f"[{group}]: no '{prefix}<label>' key; DeepStream requires one")
    return found


def _polygon(kf: KeyFile, entry: Entry) -> tuple[XY, ...]:
    nums = as_int_list(kf, entry, minimum=0)
    if len(nums) % 2:
        raise kf.error(entry, f"{len(nums)} numbers; a polygon needs x;y pairs (an even count)")
    if len(nums) < 6:
        raise kf.error(entry, f"{len(nums) // 2} point(s); a polygon needs at least 3")
    return tuple(zip(nums[0::2], nums[1::2], strict=True))


def _mode(kf: KeyFile, entries: dict[str, Entry], default: Mode, notes: list[str]) -> Mode:
    entry = entries.get("mode")
    if entry is None:
        return default
    for mode in MODES:
        if entry.value == mode:
            return mode
    notes.append(
        f"{entry.where()}: unknown mode {entry.value!r} (allowed: {', '.join(MODES)}); "
        f"DeepStream falls back to {default!r}, so does this import"
    )
    return default


def _roi_group(
    kf: KeyFile, out: NvdsAnalytics, group: str, stream: int, entries: dict[str, Entry]
) -> None:
    common = _common(kf, entries)
    inverse = as_bool(kf, entries["inverse-roi"]) if "inverse-roi" in entries else False
    for label, entry in _labelled(
        kf, group, entries, "roi-", group_keys=("inverse-roi",), out=out.notes
    ):
        polygon = _polygon(kf, entry)
        out.rois.append(
            RoiRule(**common.fields(stream, label, entry), polygon=polygon, inverse=inverse)
        )


def _overcrowding_group(
    kf: KeyFile, out: NvdsAnalytics, group: str, stream: int, entries: dict[str, Entry]
) -> None:
    common = _common(kf, entries)
    get = entries.get
    threshold = as_int(kf, e, minimum=0) if (e := get("object-threshold")) else 1
    time_ms = as_int(kf, e, minimum=0) if (e := get("time-threshold")) else 2000
    keys = ("object-threshold", "time-threshold")
    for label, entry in _labelled(kf, group, entries, "roi-", group_keys=keys, out=out.notes):
        polygon = _polygon(kf, entry)
        out.overcrowding.append(
            OvercrowdingRule(
                **common.fields(stream, label, entry),
                polygon=polygon,
                object_threshold=threshold,
                time_threshold_ms=time_ms,
            )
        )


def _line_group(
    kf: KeyFile, out: NvdsAnalytics, group: str, stream: int, entries: dict[str, Entry]
) -> None:
    common = _common(kf, entries)
    given = "extended" in entries
    extended = as_bool(kf, entries["extended"]) if given else True
    mode = _mode(kf, entries, "loose", out.notes)
    keys = ("extended", "mode")
    for label, entry in _labelled(
        kf, group, entries, "line-crossing-", group_keys=keys, out=out.notes
    ):
        n = as_int_list(kf, entry, minimum=0)
        if len(n) != 8:
            raise kf.error(
                entry,
                f"{len(n)} numbers; expected 8: the direction x1d;y1d;x2d;y2d "
                "then the line x1c;y1c;x2c;y2c",
            )
        direction, line = ((n[0], n[1]), (n[2], n[3])), ((n[4], n[5]), (n[6], n[7]))
        if direction[0] == direction[1]:
            raise kf.error(entry, f"the direction's two points are the same {list(direction[0])}")
        if line[0] == line[1]:
            raise kf.error(entry, f"the line's two points are the same {list(line[0])}")
        out.lines.append(
            LineCrossingRule(
                **common.fields(stream, label, entry),
                direction=direction,
                line=line,
                extended=extended,
                extended_given=given,
                mode=mode,
            )
        )


def _direction_group(
    kf: KeyFile, out: NvdsAnalytics, group: str, stream: int, entries: dict[str, Entry]
) -> None:
    common = _common(kf, entries)
    mode = _mode(kf, entries, "balanced", out.notes)
    for label, entry in _labelled(
        kf, group, entries, "direction-", group_keys=("mode",), out=out.notes
    ):
        n = as_int_list(kf, entry, minimum=0)
        if len(n) not in (4, 8):
            raise kf.error(entry, f"{len(n)} numbers; expected 4: x1;y1;x2;y2")
        if len(n) == 8:
            out.notes.append(f"{entry.where()}: numbers 5-8 ignored; DeepStream reads only 4")
        if (n[0], n[1]) == (n[2], n[3]):
            raise kf.error(entry, f"the direction's two points are the same {n[:2]}")
        out.directions.append(
            DirectionRule(
                **common.fields(stream, label, entry),
                start=(n[0], n[1]),
                end=(n[2], n[3]),
                mode=mode,
            )
        )


_GROUP_PARSERS = {
    "roi-filtering": _roi_group,
    "overcrowding": _overcrowding_group,
    "line-crossing": _line_group,
    "direction-detection": _direction_group,
}
