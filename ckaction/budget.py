"""The step's request budget. The engine allows 120 requests a minute per controller and IP
(shared/completionkit-api.md §15) and its 429 carries no Retry-After, so a step that gates many
prompt files at once would run into it and fail after its retries. Every request the step sends
spends a token from its controller's bucket (`controllers.controller_of`), which holds `BURST` and
refills `PER_SECOND`: no minute holds more than BURST + 60 * PER_SECOND requests to one controller,
and a step of a dozen requests never waits."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from ckaction.clock import Clock, Sleep
from ckaction.controllers import controller_of

BURST = 40
PER_SECOND = 1.0  # 40 + 60 = 100 requests a minute, under the engine's 120, with room for others


@dataclass
class Bucket:
    """One controller's tokens, as of `at`."""

    tokens: float = BURST
    at: float | None = None


@dataclass
class RequestBudget:
    """Token buckets, one per controller, on an injected clock and sleep; `spend` is an httpx
    request hook. `root_path` is the API root's path (`/orgs/acme/api/v1`), cut from each URL."""

    clock: Clock
    sleep: Sleep
    root_path: str = ""
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def spend(self, request: httpx.Request | None = None) -> None:
        """Take one token of the request's controller, sleeping first until there is one."""
        path = request.url.path if request is not None else ""
        root = self.root_path.rstrip("/")
        if root and path.startswith(root):
            path = path[len(root) :]
        bucket = self.buckets.setdefault(controller_of(path), Bucket())
        now = self.clock()
        if bucket.at is not None:
            bucket.tokens = min(BURST, bucket.tokens + (now - bucket.at) * PER_SECOND)
        if bucket.tokens < 1:
            self.sleep((1 - bucket.tokens) / PER_SECOND)
            bucket.tokens, now = 1.0, self.clock()
        bucket.tokens -= 1
        bucket.at = now
