"""``visionflow import-nvdsanalytics``: DeepStream analytics config → visionflow YAML."""

from __future__ import annotations

import re
from pathlib import Path

from visionflow.config.nvdsanalytics import load_nvdsanalytics
from visionflow.config.nvdsimport import NvdsImport, convert
from visionflow.errors import ConfigError

_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_frame_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` → ``(1280, 720)``.

    Raises:
        ConfigError: not ``WxH`` with positive integers.
    """
    match = _SIZE.match(text)
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise ConfigError(
            f"--frame-size: expected WIDTHxHEIGHT in pixels, e.g. 1920x1080, got {text!r}"
        )
    return int(match.group(1)), int(match.group(2))


def parse_streams(text: str) -> list[str]:
    """``"cam0, cam1"`` → ``["cam0", "cam1"]`` (source ids of DeepStream streams 0, 1, ...).

    Raises:
        ConfigError: an empty name or a name given twice.
    """
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ConfigError(f"--streams: expected comma-separated source ids, got {text!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"--streams: each source id once, repeated: {', '.join(repeated)}")
    return names


def import_file(
    path: Path, *, streams: str | None = None, frame_size: str | None = None
) -> NvdsImport:
    """Read ``path`` and convert it, with the CLI's option strings.

    Raises:
        ConfigError: the file or an option is invalid (one line, naming it).
    """
    size = parse_frame_size(frame_size) if frame_size is not None else None
    names = parse_streams(streams) if streams is not None else None
    return convert(load_nvdsanalytics(path), streams=names, frame_size_wh=size)


def write_output(result: NvdsImport, output: Path) -> None:
    """Write the YAML to ``output``.

    Raises:
        ConfigError: the file cannot be written.
    """
    try:
        output.write_text(result.to_yaml(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc


def summary(result: NvdsImport) -> str:
    """``lines: 2, zones: 1, roi: 2, directions: 1`` for the confirmation line."""
    parts = [
        f"{key}: {len(result.analytics[key])}"
        for key in ("lines", "zones", "roi", "directions")
        if key in result.analytics
    ]
    return ", ".join(parts) or "no rules"
