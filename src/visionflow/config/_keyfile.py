"""A reader for GLib key files, the format of DeepStream's ``config_*.txt``.

Only what DeepStream's config parsers rely on: ``[group]`` headers,
``key=value`` lines, whole-line ``#`` comments, ``;``-separated lists (a
trailing ``;`` is allowed) and GLib's integer and boolean spellings. Every
entry keeps its line number so errors and generated comments can point at it.

GLib has no inline comments: ``class-id=-1  # all`` is the value
``-1  # all``. GLib's integer parser happens to stop at the space, so
DeepStream accepts such lines; this reader strips the comment the same way
and reports it, so the user learns their file relies on an accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from visionflow.errors import ConfigError

_GROUP = re.compile(r"^\[([^\[\]]+)\]\s*$")
_INLINE_COMMENT = re.compile(r"\s+#.*$")
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``key=value`` line.

    Attributes:
        group: the group (section) name, without brackets.
        key: the key, whitespace-trimmed.
        value: the value, whitespace-trimmed, inline comment removed.
        line: 1-based line number in the file.
    """

    group: str
    key: str
    value: str
    line: int

    def where(self) -> str:
        """``line 12 [group] key`` for error messages and comments."""
        return f"line {self.line} [{self.group}] {self.key}"


@dataclass
class KeyFile:
    """Groups in file order, each an ordered ``key → Entry`` map.

    Attributes:
        source: the file name used in messages.
        groups: group name → key → entry (a repeated group is merged into the
            first, as GLib does; a repeated key keeps the last value).
        notes: one line per oddity that GLib tolerates (inline comments,
            repeated keys), for the caller to report.
    """

    source: str
    groups: dict[str, dict[str, Entry]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def error(self, entry: Entry | None, message: str) -> ConfigError:
        """A :class:`ConfigError` naming the file, line, group and key of ``entry``."""
        where = f"{self.source}: {entry.where()}: " if entry else f"{self.source}: "
        return ConfigError(where + message)


def read_keyfile(text: str, source: str = "<string>") -> KeyFile:
    """Parse key-file ``text``.

    Raises:
        ConfigError: a line is neither a comment, a group header nor
            ``key=value``, or a key appears before the first group.
    """
    keyfile = KeyFile(source)
    group: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _GROUP.match(line)
        if header:
            group = header.group(1).strip()
            keyfile.groups.setdefault(group, {})
            continue
        if "=" not in line:
            raise ConfigError(
                f"{source}: line {number}: expected '[group]' or 'key=value', got {line!r}"
            )
        if group is None:
            raise ConfigError(f"{source}: line {number}: key {line!r} before the first [group]")
        _add(keyfile, group, number, line)
    return keyfile


def read_yaml_keyfile(text: str, source: str = "<string>") -> KeyFile:
    """Parse the YAML form of a key file: ``group: {key: value}`` (DeepStream 7+ ``.yml``).

    Scalars become their text (``1`` → ``"1"``, ``true`` → ``"true"``), a list
    of scalars a ``;``-separated list; line numbers come from the YAML nodes.

    Raises:
        ConfigError: not YAML, or not a mapping of mappings of scalars.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}".replace("\n", " ")) from exc
    keyfile = KeyFile(source)
    if root is None:
        return keyfile
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{source}: expected a mapping of groups at the top level")
    for group_node, body in root.value:
        group = str(group_node.value)
        line = group_node.start_mark.line + 1
        if not isinstance(body, yaml.MappingNode):
            raise ConfigError(f"{source}: line {line}: group {group!r} must be a mapping of keys")
        entries = keyfile.groups.setdefault(group, {})
        for key_node, value_node in body.value:
            entry = Entry(group, str(key_node.value), "", key_node.start_mark.line + 1)
            value = _yaml_text(keyfile, entry, value_node)
            entries[entry.key] = Entry(group, entry.key, value, entry.line)
    return keyfile


def _yaml_text(keyfile: KeyFile, entry: Entry, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value).strip()
    if isinstance(node, yaml.SequenceNode) and all(
        isinstance(item, yaml.ScalarNode) for item in node.value
    ):
        return ";".join(str(item.value).strip() for item in node.value)
    raise keyfile.error(entry, "expected a value or a list of values, got a mapping")


def _add(keyfile: KeyFile, group: str, number: int, line: str) -> None:
    key, _, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not key:
        raise ConfigError(f"{keyfile.source}: line {number}: empty key in {line!r}")
    stripped = _INLINE_COMMENT.sub("", value)
    if stripped != value:
        keyfile.notes.append(
            f"line {number} [{group}] {key}: inline comment ignored; GLib has none "
            f"(DeepStream reads the whole rest of the line as the value)"
        )
    entries = keyfile.groups[group]
    if key in entries:
        keyfile.notes.append(
            f"line {number} [{group}] {key}: repeats line {entries[key].line}; "
            "the last value wins, as in GLib"
        )
    entries[key] = Entry(group, key, stripped, number)


def as_int(keyfile: KeyFile, entry: Entry, *, minimum: int | None = None) -> int:
    """The entry's value as one integer (GLib: decimal, optional sign).

    Raises:
        ConfigError: not an integer, or below ``minimum``.
    """
    return _int(keyfile, entry, entry.value, minimum)


def as_int_list(keyfile: KeyFile, entry: Entry, *, minimum: int | None = None) -> list[int]:
    """The entry's value as a ``;``-separated integer list (trailing ``;`` allowed).

    Raises:
        ConfigError: empty, an empty item (``1;;2``), or an item that is not
            an integer or is below ``minimum``.
    """
    text = entry.value[:-1] if entry.value.endswith(";") else entry.value
    if not text.strip():
        raise keyfile.error(entry, "expected a ';'-separated list of integers, got nothing")
    return [_int(keyfile, entry, item, minimum) for item in text.split(";")]


def as_bool(keyfile: KeyFile, entry: Entry) -> bool:
    """The entry's value as a boolean: ``1``/``true`` or ``0``/``false``.

    Raises:
        ConfigError: any other value.
    """
    value = entry.value.lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise keyfile.error(entry, f"expected a boolean 0, 1, true or false, got {entry.value!r}")


def _int(keyfile: KeyFile, entry: Entry, item: str, minimum: int | None) -> int:
    text = item.strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        got = f"{text!r} in {entry.value!r}" if text != entry.value else repr(text)
        raise keyfile.error(entry, f"expected an integer, got {got}")
    value = int(text)
    if minimum is not None and value < minimum:
        raise keyfile.error(entry, f"must be >= {minimum}, got {value}")
    return value
