"""``visionflow import-nvdsanalytics`` as a user runs it: YAML out, warnings, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from visionflow.config.nvdsanalytics import load_nvdsanalytics
from visionflow.config.nvdsimport import convert

SAMPLE = Path(__file__).parents[1] / "config" / "nvds_fixtures" / "nvdsanalytics_sample_app.txt"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "visionflow", "import-nvdsanalytics", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_prints_the_yaml_and_warns_on_stderr() -> None:
    result = run_cli(str(SAMPLE), "--streams", "a,b,c", "--frame-size", "960x540")
    assert result.returncode == 0, result.stderr
    expected = convert(
        load_nvdsanalytics(SAMPLE), streams=["a", "b", "c"], frame_size_wh=(960, 540)
    )
    assert result.stdout == expected.to_yaml()
    assert yaml.safe_load(result.stdout)["analytics"]["lines"][0]["start"] == [425.5, 386.5]
    for warning in expected.warnings:
        assert f"warning: {warning}" in result.stderr


def test_writes_the_output_file(tmp_path: Path) -> None:
    out = tmp_path / "analytics.yaml"
    result = run_cli(str(SAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}: lines: 1, zones: 1, roi: 2, directions: 1" in result.stdout
    assert out.read_text() == convert(load_nvdsanalytics(SAMPLE)).to_yaml()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.txt"], "error: nvdsanalytics config not found: missing.txt"),
        ([str(SAMPLE), "--frame-size", "960"], "--frame-size: expected WIDTHxHEIGHT"),
        ([str(SAMPLE), "--streams", "a,,b"], "--streams: expected comma-separated source ids"),
        (
            [str(SAMPLE), "--streams", "cam0"],
            "[roi-filtering-stream-2] is stream 2, but --streams names only 1: cam0",
        ),
        ([str(SAMPLE), "-o", "/nonexistent-dir/x.yaml"], "cannot write /nonexistent-dir/x.yaml"),
    ],
)
def test_bad_input_is_one_line_exit_1(args: list[str], needle: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_malformed_file_names_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(SAMPLE.read_text().replace("roi-RF=295;643", "roi-RF=295;6x3", 1))
    result = run_cli(str(bad))
    assert result.returncode == 1
    assert f"{bad}: line 20 [roi-filtering-stream-0] roi-RF: expected an integer, got '6x3'" in (
        result.stderr
    )
