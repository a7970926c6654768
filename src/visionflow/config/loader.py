"""Load a YAML config file into a :class:`PipelineConfig`.

Every problem is reported with its YAML path (``sources[1].uri``), the bad
value and a hint, all at once, as a :class:`~visionflow.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from visionflow.config.publishers import PUBLISHER_TYPES
from visionflow.config.schema import PipelineConfig
from visionflow.errors import ConfigError
from visionflow.events.redact import MASK, mask_url

_MAX_VALUE_CHARS = 60
_SECRET_KEYS = ("password", "token", "secret")
_TAGGED_LISTS: dict[tuple[str, ...], dict[str, type[BaseModel]]] = {
    ("events", "publishers"): PUBLISHER_TYPES
}
"""Lists of discriminated unions: pydantic puts the tag (``redis``) in error locations."""


def load_config(path: str | Path) -> PipelineConfig:
    """Read, parse and validate a config file.

    Raises:
        ConfigError: the file is missing, is not YAML, or violates the schema.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<string>") -> PipelineConfig:
    """Parse YAML text and validate it (see :func:`load_config`)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from exc
    if not isinstance(data, Mapping):
        got = type(data).__name__
        raise ConfigError(f"{source}: the top level must be a mapping of options, got {got}")
    return validate_mapping(data, source=source)


def validate_mapping(data: Mapping[str, Any], *, source: str = "<config>") -> PipelineConfig:
    """Validate an already-parsed mapping against the schema."""
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        head = f"{source}: {len(problems)} problem(s) in the config"
        raise ConfigError(head + "\n  " + "\n  ".join(problems), problems) from exc


def check_files(config: PipelineConfig) -> list[str]:
    """Return one problem line per input file of ``config`` that does not exist."""
    problems = []
    model = config.model
    for key in ("cfg", "weights", "names"):
        value = getattr(model, key)
        if value is not None and not Path(value).is_file():
            problems.append(f"model.{key}: file not found (got {str(value)!r})")
    for i, src in enumerate(config.sources):
        if src.kind == "file" and not Path(src.uri.removeprefix("file://")).exists():
            problems.append(f"sources[{i}].uri: file not found (got {src.uri!r})")
    return problems


def yaml_path(loc: tuple[int | str, ...]) -> str:
    """Format a pydantic error location as a YAML path: ``sources[1].uri``."""
    out = ""
    for part in _untagged(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")) or part in {"int", "str", "tuple"}:
            continue  # pydantic's names for union members / validators, not YAML keys
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _untagged(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """``loc`` without the union tag after a tagged list's index."""
    for prefix, tags in _TAGGED_LISTS.items():
        n = len(prefix)
        if loc[:n] == prefix and len(loc) > n + 1 and loc[n + 1] in tags:
            return (*loc[: n + 1], *loc[n + 2 :])
    return loc


def _describe(err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    where = yaml_path(loc)
    value = _short(_redact(err.get("input")))
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key{_suggest(loc)}"
    if err["type"] == "missing":
        return f"{where}: required option is missing"
    return f"{where}: {msg} (got {value})"


def _suggest(loc: tuple[int | str, ...]) -> str:
    """Hint at the closest allowed key for an unknown key."""
    model: type[BaseModel] | None = PipelineConfig
    for i, part in enumerate(loc[:-1]):
        tags = _TAGGED_LISTS.get(tuple(str(p) for p in loc[: i - 1]), {}) if i >= 2 else {}
        if part in tags:
            model = tags[str(part)]
        elif model is not None and not isinstance(part, int):
            model = _field_model(model, part)
    if model is None:
        return ""
    allowed = sorted(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} allowed: {', '.join(allowed)}"


def _field_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    field = model.model_fields.get(name)
    if field is None:
        return None
    ann = field.annotation
    for candidate in (ann, *getattr(ann, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        for inner in getattr(candidate, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _redact(value: Any) -> Any:
    """``value`` with secrets hidden: password-like keys and URL userinfo passwords."""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, Mapping):
        return {
            k: MASK if any(s in str(k).lower() for s in _SECRET_KEYS) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
