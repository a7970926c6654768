"""Configuration: the pydantic schema, the YAML loader and the shipped defaults."""

from __future__ import annotations

from importlib import resources

from visionflow.config.loader import check_files, load_config, parse_config, validate_mapping
from visionflow.config.schema import (
    AnalyticsConfig,
    BatchingConfig,
    DetectorConfig,
    DirectionConfig,
    EventsConfig,
    LineConfig,
    ModelConfig,
    OutputConfig,
    OvercrowdingConfig,
    PipelineConfig,
    RoiConfig,
    RuntimeConfig,
    SourceConfig,
    TrackerConfig,
    ZoneConfig,
)


def default_yaml() -> str:
    """The commented default config shipped with the package."""
    return resources.files("visionflow.config").joinpath("default.yaml").read_text("utf-8")


__all__ = [
    "AnalyticsConfig",
    "BatchingConfig",
    "DetectorConfig",
    "DirectionConfig",
    "EventsConfig",
    "LineConfig",
    "ModelConfig",
    "OutputConfig",
    "OvercrowdingConfig",
    "PipelineConfig",
    "RoiConfig",
    "RuntimeConfig",
    "SourceConfig",
    "TrackerConfig",
    "ZoneConfig",
    "check_files",
    "default_yaml",
    "load_config",
    "parse_config",
    "validate_mapping",
]
