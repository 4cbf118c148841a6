"""Faults, rate limit, auth and the request log: the hooks the request pipeline calls."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from ckaction.emulator.faults import Fault, RequestRecord
from ckaction.emulator.records import ApiError
from ckaction.emulator.store import RateWindow, Store


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
        """The engine's `rate_limit to: 120, within: 1.minute` (completion-kit
        `app/controllers/completion_kit/api/v1/base_controller.rb` @39485c41, the limit from
        `lib/completion_kit.rb` `api_rate_limit`): Rails' `rate_limiting` increments a cache counter
        keyed by controller path and IP that expires `within` after its first hit, then refuses
        while the count exceeds the limit. So the window is fixed (it starts at the first request,
        it does not roll), every request counts, refused ones too, and the limiter runs before
        authentication, so a 401 counts as well."""
        with self.lock:
            if self.rate_limit is None:
                return True
            now = self.clock()
            key = f"{controller} {client}"
            window = self._windows.get(key)
            if window is None or now >= window.started + self.rate_window:
                window = self._windows[key] = RateWindow(started=now)
            window.count += 1
            return window.count <= self.rate_limit

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

    def land_later(self, at: float, write: Callable[[], object]) -> None:
        """Process `write` once the emulator clock reaches `at` (`Fault.lands_after`)."""
        with self.lock:
            self.late_writes.append((at, write))

    def land_due(self) -> None:
        """Process the late writes whose time has come, in the order they were sent."""
        with self.lock:
            now = self.clock()
            due = [write for at, write in self.late_writes if at <= now]
            self.late_writes = [(at, write) for at, write in self.late_writes if at > now]
            for write in due:
                write()

    def record(self, request: RequestRecord) -> None:
        with self.lock:
            self.requests.append(request)
