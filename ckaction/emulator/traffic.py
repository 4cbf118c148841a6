"""Faults, rate limit, auth and the request log: the hooks the request pipeline calls."""

from __future__ import annotations

import hmac
from collections import deque

from ckaction.emulator.faults import Fault, RequestRecord
from ckaction.emulator.records import ApiError
from ckaction.emulator.store import Store


class Traffic(Store):
    """What happens to a request before and after it reaches a resource: injected faults,
    the rate limit, bearer auth, the request log."""

    def authenticate(self, authorization: str | None) -> None:
        if not self.token:
            raise ApiError(401, "API token not configured")
        expected = f"Bearer {self.token}".encode()
        if not authorization or not hmac.compare_digest(authorization.encode(), expected):
            raise ApiError(401, "Unauthorized")

    def admit(self, client: str, controller: str = "") -> bool:
        """Rolling-window rate limit per controller and client, as the engine keys its
        `rate_limit to: 120, within: 1.minute` (shared/completionkit-api.md §15: by controller
        path and IP); a refused request does not spend budget."""
        with self.lock:
            if self.rate_limit is None:
                return True
            now = self.clock()
            hits = self._hits.setdefault(f"{controller} {client}", deque())
            while hits and hits[0] <= now - self.rate_window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                return False
            hits.append(now)
            return True

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            now = self.clock()
            for fault in self.faults:
                if fault.matches(method, path, now):
                    fault.times -= 1
                    fault.hits += 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def record(self, request: RequestRecord) -> None:
        with self.lock:
            self.requests.append(request)
