"""Keep secrets out of everything we write: logs, summaries, comments, reports and errors.

A server, a judge or a library may hand a secret back in another spelling, so each secret is
registered in every form it can take on its way to us or through our own writers (`forms`): raw,
JSON-escaped (`json.dumps`, ASCII-only or not), `repr`-escaped, URL-encoded (`quote`,
`quote_plus`), base64 and URL-safe base64 (at each of the three byte offsets the secret can start
at inside a longer encoded value), and escaped for Markdown by `ckaction.markdown`, which may also
put zero-width break opportunities into it.

Redact text before cutting it (a cut must never leave a secret's first characters) and before
serialising it (`tree`): once escaped, a secret is a different string.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

from ckaction.markdown import ZWSP, md_escaped

REDACTED = "***"
# Shorter values cannot be redacted without redacting ordinary words; `inputs` refuses such tokens.
MIN_SECRET_LENGTH = 8
BASE64_GROUP_BYTES = 3
_BASE64_ENCODERS: tuple[Callable[[bytes], bytes], ...] = (
    base64.b64encode,
    base64.urlsafe_b64encode,
)


def base64_forms(secret: bytes) -> set[str]:
    """The part of the base64 encoding of `secret` that does not depend on the bytes around it, for
    each offset (0, 1, 2) at which it can start inside a 3-byte group, in both alphabets."""
    forms: set[str] = set()
    for offset in range(BASE64_GROUP_BYTES):
        start = -(-8 * offset // 6)  # the first character made of the secret's bits alone
        end = 8 * (offset + len(secret)) // 6  # past the last such character
        for encode in _BASE64_ENCODERS:
            encoded = encode(bytes(offset) + secret).decode("ascii")
            forms.add(encoded[start:end])
    return forms


def forms(secret: str) -> set[str]:
    """Every spelling of `secret` we redact, except the Markdown one (see `Redactor`)."""
    spellings = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
    }
    spellings |= base64_forms(secret.encode("utf-8", errors="surrogatepass"))
    return {form for form in spellings if len(form) >= MIN_SECRET_LENGTH}


def _markdown_pattern(secret: str) -> str:
    """The Markdown-escaped secret, with a zero-width space allowed between any two characters."""
    escaped = md_escaped(secret).replace(ZWSP, "")
    return f"{ZWSP}?".join(re.escape(char) for char in escaped)


class Redactor:
    """Replaces every registered secret, in any of its `forms` or escaped for Markdown, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._patterns: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        self._patterns |= {re.escape(form) for form in forms(secret)}
        self._patterns.add(_markdown_pattern(secret))
        ordered = sorted(self._patterns, key=len, reverse=True)
        self._pattern = re.compile("|".join(ordered))

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def tree(self, value: object) -> object:
        """A JSON-like value with every string in it (keys too) redacted: for before `json.dumps`."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.tree(key): self.tree(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.tree(item) for item in value]
        return value
