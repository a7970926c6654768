"""The public surface is curated: adding or removing a name is a deliberate act."""

from __future__ import annotations

import json
import subprocess
import sys

import visionflow

EXPECTED_ALL = [
    "NO_TRACK",
    "ConfigError",
    "CorruptStreamError",
    "Detections",
    "Frame",
    "FrameBatch",
    "Line",
    "MissingDependencyError",
    "ModelError",
    "ModelFormatError",
    "ModelNotFoundError",
    "OutputError",
    "Pipeline",
    "PipelineConfig",
    "PipelineState",
    "PipelineStateError",
    "Point",
    "Polygon",
    "PublishError",
    "RunSummary",
    "SourceError",
    "SourceNotFoundError",
    "SourceOpenError",
    "VisionflowError",
    "__version__",
    "load_config",
]

HEAVY_MODULES = ["av", "cv2", "onnxruntime", "onnx", "torch", "scipy", "pydantic", "yaml", "rich"]


def test_all_is_pinned_and_sorted() -> None:
    assert visionflow.__all__ == EXPECTED_ALL

    def isort_key(name: str) -> tuple[int, str]:
        group = 0 if name.isupper() else 1 if name[0].isupper() else 2
        return (group, name)

    assert visionflow.__all__ == sorted(visionflow.__all__, key=isort_key)


def test_every_public_name_resolves() -> None:
    for name in visionflow.__all__:
        assert getattr(visionflow, name) is not None, name


def test_import_is_light() -> None:
    code = (
        "import json, sys; import visionflow; "
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_lazy_names_load_on_first_use() -> None:
    code = (
        "import sys, visionflow; assert 'pydantic' not in sys.modules; "
        "visionflow.PipelineConfig; assert 'pydantic' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
