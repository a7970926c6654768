"""The demo config: the sample clip, YOLOv3-tiny, a counting line and a zone."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from visionflow.assets import assets_dir, ensure_model, ensure_sample
from visionflow.config import PipelineConfig, validate_mapping


def demo_config(assets: Path | None = None) -> PipelineConfig:
    """Fetch the demo assets if needed and return the demo pipeline config."""
    directory = assets or assets_dir()
    model = ensure_model(directory)
    sample = ensure_sample(directory)
    text = resources.files("visionflow.config").joinpath("demo.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    data["sources"][0]["uri"] = str(sample)
    data["model"].update(
        cfg=str(model["yolov3-tiny.cfg"]),
        weights=str(model["yolov3-tiny.weights"]),
        names=str(model["coco.names"]),
    )
    return validate_mapping(data, source="demo.yaml")
