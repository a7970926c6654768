"""Lifecycle states shared by every video source."""

from __future__ import annotations

import enum


class SourceState(enum.Enum):
    """Where a source is in its lifecycle: ``NEW → OPEN → CLOSED`` (one way).

    A closed source cannot be reopened; create a new one instead.
    """

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"
