"""Reconnect delays: capped exponential backoff with jitter.

Attempt ``k`` (0-based) has the base delay ``min(max_s, initial_s * multiplier**k)``;
jitter spreads reconnects of many cameras that dropped together
(AWS architecture blog, "Exponential Backoff And Jitter"):

- ``full``:  uniform in ``[0, base]``
- ``equal``: uniform in ``[base / 2, base]`` (never shorter than half the base)
- ``none``:  exactly ``base``
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Jitter = Literal["full", "equal", "none"]


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a live source retries after losing its stream.

    Attributes:
        initial_s: base delay before the first retry, seconds.
        max_s: cap on the base delay, seconds.
        multiplier: growth factor of the base delay per failed attempt.
        jitter: ``full``, ``equal`` or ``none`` (see the module docstring).
        max_attempts: failed attempts in a row before the stream is FAILED;
            None retries forever.
    """

    initial_s: float = 0.5
    max_s: float = 10.0
    multiplier: float = 2.0
    jitter: Jitter = "equal"
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError(
                f"reconnect delays need 0 <= initial_s <= max_s, got initial_s={self.initial_s}, "
                f"max_s={self.max_s}"
            )
        if self.multiplier < 1.0:
            raise ValueError(f"reconnect.multiplier must be >= 1.0, got {self.multiplier}")
        if self.jitter not in ("full", "equal", "none"):
            raise ValueError(
                f"reconnect.jitter must be one of 'full', 'equal', 'none', got {self.jitter!r}"
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(
                f"reconnect.max_attempts must be >= 1 or None (forever), got {self.max_attempts}"
            )

    def base_delay_s(self, attempt: int) -> float:
        """The un-jittered delay before retry number ``attempt`` (0-based), capped."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        # min() before the power would overflow: stop growing once past the cap
        exponent = min(attempt, 1024)
        try:
            base = self.initial_s * self.multiplier**exponent
        except OverflowError:
            base = self.max_s
        return min(self.max_s, base)

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The jittered delay before retry number ``attempt`` (0-based)."""
        base = self.base_delay_s(attempt)
        if self.jitter == "full":
            return rng.uniform(0.0, base)
        if self.jitter == "equal":
            return rng.uniform(base / 2.0, base)
        return base

    def gives_up_after(self, failed_attempts: int) -> bool:
        """True when ``failed_attempts`` in a row exhaust :attr:`max_attempts`."""
        return self.max_attempts is not None and failed_attempts >= self.max_attempts
