"""Time as the gate sees it: an injected clock, an injected sleep, and the step's deadline.

`cli.App` builds the real ones (`time.monotonic`, `time.sleep`); tests pass one fake clock to the
gate, the API client and the emulator, so a whole gate runs in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], float]
Sleep = Callable[[float], None]
WallClock = Callable[[], datetime]
"""The time of day in UTC, to compare with the `created_at` the API stamps on what it creates."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deadline:
    """The moment the step's `timeout-minutes` runs out, on `clock`."""

    at: float
    clock: Clock

    @classmethod
    def after(cls, seconds: float, clock: Clock) -> Deadline:
        return cls(clock() + seconds, clock)

    def left(self) -> float:
        """Seconds until the deadline; 0 once it has passed."""
        return max(0.0, self.at - self.clock())

    @property
    def passed(self) -> bool:
        return self.clock() >= self.at
