"""DeepStream nvdsanalytics config → visionflow analytics, on the documented config shapes.

Expected structures are written out from the fixture text by hand: DeepStream
coordinates are ``x;y`` pairs in the config frame; a line-crossing key is the
direction (2 points) then the line (2 points); the line is oriented so that
moving along the direction reaches its right-hand ("in") side, i.e. the 2-D
cross product ``line_d x direction`` is positive; an omitted ``time-threshold``
is DeepStream's 2000 ms and ``class-id=-1`` means every class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from visionflow.config import validate_mapping
from visionflow.config.nvdsanalytics import load_nvdsanalytics, parse_nvdsanalytics
from visionflow.config.nvdsimport import _clip_to_frame, convert
from visionflow.errors import ConfigError

DATA = Path(__file__).parent / "nvds_fixtures"
SAMPLE_APP = DATA / "nvdsanalytics_sample_app.txt"
PLUGIN_MANUAL = DATA / "nvdsanalytics_plugin_manual.txt"
PLUGIN_MANUAL_YAML = DATA / "nvdsanalytics_plugin_manual.yml"
ENTRY_EXIT = DATA / "nvdsanalytics_entry_exit.txt"
OCCUPANCY = DATA / "nvdsanalytics_occupancy.txt"
POLY = [[295, 643], [579, 634], [642, 913], [56, 828]]  # roi-RF / roi-OC of the sample app

# The manual's line 851;773 → 1203;732 has no 'extended' key (DeepStream: infinite), so it
# becomes the chord of the 1920x1080 frame: y = 773 - 41/352 (x - 851) at x = 0 and x = 1920.
CHORD_Y0 = round(773 + 41 * 851 / 352, 3)
CHORD_Y1920 = round(773 - 41 * (1920 - 851) / 352, 3)

EXPECTED: dict[str, tuple[Path, dict[str, Any], dict[str, Any]]] = {
    "sample_app": (
        SAMPLE_APP,
        {},
        {
            "lines": [
                {
                    "name": "Exit",
                    # direction (295, 228); line_d (352, -41); 352*228 + 41*295 > 0: as drawn
                    "start": [851, 773],
                    "end": [1203, 732],
                    "direction": [295, 228],
                    "mode": "loose",
                    "classes": [0],
                    "streams": ["stream-0", "stream-1"],  # two identical groups, merged
                },
            ],
            "zones": [
                {
                    "name": "OC",
                    "polygon": POLY,
                    "overcrowding": {"threshold": 2, "min_duration_s": 2.0},
                    "streams": ["stream-1"],
                },
            ],
            "roi": [
                {"name": "RF", "polygon": POLY, "inverse": False, "streams": ["stream-0"]},
                {
                    "name": "RF",
                    "polygon": POLY,
                    "inverse": True,
                    "classes": [0],
                    "streams": ["stream-2"],
                },
            ],
            "directions": [
                {
                    "name": "direction-detection",
                    "directions": {
                        "South": [[284, 840], [360, 662]],
                        "North": [[1106, 622], [1312, 701]],
                    },
                    "mode": "balanced",
                    "classes": [0],
                    "streams": ["stream-0", "stream-1"],
                },
            ],
        },
    ),
    "plugin_manual": (
        PLUGIN_MANUAL,
        {"streams": ["door", "hall"]},
        {
            "lines": [
                {
                    "name": "Exit",
                    "start": [0, CHORD_Y0],
                    "end": [1920, CHORD_Y1920],
                    "direction": [295, 228],
                    "mode": "loose",
                    "classes": [0],
                    "streams": ["door"],
                },
            ],
            "zones": [
                {
                    "name": "OC",
                    "polygon": [[282, 347], [987, 843], [282, 843]],
                    "overcrowding": {"threshold": 3, "min_duration_s": 2.0},
                    "streams": ["hall"],
                },
            ],
            "roi": [
                {
                    "name": "RF",
                    "polygon": [[256, 639], [675, 83], [876, 224], [926, 482], [866, 741]],
                    "inverse": False,
                    "streams": ["door"],
                },
            ],
            "directions": [
                {
                    "name": "direction-detection",
                    "directions": {"South": [[284, 840], [360, 662]]},
                    "mode": "balanced",
                    "classes": [0],
                    "streams": ["door"],
                },
            ],
        },
    ),
    "entry_exit_half_size": (
        ENTRY_EXIT,
        {"streams": ["lobby"], "frame_size_wh": (640, 360)},  # 1280x720 → x0.5
        {
            "lines": [
                {
                    # direction (0, +120) = down; a line drawn left → right counts down as in
                    "name": "Entry",
                    "start": [200, 180],
                    "end": [440, 180],
                    "direction": [0, 60],
                    "mode": "strict",
                    "classes": [0, 2],
                    "streams": ["lobby"],
                },
                {
                    # direction up: the line is reversed (drawn right → left counts up as in)
                    "name": "Exit",
                    "start": [440, 180],
                    "end": [200, 180],
                    "direction": [0, -60],
                    "mode": "strict",
                    "classes": [0, 2],
                    "streams": ["lobby"],
                },
            ],
            "zones": [
                {
                    "name": "Lobby",
                    "polygon": [[50, 50], [300, 50], [300, 250], [50, 250]],
                    "overcrowding": {"threshold": 10, "min_duration_s": 3.0},
                    "classes": [0],
                    "streams": ["lobby"],
                },
            ],
        },
    ),
}


# Occupancy app: both lines have slope -200/1050 = -4/21 (y(x) = y300 - 4/21 (x - 300)).
# Exit: direction (-50, -100), line_d (1050, -200): 1050*-100 - (-200*-50) < 0, so reversed;
# Entry: direction (50, 80): 1050*80 + 200*50 > 0, as drawn. Stream 1 is extended=1: the
# chords of the 1920x1080 frame at x = 0 and x = 1920 (y stays inside [0, 1080]).
_EXIT_Y = (round(1000 + 4 / 21 * 300, 3), round(1000 - 4 / 21 * 1620, 3))
_ENTRY_Y = (round(850 + 4 / 21 * 300, 3), round(850 - 4 / 21 * 1620, 3))
_OCC = {"mode": "balanced", "classes": [0]}
EXPECTED["occupancy_app"] = (
    OCCUPANCY,
    {},
    {
        "lines": [
            {"name": "Exit", "start": [1350, 800], "end": [300, 1000], "direction": [-50, -100]}
            | _OCC
            | {"streams": ["stream-0"]},
            {"name": "Entry", "start": [300, 850], "end": [1350, 650], "direction": [50, 80]}
            | _OCC
            | {"streams": ["stream-0"]},
            {
                "name": "Exit",
                "start": [1920, _EXIT_Y[1]],
                "end": [0, _EXIT_Y[0]],
                "direction": [-50, -100],
            }
            | _OCC
            | {"streams": ["stream-1"]},
            {
                "name": "Entry",
                "start": [0, _ENTRY_Y[0]],
                "end": [1920, _ENTRY_Y[1]],
                "direction": [50, 80],
            }
            | _OCC
            | {"streams": ["stream-1"]},
        ],
    },
)
# the YAML form of the manual's sample must give exactly what its .txt form gives
EXPECTED["plugin_manual_yaml"] = (PLUGIN_MANUAL_YAML, *EXPECTED["plugin_manual"][1:])


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_documented_shapes_convert_to_exact_structures(case: str) -> None:
    path, options, expected = EXPECTED[case]
    result = convert(load_nvdsanalytics(path), **options)
    assert result.analytics == expected


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_yaml_round_trips_through_the_loader(case: str) -> None:
    path, options, expected = EXPECTED[case]
    text = convert(load_nvdsanalytics(path), **options).to_yaml()
    data = yaml.safe_load(text)
    assert data == {"analytics": expected}
    ids = sorted({s for items in expected.values() for item in items for s in item["streams"]})
    data["sources"] = [{"id": i, "uri": f"{i}.mp4"} for i in ids]
    data["model"] = {"kind": "onnx", "weights": "m.onnx", "names": "m.names"}
    config = validate_mapping(data).analytics
    assert [line.name for line in config.lines] == [e["name"] for e in expected["lines"]]
    assert len(config.roi) == len(expected.get("roi", []))
    for zone, want in zip(config.zones, expected.get("zones", []), strict=True):
        assert zone.overcrowding is not None
        assert zone.overcrowding.threshold == want["overcrowding"]["threshold"]
        assert zone.overcrowding.min_duration_s == want["overcrowding"]["min_duration_s"]
    for line, want in zip(config.lines, expected["lines"], strict=True):
        assert line.start == tuple(want["start"]) and line.direction == tuple(want["direction"])


def test_every_entry_is_commented_with_its_origin() -> None:
    text = convert(load_nvdsanalytics(SAMPLE_APP)).to_yaml()
    assert "# from line 41 [line-crossing-stream-0] line-crossing-Exit" in text
    assert "# from line 51 [line-crossing-stream-1] line-crossing-Exit" in text
    assert "# from line 20 [roi-filtering-stream-0] roi-RF" in text
    assert "# from line 32 [overcrowding-stream-1] roi-OC" in text


HEAD = "[property]\nenable=1\nconfig-width=1920\nconfig-height=1080\n"


def _rules(text: str) -> Any:
    return parse_nvdsanalytics(HEAD + text)


def test_glib_list_syntax_spaces_trailing_separator_and_booleans() -> None:
    parsed = _rules(
        "[roi-filtering-stream-3]\nenable = true\nroi-A = 10; 20 ;30;20; 30;40;\n"
        "inverse-roi=false\nclass-id=2;0;2\n"
    )
    (roi,) = parsed.rois
    assert (roi.stream, roi.label, roi.enabled, roi.inverse) == (3, "A", True, False)
    assert roi.polygon == ((10, 20), (30, 20), (30, 40))
    assert roi.class_ids == (2, 0)  # order kept, repeats dropped


@pytest.mark.parametrize(("class_id", "expected"), [("-1", None), ("0;-1", None), ("7", (7,))])
def test_class_id_minus_one_means_every_class(class_id: str, expected: Any) -> None:
    parsed = _rules(f"[roi-filtering-stream-0]\nenable=1\nroi-A=0;0;9;0;9;9\nclass-id={class_id}\n")
    assert parsed.rois[0].class_ids == expected


@pytest.mark.parametrize(
    ("group", "defaults"),
    [
        # DeepStream's parser defaults: line mode loose and extended on; direction mode
        # balanced; overcrowding 1 object for 2000 ms; a group without enable is off.
        (
            "[line-crossing-stream-0]\nenable=1\nline-crossing-L=0;0;0;9;5;5;9;5",
            {"mode": "loose", "extended": True, "extended_given": False},
        ),
        ("[direction-detection-stream-0]\nenable=1\ndirection-D=0;0;0;9", {"mode": "balanced"}),
        (
            "[overcrowding-stream-0]\nenable=1\nroi-O=0;0;9;0;9;9",
            {"object_threshold": 1, "time_threshold_ms": 2000},
        ),
        ("[roi-filtering-stream-0]\nroi-R=0;0;9;0;9;9", {"enabled": False, "inverse": False}),
    ],
)
def test_deepstream_defaults(group: str, defaults: dict[str, Any]) -> None:
    parsed = _rules(group)
    (rule,) = [*parsed.lines, *parsed.directions, *parsed.overcrowding, *parsed.rois]
    assert {k: getattr(rule, k) for k in defaults} == defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "enable\n", "line 5: expected '[group]' or 'key=value', got 'enable'"),
        (
            HEAD + "[roi-filtering-stream-0]\nenable=1\nroi-RF=295;abc;579;634;642;913\n",
            "line 7 [roi-filtering-stream-0] roi-RF: expected an integer, got 'abc'",
        ),
        (
            HEAD + "[roi-filtering-stream-0]\nroi-RF=295.5;643;579;634;642;913\n",
            "roi-RF: expected an integer, got '295.5'",
        ),
        (
            HEAD + "[roi-filtering-stream-0]\nroi-RF=1;;2;3;4;5\n",
            "line 6 [roi-filtering-stream-0] roi-RF: expected an integer, got ''",
        ),
        (
            HEAD + "[roi-filtering-stream-0]\nroi-RF=1;2;3;4;5;6;7\n",
            "roi-RF: 7 numbers; a polygon needs x;y pairs (an even count)",
        ),
        (  # the 2-point roi-OC of the plugin manual's sample
            HEAD + "[overcrowding-stream-1]\nroi-OC=282;347;987;843\n",
            "line 6 [overcrowding-stream-1] roi-OC: 2 point(s); a polygon needs at least 3",
        ),
        (
            HEAD + "[roi-filtering-stream-0]\nroi-RF=1;2;-3;4;5;6\n",
            "roi-RF: must be >= 0, got -3",
        ),
        (
            HEAD + "[line-crossing-stream-0]\nline-crossing-In=1;2;3;4\n",
            "line-crossing-In: 4 numbers; expected 8",
        ),
        (
            HEAD + "[line-crossing-stream-0]\nline-crossing-In=1;1;1;1;5;5;9;9\n",
            "line-crossing-In: the direction's two points are the same [1, 1]",
        ),
        (
            HEAD + "[direction-detection-stream-0]\ndirection-N=1;2;3\n",
            "direction-N: 3 numbers; expected 4",
        ),
        (HEAD + "[line-crossing-stream-0]\nenable=1\n", "no 'line-crossing-<label>' key"),
        (HEAD + "[roi-filtering-stream-a]\nroi-R=0;0;1;0;1;1\n", "stream index after"),
        (HEAD.replace("enable=1", "enable=yes"), "[property] enable: expected a boolean"),
        ("[roi-filtering-stream-0]\nroi-R=0;0;1;0;1;1\n", "no [property] group"),
        ("[property]\nenable=1\nconfig-height=1080\n", "[property] needs config-width"),
        ("[property]\nconfig-width=9\nconfig-height=9\n", "[property] needs enable"),
        ("enable=1\n[property]\n", "line 1: key 'enable=1' before the first [group]"),
        (HEAD.replace("1920", "0"), "config-width: must be >= 1, got 0"),
    ],
)
def test_malformed_files_give_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_nvdsanalytics(text, source="cfg.txt")
    assert message in str(info.value)
    assert str(info.value).startswith("cfg.txt: ")
    assert "\n" not in str(info.value)


LINE = "[line-crossing-stream-0]\nenable=1\nextended=0\nline-crossing-L=0;0;0;9;5;5;95;5\n"


@pytest.mark.parametrize(
    ("text", "options", "needle"),
    [
        ("", {}, "[property] osd-mode=2 (line 5): DeepStream on-screen display options"),
        (LINE + "object-min-width=40\n", {}, "object-min-width: unknown key; ignored"),
        (LINE + "[tiled-display]\nrows=1\n", {}, "[tiled-display]: not an nvdsanalytics group"),
        (LINE.replace("enable=1", "enable=0"), {}, "enable=0 (or no enable key); not imported"),
        (LINE.replace("extended=0", "extended=1"), {}, "extended=1 means an infinite line"),
        (LINE.replace("extended=0\n", ""), {}, "no 'extended' key (DeepStream: 1)"),
        (LINE + "mode=fast\n", {}, "unknown mode 'fast' (allowed: strict, balanced, loose)"),
        (LINE + "class-id=0  # people\n", {}, "inline comment ignored"),
        (LINE + "class-id=0\n", {}, "class-id values [0] are indices into the DeepStream"),
        (LINE + "extended=0\n", {}, "line 10 [line-crossing-stream-0] extended: repeats line 8"),
        (
            "[direction-detection-stream-0]\nenable=1\ndirection-N=1;2;3;4;5;6;7;8\n",
            {},
            "numbers 5-8 ignored; DeepStream reads only 4",
        ),
        (
            "[overcrowding-stream-0]\nenable=1\nroi-O=0;0;9;0;9;9\nobject-threshold=0\n",
            {},
            "object-threshold=0 would flag every frame; imported as 1",
        ),
        (LINE, {}, "coordinates kept in DeepStream's 1920x1080 config frame"),
    ],
)
def test_unmappable_things_warn(text: str, options: dict[str, Any], needle: str) -> None:
    config = parse_nvdsanalytics(HEAD + "osd-mode=2\n" + text)
    warnings = convert(config, **options).warnings
    assert any(needle in w for w in warnings), warnings


def test_disabled_rules_are_left_out_and_property_off_is_imported() -> None:
    off = (
        HEAD.replace("enable=1", "enable=0")
        + LINE
        + LINE.replace("stream-0", "stream-1").replace("enable=1", "enable=0")
    )
    result = convert(parse_nvdsanalytics(off))
    assert [line["streams"] for line in result.analytics["lines"]] == [["stream-0"]]
    assert any("the plugin is off in DeepStream" in w for w in result.warnings)


def test_unknown_mode_falls_back_to_deepstreams_default() -> None:
    assert _rules(LINE + "mode=fast\n").lines[0].mode == "loose"


def test_a_clean_file_with_a_frame_size_has_no_warnings() -> None:
    result = convert(_rules(LINE), frame_size_wh=(1920, 1080))
    assert result.warnings == []


@pytest.mark.parametrize(
    ("streams", "message"),
    [
        (["cam0"], "[roi-filtering-stream-2] is stream 2, but --streams names only 1: cam0"),
        (["cam 0", "b", "c"], "stream name 'cam 0' is not a valid source id"),
    ],
)
def test_stream_names_must_cover_every_index(streams: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        convert(load_nvdsanalytics(SAMPLE_APP), streams=streams)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("group", "message"),
    [
        # a bow-tie polygon is fine for DeepStream's ray casting, not for our schema
        (
            "[roi-filtering-stream-0]\nenable=1\nroi-X=0;0;9;9;9;0;0;9\n",
            "<string>: cannot convert: analytics.roi[0].polygon",
        ),
        # a direction along the line: DeepStream would silently never count
        (
            LINE.replace("0;0;0;9;5;5;95;5", "0;0;9;0;5;5;95;5"),
            "line 8 [line-crossing-stream-0] line-crossing-L: the direction [9, 0] is "
            "parallel to the line",
        ),
    ],
)
def test_rules_visionflow_cannot_take_are_clear_errors(group: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        convert(_rules(group))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("a", "b", "frame", "expected"),
    [
        ((100, 10), (100, 20), (200, 100), ((100, 0), (100, 100))),  # vertical
        ((10, 50), (20, 50), (200, 100), ((0, 50), (200, 50))),  # horizontal
        ((20, 50), (10, 50), (200, 100), ((200, 50), (0, 50))),  # orientation kept
        ((0, 0), (1, 1), (100, 100), ((0, 0), (100, 100))),  # through two corners
        ((10, 0), (0, 10), (100, 100), ((10, 0), (0, 10))),  # cuts a corner off
        ((50, 0), (60, 10), (100, 100), ((50, 0), (100, 50))),  # y = x - 50
    ],
)
def test_extended_lines_become_the_frame_chord(
    a: tuple[int, int], b: tuple[int, int], frame: tuple[int, int], expected: Any
) -> None:
    got = _clip_to_frame(a, b, frame)
    assert [c for p in got for c in p] == pytest.approx([c for p in expected for c in p])


def _walk(counter: Any, xs: list[float], ys: list[float], track_id: int) -> None:
    """Feed one track whose box bottom-centre (DeepStream's point) follows ``xs, ys``."""
    from visionflow.types import Detections

    for frame, (x, y) in enumerate(zip(xs, ys, strict=True)):
        box = [[x - 10, y - 80, x + 10, y]]
        counter.update(Detections(box, [0.9], [0], track_id=[track_id]), frame)


@pytest.mark.parametrize(
    ("ys", "counted_by"),
    [
        ([300.0, 330, 350, 370, 390, 410], "Entry"),  # moving down, DeepStream's Entry direction
        ([410.0, 390, 370, 350, 330, 300], "Exit"),  # moving up
    ],
)
def test_imported_lines_count_what_deepstream_counts(ys: list[float], counted_by: str) -> None:
    """Run the imported entry/exit lines on a track crossing y=360 at x=640 (real counters)."""
    from visionflow.analytics import LineCounter
    from visionflow.geometry import Line, Point

    analytics = convert(load_nvdsanalytics(ENTRY_EXIT), frame_size_wh=(1280, 720)).analytics
    counts = {}
    for spec in analytics["lines"]:
        counter = LineCounter(
            spec["name"],
            Line(Point(*spec["start"]), Point(*spec["end"])),
            direction=tuple(spec["direction"]),
            mode=spec["mode"],
        )
        _walk(counter, [640.0] * len(ys), ys, track_id=1)
        counts[spec["name"]] = counter.counts()
    other = "Exit" if counted_by == "Entry" else "Entry"
    assert counts[counted_by] == {"in": {0: 1}, "out": {}}  # the label's count is its 'in'
    assert counts[other] == {"in": {}, "out": {}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("property: [1, 2]\n", "line 1: group 'property' must be a mapping of keys"),
        ("- a\n- b\n", "expected a mapping of groups at the top level"),
        ("property: {enable: 1\n", "invalid YAML"),
        (
            "property:\n  enable: 1\n  config-width: {a: 1}\n",
            "line 3 [property] config-width: expected a value or a list of values",
        ),
    ],
)
def test_malformed_yaml_form(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_nvdsanalytics(text, source="cfg.yml", form="yaml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_lists_are_deepstream_lists() -> None:
    text = (
        "property: {enable: true, config-width: 100, config-height: 100}\n"
        "roi-filtering-stream-0:\n  enable: 1\n  roi-A: [0, 0, 50, 0, 50, 50]\n  class-id: [0, 2]\n"
    )
    (roi,) = parse_nvdsanalytics(text, form="yaml").rois
    assert (roi.polygon, roi.class_ids, roi.origin.line) == (((0, 0), (50, 0), (50, 50)), (0, 2), 4)


def test_windows_line_ends_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbf" + SAMPLE_APP.read_text().replace("\n", "\r\n").encode())
    assert convert(load_nvdsanalytics(path)).analytics == EXPECTED["sample_app"][2]


def test_disabled_groups_of_the_occupancy_app_are_each_reported() -> None:
    warnings = convert(load_nvdsanalytics(OCCUPANCY)).warnings
    disabled = [w for w in warnings if "enable=0 (or no enable key); not imported" in w]
    assert [w.split(":")[0] for w in disabled] == [
        "line 15 [roi-filtering-stream-0] roi-RF",
        "line 21 [roi-filtering-stream-1] roi-RF",
        "line 27 [overcrowding-stream-1] roi-OC",
        "line 51 [direction-detection-stream-0] direction-South",
        "line 52 [direction-detection-stream-0] direction-North",
    ]
    assert sum("extended=1 means an infinite line" in w for w in warnings) == 2
