"""Range checks of tracker parameters, reported all at once as a ConfigError."""

from __future__ import annotations

import numpy as np

from visionflow.errors import ConfigError

INT32_MAX = int(np.iinfo(np.int32).max)


def check_simple_tracker(
    tracker: str,
    *,
    iou_threshold: float,
    confidence_threshold: float,
    min_hits: int,
    max_age_frames: int,
) -> None:
    """Validate the parameters shared by SORT and the IoU tracker.

    Raises:
        ConfigError: one or more values are out of range; every problem is listed.
    """
    bad = [
        f"{name}: must be in [{lo}, {hi}] (got {value!r})"
        for name, value, lo, hi in (
            ("iou_threshold", iou_threshold, 0.0, 1.0),
            ("confidence_threshold", confidence_threshold, 0.0, 1.0),
            ("min_hits", min_hits, 1, INT32_MAX),
            ("max_age_frames", max_age_frames, 0, INT32_MAX),
        )
        if not lo <= value <= hi
    ]
    if bad:
        raise ConfigError(f"invalid {tracker} parameters: " + "; ".join(bad), bad)
