"""Config schema and loader: every error names its YAML path, the value and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from visionflow.config import check_files, default_yaml, load_config, parse_config
from visionflow.config.loader import yaml_path
from visionflow.errors import ConfigError

MINIMAL = """
sources: [{id: cam0, uri: data/vtest.mp4}]
model: {cfg: a.cfg, weights: a.weights, names: a.names}
"""


def _with(base: str, patch: str) -> str:
    data = yaml.safe_load(base)
    for key, value in yaml.safe_load(patch).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return yaml.safe_dump(data)


def test_default_yaml_is_valid_and_documents_every_option() -> None:
    config = parse_config(default_yaml())
    text = default_yaml()
    for section in ("model", "detector", "batching", "tracker", "analytics", "events", "output"):
        for key in type(getattr(config, section)).model_fields:
            assert f"{key}:" in text, f"{section}.{key} is not documented in default.yaml"


def test_minimal_config_takes_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.detector.confidence == 0.25
    assert config.model.input_size_wh == (416, 416)
    assert config.sources[0].loop is False


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            "detector: {confidense: 0.3}",
            "detector.confidense: unknown key; did you mean 'confidence'",
        ),
        (
            "detector: {confidence: 1.5}",
            "detector.confidence: Input should be less than or equal to 1",
        ),
        ("detector: {confidence: high}", "detector.confidence: Input should be a valid number"),
        ("batching: {max_batch_size: 0}", "batching.max_batch_size: Input should be greater than"),
        (
            "sources: [{id: a, uri: x}, {id: b, uri: 5}]",
            "sources[1].uri: Input should be a valid string",
        ),
        ("sources: [{id: a, uri: x}, {id: a, uri: y}]", "sources: source ids must be unique"),
        ("sources: []", "sources: List should have at least 1 item"),
        ("sources: [{id: 'bad id', uri: x}]", "sources[0].id: String should match pattern"),
        ("model: {kind: yolo}", "model.kind: Input should be 'darknet' or 'onnx'"),
        ("model: {input_size: 415}", "model.input_size"),
        ("model: {cfg: null}", "model: model.kind 'darknet' needs model.cfg"),
        ("device: tpu", "device: Input should be 'auto', 'cpu' or 'cuda'"),
        ("colour: red", "colour: unknown key"),
        ("tracker: {low_threshold: 0.9}", "tracker.low_threshold (0.9) must be <="),
        (
            "analytics: {lines: [{name: l, start: [0, 0], end: [0, 0]}]}",
            "analytics.lines[0]: line start and end are the same point",
        ),
        (
            "analytics: {zones: [{name: z, polygon: [[0, 0], [1, 1]]}]}",
            "analytics.zones[0].polygon: List should have at least 3 items",
        ),
        (
            "analytics: {lines: [{name: l, start: [0, 0], end: [1, 1], streams: [nope]}]}",
            "names unknown streams ['nope']",
        ),
    ],
)
def test_errors_name_the_yaml_path(patch: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with(MINIMAL, patch))
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_all_problems_are_reported_at_once() -> None:
    text = _with(MINIMAL, "detector: {confidence: 2, nms_iou: -1}")
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert len(info.value.problems) == 2
    assert "(got 2)" in info.value.problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: [a\nmodel: {", "invalid YAML at line"),
        ("- just\n- a list", "top level must be a mapping"),
        ("", "top level must be a mapping"),
    ],
)
def test_bad_yaml(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_check_files_names_each_missing_input(tmp_path: Path) -> None:
    config = parse_config(MINIMAL.replace("data/vtest.mp4", str(tmp_path / "v.mp4")))
    problems = check_files(config)
    assert problems == [
        "model.cfg: file not found (got 'a.cfg')",
        "model.weights: file not found (got 'a.weights')",
        "model.names: file not found (got 'a.names')",
        f"sources[0].uri: file not found (got '{tmp_path / 'v.mp4'}')",
    ]


def test_models_are_frozen() -> None:
    config = parse_config(MINIMAL)
    with pytest.raises(ValueError, match="frozen"):
        config.detector.confidence = 0.9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("sources", 1, "uri"), "sources[1].uri"),
        (("model", "input_size", "int"), "model.input_size"),
        ((), "(top level)"),
    ],
)
def test_yaml_path(loc: tuple[int | str, ...], expected: str) -> None:
    assert yaml_path(loc) == expected


@pytest.mark.parametrize(
    ("mode", "realtime", "streams", "threaded"),
    [
        ("auto", False, 1, False),  # a lone file: per packet, faster there
        ("auto", True, 1, True),  # a live stand-in
        ("auto", False, 2, True),  # several streams
        ("packet", True, 64, False),
        ("threaded", False, 1, True),
    ],
)
def test_nvdec_mode_auto_resolves_per_source(
    mode: str, realtime: bool, streams: int, threaded: bool
) -> None:
    cfg = parse_config(
        yaml.safe_dump(
            {
                "sources": [{"id": "cam", "uri": "file.mp4", "realtime": realtime}],
                "model": {"cfg": "m.cfg", "weights": "m.weights", "names": "m.names"},
                "runtime": {"nvdec_mode": mode},
            }
        )
    )
    assert cfg.runtime.nvdec_threaded(cfg.sources[0], streams) is threaded
