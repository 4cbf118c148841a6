"""The step's request budget. The engine allows 120 requests a minute per IP (REST and MCP
together) and its 429 carries no Retry-After, so a step that gates many prompt files at once would
run into it and fail after its retries. Every request the step sends spends a token from a bucket
that holds `BURST` and refills `PER_SECOND`: no minute holds more than BURST + 60 * PER_SECOND
requests, and a step of a dozen requests never waits."""

from __future__ import annotations

from dataclasses import dataclass

from ckaction.clock import Clock, Sleep

BURST = 40
PER_SECOND = 1.0  # 40 + 60 = 100 requests a minute, under the engine's 120, with room for others


@dataclass
class RequestBudget:
    """A token bucket on an injected clock and sleep; `spend` is an httpx request hook."""

    clock: Clock
    sleep: Sleep
    tokens: float = BURST
    at: float | None = None

    def spend(self, _request: object = None) -> None:
        """Take one token, sleeping first until there is one."""
        now = self.clock()
        if self.at is not None:
            self.tokens = min(BURST, self.tokens + (now - self.at) * PER_SECOND)
        if self.tokens < 1:
            self.sleep((1 - self.tokens) / PER_SECOND)
            self.tokens, now = 1.0, self.clock()
        self.tokens -= 1
        self.at = now
