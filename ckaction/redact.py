"""Keep secrets out of everything we write: logs, summaries, comments, reports and errors."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "***"
# Short values would redact ordinary words; the runner's own masking skips them for the same reason.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces every registered secret in a text with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)
