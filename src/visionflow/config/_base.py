"""Shared pieces of the config models: the frozen base model and small value types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

XY = tuple[float, float]
Anchor = Literal[
    "center", "bottom_center", "top_center", "bottom_left", "bottom_right", "top_left", "top_right"
]
ClassRef = int | str
"""A class given by index into the model's names (``0``) or by name (``"person"``)."""


class ConfigModel(BaseModel):
    """Frozen, unknown keys rejected, defaults validated."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
