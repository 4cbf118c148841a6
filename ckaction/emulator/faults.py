"""Injected faults and the request log: the emulator's hooks for client-resilience tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Fault:
    """One scripted misbehaviour, matched against (method, path relative to the API root).

    * `status`: answer with this status instead of processing (body: `{"error": ...}` JSON, or the
      raw `body` string). `None` means "no status override" (useful with `delay` alone).
    * `after_processing`: process the request normally (state changes happen) and only then answer
      with the fault, so a client cannot tell whether its write landed.
    * `delay`: wait this many seconds (the emulator's `sleep`, real by default) before answering
      (read-timeout tests). Any processing happens first, so with `status=None` a write lands and
      only its answer is late. In process (`EmulatorTransport`) a delay of at least the request's
      read timeout raises `httpx.ReadTimeout` instead of waiting.
    * `malformed`: answer 200 with a body that is not valid JSON.
    * `content_type`: the Content-Type of a raw `body` (default text/html).
    * `echo`: a request header (lower-case) whose value the answer echoes back, as careless servers
      do, in its JSON `details`: as sent (so JSON-escaped on the wire), `repr`-escaped, URL-encoded
      and base64-encoded (secret-redaction tests).
    * `tamper`: process the request and rewrite its JSON answer with the named rewrite of
      `compare.TAMPERINGS` (a compare answer whose delta, runs, rows or kinds were tampered with);
      use it with `status=None`.
    * `lands_after`: answer `status` at once without processing, and process the request this many
      seconds later on the emulator clock (when the first request at or after that time arrives):
      a write still being processed when its gateway gave up (a 504 that lands late).
    * `headers`: extra headers on the fault's answer (a `Retry-After` the engine never sends).
    * `drip`: over real HTTP, send the answer's body one byte at a time, this many seconds apart
      (a server that never stops answering: per-read timeouts never fire).
    * `during`: (from, until) on the emulator's clock: the fault matches only in that window (with a
      large `times`, an outage: every matching request in it is answered with the fault).
    * `times`: how many matching requests the fault applies to before it is used up.
    * `method`: HTTP method, or None / "*" for any.

    `hits` counts the requests the fault was applied to, so a test can check it fired.
    """

    method: str | None = "POST"
    path: str = r"/runs$"
    status: int | None = 503
    body: str | None = None
    delay: float = 0.0
    times: int = 1
    after_processing: bool = False
    malformed: bool = False
    content_type: str | None = None
    echo: str | None = None
    tamper: str | None = None
    lands_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0
    during: tuple[float, float] | None = None
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str, now: float) -> bool:
        if self.times <= 0:
            return False
        if self.during is not None and not self.during[0] <= now < self.during[1]:
            return False
        if self.method not in (None, "*") and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the emulator received and how it answered."""

    method: str
    path: str  # relative to the API root (e.g. "/runs/3/generate"); the full path if outside it
    query: dict[str, list[str]]
    time: float  # the emulator clock when the request arrived
    status: int
    full_path: str = ""
    body: object = None  # the parsed JSON body, the raw text if not JSON, or None
    client: str = ""
    fault: Fault | None = None
