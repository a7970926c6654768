"""Fixtures for end-to-end runs: configs over the real clip and weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import base_config

ConfigFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_config(models_dir: Path, onnx_cache_dir: Path, tmp_path: Path) -> ConfigFactory:
    """``make_config([(id, uri), ...], **section_overrides)`` → a config mapping."""

    def build(sources: list[tuple[str, Path | str]], **sections: Any) -> dict[str, Any]:
        return base_config(models_dir, onnx_cache_dir, tmp_path / "out", sources, **sections)

    return build
