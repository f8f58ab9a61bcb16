"""Time as an injected dependency.

Every core module takes a `Clock` instead of calling `time` itself, so timeouts,
expiry and failure detection can be tested by advancing a `ManualClock` with no sleeps.
Times are integer milliseconds, like Redis: `monotonic_ms()` for intervals and
deadlines, `wall_ms()` for things that are shown to people or stored (expiry
timestamps are wall-clock, as in Redis).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_ms(self) -> int: ...
    def wall_ms(self) -> int: ...
    def wall_us(self) -> int: ...


class SystemClock:
    """The real clock."""

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wall_us(self) -> int:
        return time.time_ns() // 1_000


class ManualClock:
    """A clock that moves only when told to (for tests)."""

    def __init__(self, wall_ms: int = 1_700_000_000_000, monotonic_ms: int = 0) -> None:
        self._wall = wall_ms
        self._mono = monotonic_ms

    def monotonic_ms(self) -> int:
        return self._mono

    def wall_ms(self) -> int:
        return self._wall

    def wall_us(self) -> int:
        return self._wall * 1000

    def advance(self, ms: int) -> None:
        self._mono += ms
        self._wall += ms

    def jump_wall(self, ms: int) -> None:
        """Move only the wall clock (a clock jump); monotonic time is unaffected."""
        self._wall += ms
