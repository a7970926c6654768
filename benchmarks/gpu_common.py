"""Shared helpers of the GPU benchmarks: machine/library info, commit, statistics."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def gpu_info() -> dict[str, Any]:
    """GPU name, memory, driver, SM count and the torch/CUDA/PyNvVideoCodec versions."""
    import torch

    props = torch.cuda.get_device_properties(0)
    smi = subprocess.run(
        [
            "nvidia-smi",
            "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
            "--format=csv,noheader",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    info: dict[str, Any] = {
        "gpu": props.name,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "nvidia_smi": smi,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    dists = ("pynvvideocodec", "numpy", "onnxruntime", "onnxruntime-gpu", "opencv-python-headless")
    for dist in dists:
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    return info


def git_info() -> dict[str, Any]:
    """The commit benchmarked: ``$VISIONFLOW_COMMIT`` (the device copy has no .git), else git."""
    commit = os.environ.get("VISIONFLOW_COMMIT")
    if commit:
        return {"commit": commit, "dirty": os.environ.get("VISIONFLOW_DIRTY", "unknown")}
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return {"commit": done.stdout.strip() or None, "dirty": "unknown"}


def spread(values: list[float]) -> dict[str, float]:
    """Median, min, max and count of repeated measurements."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def write_result(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {path}")
