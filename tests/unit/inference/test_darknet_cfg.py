"""Darknet cfg parsing, the YOLOv3-tiny mask fix, and missing-file errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from visionflow.errors import ModelFormatError, ModelNotFoundError
from visionflow.inference import (
    Detector,
    export_darknet_onnx,
    fix_yolov3_tiny_mask,
    load_cfg,
    load_class_names,
    parse_cfg,
    read_weights,
)
from visionflow.inference.backends.onnxruntime import OnnxRuntimeBackend


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[net]\nwidth=416\n", [("net", {"width": "416"})]),
        ("# comment\n[net]\n; other comment\n  width = 4 16 \n", [("net", {"width": "416"})]),
        ("[net]\n\n\n[conv]\na=1\n#a=2\n", [("net", {}), ("conv", {"a": "1"})]),
        (
            "[net]\n[route]\nlayers = -1, 8\n[route]\nlayers=-4\n",
            [("net", {}), ("route", {"layers": "-1,8"}), ("route", {"layers": "-4"})],
        ),
        (
            "[net]\r\nheight=32\r\n\tchannels\t=\t3\r\n",
            [("net", {"height": "32", "channels": "3"})],
        ),
        ("[net]\nmask=0,1,2\nmask=1,2,3\n", [("net", {"mask": "1,2,3"})]),
    ],
    ids=[
        "plain",
        "comments-whitespace",
        "blank-lines",
        "repeated-sections",
        "crlf-tabs",
        "last-wins",
    ],
)
def test_parse_cfg(text: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    sections = parse_cfg(text)
    assert [(s.kind, s.options) for s in sections] == expected


def test_parse_cfg_keeps_line_numbers_and_typed_getters() -> None:
    sections = parse_cfg("[net]\n\n[yolo]\nmask = 3,4,5\nignore_thresh=.7\n")
    yolo = sections[1]
    assert yolo.line == 3
    assert yolo.get_ints("mask") == [3, 4, 5]
    assert yolo.get_float("ignore_thresh", 0.0) == pytest.approx(0.7)
    assert yolo.get_int("classes", 80) == 80


@pytest.mark.parametrize(
    "text",
    ["width=416\n[net]\n", "[net]\nthis line has no equals\n"],
    ids=["option-before-section", "no-equals"],
)
def test_parse_cfg_rejects_bad_lines(text: str) -> None:
    with pytest.raises(ModelFormatError, match="line"):
        parse_cfg(text)


_TWO_HEADS = """[net]
[yolo]
mask = 3,4,5
anchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319
[route]
layers=-1
[yolo]
mask = {second}
anchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319
"""
_THREE_HEADS = """[net]
[yolo]
mask=6,7,8
anchors=1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9
[yolo]
mask=3,4,5
anchors=1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9
[yolo]
mask=0,1,2
anchors=1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9
"""


@pytest.mark.parametrize(
    ("text", "applied", "second_mask"),
    [
        (_TWO_HEADS.format(second="0,1,2"), True, "1,2,3"),
        (_TWO_HEADS.format(second="1,2,3"), False, "1,2,3"),
        (_TWO_HEADS.format(second="0, 1, 2"), True, "1,2,3"),
        (_THREE_HEADS, False, "3,4,5"),
    ],
    ids=["tiny-buggy", "tiny-already-fixed", "tiny-spaces", "yolov3-three-heads"],
)
def test_fix_yolov3_tiny_mask(text: str, applied: bool, second_mask: str) -> None:
    sections = parse_cfg(text)
    fixed, was_applied = fix_yolov3_tiny_mask(sections)
    assert was_applied is applied
    assert [s for s in fixed if s.kind == "yolo"][1].options["mask"] == second_mask
    assert [(s.kind, s.options) for s in sections] == [(s.kind, s.options) for s in parse_cfg(text)]


@pytest.mark.parametrize(("flag", "expected_mask"), [(True, [1, 2, 3]), (False, [0, 1, 2])])
def test_load_cfg_real_tiny_mask_fix_flag(
    real_files: tuple[Path, Path, Path],
    caplog: pytest.LogCaptureFixture,
    flag: bool,
    expected_mask: list[int],
) -> None:
    with caplog.at_level(logging.INFO, logger="visionflow.inference.darknet"):
        sections = load_cfg(real_files[0], fix_tiny_mask=flag)
    heads = [s for s in sections if s.kind == "yolo"]
    assert [h.get_ints("mask") for h in heads] == [[3, 4, 5], expected_mask]
    assert ("YOLOv3-tiny cfg fix" in caplog.text) is flag


def test_load_cfg_requires_net_first(tmp_path: Path) -> None:
    path = tmp_path / "bad.cfg"
    path.write_text("[convolutional]\nfilters=1\n")
    with pytest.raises(ModelFormatError, match=r"\[net\]"):
        load_cfg(path)


def test_unknown_section_names_index_and_type(tmp_path: Path) -> None:
    cfg = tmp_path / "odd.cfg"
    cfg.write_text(
        "[net]\nwidth=32\nheight=32\n[maxpool]\nsize=2\nstride=2\n[dropout]\nprobability=.5\n"
    )
    weights = tmp_path / "odd.weights"
    weights.write_bytes(b"\0" * 20)
    with pytest.raises(ModelFormatError, match=r"layer 1 \(\[dropout\] at line 7\)"):
        export_darknet_onnx(cfg, weights, (32, 32), tmp_path / "cache")


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "does-not-exist"


@pytest.mark.parametrize(
    "call",
    [
        lambda p, real: load_cfg(p),
        lambda p, real: read_weights(p),
        lambda p, real: load_class_names(p),
        lambda p, real: OnnxRuntimeBackend(p),
        lambda p, real: export_darknet_onnx(p, real[1], (416, 416), p.parent / "c"),
        lambda p, real: export_darknet_onnx(real[0], p, (416, 416), p.parent / "c"),
        lambda p, real: Detector.from_darknet(real[0], real[1], p, cache_dir=p.parent / "c"),
        lambda p, real: Detector.from_onnx(p, ["person"]),
    ],
    ids=[
        "cfg",
        "weights",
        "names",
        "onnx",
        "export-cfg",
        "export-weights",
        "detector-names",
        "from-onnx",
    ],
)
def test_missing_files_raise_model_not_found(
    tmp_path: Path, real_files: tuple[Path, Path, Path], call: object
) -> None:
    path = _missing(tmp_path)
    with pytest.raises(ModelNotFoundError, match="does-not-exist") as info:
        call(path, real_files)  # type: ignore[operator]
    assert isinstance(info.value, FileNotFoundError)
