"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

# The demo's counting line and zone on the vtest scene (see config/demo.yaml).
WALKWAY = {
    "name": "walkway",
    "start": [360, 380],
    "end": [360, 150],
    "in_name": "eastbound",
    "out_name": "westbound",
    "classes": ["person"],
}
PLAZA = {
    "name": "plaza",
    "classes": ["person"],
    "polygon": [[470, 230], [700, 200], [768, 300], [768, 480], [600, 420], [470, 330]],
}


def base_config(
    models_dir: Path,
    cache_dir: Path,
    out: Path,
    sources: list[tuple[str, Path | str]],
    **sections: Any,
) -> dict[str, Any]:
    """A config mapping over the real weights; ``sections`` override or extend it."""
    config: dict[str, Any] = {
        "sources": [{"id": sid, "uri": str(uri)} for sid, uri in sources],
        "model": {
            "cfg": str(models_dir / "yolov3-tiny.cfg"),
            "weights": str(models_dir / "yolov3-tiny.weights"),
            "names": str(models_dir / "coco.names"),
            "cache_dir": str(cache_dir),
        },
        "detector": {"classes": ["person"]},
        "analytics": {"lines": [WALKWAY], "zones": [PLAZA]},
        "output": {"dir": str(out), "video": True},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    """Write a config mapping as YAML and return the path."""
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of an events file (fails on a malformed line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def ffprobe_frames(path: Path) -> tuple[str, int]:
    """``(codec, frame count)`` of the first video stream, decoded by ffprobe."""
    cmd = [
        "ffprobe",
        "-v",
        "error",
        "-count_frames",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name,nb_read_frames",
        "-of",
        "json",
        str(path),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    stream = json.loads(out)["streams"][0]
    return stream["codec_name"], int(stream["nb_read_frames"])
