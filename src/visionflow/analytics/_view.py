"""A per-stream analytic as a view of one unit of a bank.

``LineCounter``, ``ZoneCounter`` and ``DirectionDetector`` hold no state of
their own: a standalone one is unit 0 of a private one-unit bank on stream 0,
and a bank's ``add`` *adopts* it, after which it reads and resets that bank's
unit and only the bank advances it. This mixin is that protocol, once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt


class UnitView:
    """Mixin: ``_bank``/``_unit`` of the unit this object shows, and its adoption.

    Subclasses set :attr:`bank_kind`, have a ``name``, and say what state
    they hold in :meth:`_state_note`.
    """

    bank_kind: ClassVar[str] = "bank"
    name: str
    _bank: Any
    _unit: int
    _adopted: bool = False

    @property
    def unit(self) -> int:
        """The index of the unit this object shows in its bank (changes when it compacts)."""
        return self._unit

    def _own_bank(self) -> None:
        """Become unit 0 of a fresh private bank on stream 0 (standalone, no state)."""
        raise NotImplementedError

    def _detach(self) -> None:
        """Its bank forgot the unit (stream removed): become a fresh standalone object."""
        self._own_bank()
        self._adopted = False

    def _owner(self) -> str:
        """``LineCounter 'gate'``: how errors name this object."""
        return f"{type(self).__name__} {self.name!r}"

    def _state_note(self) -> str | None:
        """What state this object holds (``None``: none, a bank may adopt it)."""
        raise NotImplementedError

    def _require_standalone(self) -> None:
        """Raise ``RuntimeError`` when a bank owns this object (only it may advance it)."""
        if self._adopted:
            raise RuntimeError(
                f"{self._owner()} belongs to a {self.bank_kind}; hint: update the bank "
                f"({self.bank_kind}.update) with the round of all its streams"
            )

    def _check_adoptable(self) -> None:
        """Raise ``ValueError`` unless a bank may adopt this object now."""
        if self._adopted:
            raise ValueError(
                f"{self._owner()} already belongs to a {self.bank_kind}; build one per bank"
            )
        note = self._state_note()
        if note is not None:
            raise ValueError(
                f"{self._owner()} has state ({note}); hint: add a fresh one to a "
                f"{self.bank_kind}, or reset() it first"
            )

    def _attach(self, bank: Any, unit: int) -> None:
        """From now on, be a view of ``unit`` of ``bank``."""
        self._bank, self._unit, self._adopted = bank, unit, True


class Views:
    """The objects showing the units of a shared bank, re-pointed when units change."""

    def __init__(self) -> None:
        self._of: dict[int, UnitView] = {}

    def add(self, unit: int, view: UnitView) -> None:
        """``view`` shows ``unit``."""
        self._of[unit] = view

    def drop(self, units: npt.NDArray[np.intp]) -> None:
        """The bank forgot ``units``: their objects become fresh standalone ones."""
        for unit in units.tolist():
            view = self._of.pop(unit, None)
            if view is not None:
                view._detach()

    def renumber(self, kept: npt.NDArray[np.intp]) -> None:
        """Units were compacted: the unit at old index ``kept[i]`` is now unit ``i``."""
        views = {}
        for new, old in enumerate(kept.tolist()):
            view = self._of.get(old)
            if view is not None:
                view._unit = new
                views[new] = view
        self._of = views


def check_stream_index(stream: object) -> None:
    """Raise ``ValueError`` unless ``stream`` is a stream index (an ``int >= 0``)."""
    if isinstance(stream, bool) or not isinstance(stream, int) or stream < 0:
        raise ValueError(f"stream must be an int >= 0 (a stream index), got {stream!r}")
