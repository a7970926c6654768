"""Resolve class references from the config (names or indices) to class ids."""

from __future__ import annotations

from collections.abc import Sequence

from visionflow.errors import ConfigError


def resolve_classes(
    refs: Sequence[int | str] | None, class_names: Sequence[str], where: str
) -> frozenset[int] | None:
    """Map ``["person", 2]`` to ``frozenset({0, 2})``; ``None`` means every class.

    Args:
        refs: class names or indices from the config.
        class_names: the model's label set.
        where: YAML path of ``refs`` for error messages, e.g. ``detector.classes``.

    Raises:
        ConfigError: a name is not in ``class_names`` or an index is out of range.
    """
    if refs is None:
        return None
    index = {name: i for i, name in enumerate(class_names)}
    ids = set()
    for i, ref in enumerate(refs):
        ids.add(_resolve_one(ref, index, len(class_names), f"{where}[{i}]"))
    return frozenset(ids)


def _resolve_one(ref: int | str, index: dict[str, int], count: int, where: str) -> int:
    if isinstance(ref, int):
        if 0 <= ref < count:
            return ref
        raise ConfigError(f"{where}: class index {ref} is out of range 0..{count - 1}")
    if ref in index:
        return index[ref]
    sample = ", ".join(list(index)[:8])
    raise ConfigError(
        f"{where}: unknown class name {ref!r}; the model's classes are: {sample}, ... "
        "(see the names file)"
    )
