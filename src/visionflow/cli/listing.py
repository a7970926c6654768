"""``visionflow models``: backends and model files found on this machine."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from visionflow.assets import assets_dir


def models_table(assets: Path | None) -> list[Table]:
    """A table of inference backends and one of model files in the assets folder."""
    from visionflow.inference import available_backends

    backends = Table(title="inference backends")
    for col in ("backend", "available", "detail"):
        backends.add_column(col)
    for name, ok, detail in available_backends():
        backends.add_row(name, "[green]yes[/green]" if ok else "[red]no[/red]", detail)
    files = Table(title=f"models in {assets or assets_dir()}")
    for col in ("file", "kind", "size (MB)"):
        files.add_column(col)
    for path in _model_files(assets or assets_dir()):
        kind = {".cfg": "darknet cfg", ".weights": "darknet weights", ".onnx": "onnx"}[path.suffix]
        files.add_row(str(path), kind, f"{path.stat().st_size / 1e6:.1f}")
    return [backends, files]


def _model_files(directory: Path) -> list[Path]:
    found = [p for ext in ("*.cfg", "*.weights", "*.onnx") for p in directory.rglob(ext)]
    return sorted(found)
