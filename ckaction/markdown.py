"""Markdown that untrusted text cannot escape from: table cells, inline text, numbers and deltas.

Row inputs, responses and rationales come from users' datasets and from a model. In a table cell they
must not add a column (`|`), end the row (newline), inject HTML (`<img>`, `<details>`), mention a user
(`@name`), link an issue (`#123`) or open emphasis or code that runs past the cell.
"""

from __future__ import annotations

import re
from decimal import Decimal

ZWSP = "\u200b"
_MD_PUNCT = re.compile(r"([\\`*_\[\]{}()~!#+\-.:<>])")
_WS = re.compile(r"\s+")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_ISSUE_REF = re.compile(r"#(?=\d)")


def shorten(text: str, limit: int) -> str:
    """One line of at most `limit` characters, ending with … when cut."""
    flat = _WS.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    return flat[: max(1, limit - 1)].rstrip() + "…"


def md_text(text: str, limit: int = 200) -> str:
    """Untrusted text as inert inline Markdown, safe inside a table cell."""
    flat = shorten(text, limit)
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = flat.replace("|", "&#124;")
    flat = _MD_PUNCT.sub(r"\\\1", flat)
    flat = _MENTION.sub("@" + ZWSP, flat)
    return _ISSUE_REF.sub("#" + ZWSP, flat)


def fmt_score(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:.{places}f}"


def fmt_delta(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "—"
    if value == 0:
        return f"{Decimal(0):.{places}f}"
    return f"{value:+.{places}f}"


def fmt_rate(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"
