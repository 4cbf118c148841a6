"""Markdown that untrusted text cannot escape from: table cells, inline text, links, numbers.

Row inputs and rationales come from users' datasets and from a model; metric names, run names and
error messages come from users too. Rendered by GitHub, such text must stay one inert run of text:

* no new column (`|`) or row (newline, `\\r`, U+2028...), no block syntax at the start of a line
  (`#`, `-`, `1.`, `>`, `---`);
* no HTML (`<img>` tracking pixels, `<details>`, a `</details>` closing ours, our
  `<!-- ckaction-report -->` marker), and no entity trick (`&lt;img&gt;` shows as typed);
* no emphasis, strikethrough, code span, link, image or math (`$`) running past its cell;
* no mention (`@name`) and no issue reference (`#123`, `GH-123`): GitHub finds those in the rendered
  text, so escaping is not enough and a zero-width space goes after the `@`, `#` or `GH-`;
* no invisible text: control characters, bidi overrides, zero-width and Unicode tag characters are
  dropped (ZWJ and ZWNJ stay: emoji sequences and several scripts need them);
* no unbreakable width: a zero-width space (a line-break opportunity) goes into very long words.

Every visible character survives (escaped), so the rendered text reads as the original, shortened.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import quote

ZWSP = "\u200b"
ELLIPSIS = "…"
LONG_WORD = 40
"""A run of this many non-space characters gets a zero-width space after it (a break opportunity)."""

# Dropped: C0/C1 controls that are not whitespace (whitespace folds to one space below), Unicode
# format characters (category Cf) except ZWNJ/ZWJ, lone surrogates (they cannot be UTF-8 encoded),
# and the Hangul fillers that render as blank letters. tests/render checks this against unicodedata.
_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f"
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\ud800-\udfff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "]+"
)
_WS = re.compile(r"\s+")
_LONG = re.compile(rf"\S{{{LONG_WORD}}}(?=\S)")
_URL = re.compile(r"((?:https?://|www\.)\S+)", re.IGNORECASE)
_REFS = re.compile(r"(?:@(?=[A-Za-z0-9])|#(?=[0-9])|\b[Gg][Hh]-(?=[0-9]))")
_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "|": "&#124;",
        "$": "&#36;",
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "~": "\\~",
        "[": "\\[",
        "]": "\\]",
    }
)
_LEADING_BLOCK = re.compile(r"^(?:[#=+\-]|[0-9]{1,9}(?=[.)]))")
_EXPANSION = 2
"""md_text's output stays within about _EXPANSION * limit characters however hostile the text."""

_URL_SAFE = ":/?#@!&*+,;=%-._~"


def clean(text: str) -> str:
    """Drop invisible characters and fold every run of whitespace (newlines, tabs...) to a space."""
    return _WS.sub(" ", _INVISIBLE.sub("", text)).strip()


def shorten(text: str, limit: int) -> str:
    """One clean line of at most `limit` characters, ending with … when cut."""
    cut = len(text) > limit * 4 + 256
    if cut:  # cap the work on huge text before cleaning it
        text = text[: limit * 4 + 256]
    flat = clean(text)
    if len(flat) > limit:
        flat, cut = flat[: max(1, limit - 1)].rstrip(), True
    elif cut:
        flat = flat[: max(1, limit - 1)].rstrip()
    return flat + ELLIPSIS if cut else flat


def _broken(text: str) -> str:
    return _LONG.sub(_after, text)


def _after(match: re.Match[str]) -> str:
    return match.group(0) + ZWSP


def _inert(flat: str) -> str:
    if "://" in flat or "www." in flat.lower():  # no break opportunities inside URLs
        parts = _URL.split(flat)
        flat = "".join(p if i % 2 else _broken(p) for i, p in enumerate(parts))
    else:
        flat = _broken(flat)
    # Everywhere, URLs included: where GitHub's autolink of a URL ends is not ours to predict.
    flat = _REFS.sub(_after, flat)
    flat = flat.translate(_ESCAPES)
    lead = _LEADING_BLOCK.match(flat)
    if lead:
        mark = lead.group(0)
        flat = "\\" + flat if not mark[0].isdigit() else mark + "\\" + flat[len(mark) :]
    return flat


def md_escaped(text: str) -> str:
    """All of `text` as inert inline Markdown, uncut: what `md_text` makes of text within its limit."""
    return _inert(clean(text))


def md_text(text: str, limit: int = 200) -> str:
    """Untrusted text as inert inline Markdown, safe inside a table cell: at most `limit` visible
    characters (then …), and at most about twice that in Markdown however much needs escaping."""
    out = _inert(shorten(text, limit))
    budget = _EXPANSION * limit + 16
    while len(out) > budget and limit > 1:
        limit = max(1, limit * budget // len(out) - 1)
        out = _inert(shorten(text, limit))
    return out


_CODE_SPAN = re.compile(r"[^\s`<>|\\](?:[^`<>|\\]*[^\s`<>|\\])?")
"""What a code span of untrusted text may hold: no backtick (it would end the span), nothing that
is not inert in the raw body (`<`, `>`: our marker and HTML), no cell break (`|`) or backslash,
and no space at either end (the span would lose it)."""


def md_sentence(text: str, limit: int = 200) -> str:
    """Untrusted text as `md_text` makes it, except that a part between two backticks (a name, a
    path, a command: "published `Support reply`") becomes a code span when it holds nothing
    `_CODE_SPAN` refuses; other backticks are escaped. A code span cannot run past its part."""
    out = _with_code_spans(shorten(text, limit))
    budget = _EXPANSION * limit + 16
    while len(out) > budget and limit > 1:
        limit = max(1, limit * budget // len(out) - 1)
        out = _with_code_spans(shorten(text, limit))
    return out


def _with_code_spans(flat: str) -> str:
    parts = flat.split("`")
    out = ""
    span_closed = False  # the backtick before this part closed a code span
    for index, part in enumerate(parts):
        closed = index % 2 == 1 and index < len(parts) - 1
        # A span right after another (`a``b`) would read as one: it stays escaped text.
        if closed and not out.endswith("`") and _CODE_SPAN.fullmatch(part):
            out += f"`{_REFS.sub(_after, _broken(part))}`"
            span_closed = True
            continue
        if index and not span_closed:
            out += "\\`"
        out += _inert(part)
        span_closed = False
    return out


def md_url(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link destination, or None: characters that could end the
    destination or a table cell (spaces, parentheses, `<>`, `|`, quotes, backslashes) are
    percent-encoded and anything that is not http(s) is refused."""
    if not url:
        return None
    url = clean(url)
    if not re.match(r"https?://[^\s/]", url, re.IGNORECASE):
        return None
    return quote(url, safe=_URL_SAFE)


def md_link(label: str, url: str | None) -> str:
    """`label` (already Markdown) linked to `url`, or just the label when the URL is not usable."""
    safe = md_url(url)
    return f"[{label}]({safe})" if safe else label


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


def fmt_tolerance(value: Decimal | None) -> str:
    """A tolerance as the reader compares a delta with it: normalised, no exponent."""
    if value is None:
        return "—"
    text = f"{value.normalize():f}"
    return text if "." in text else f"{text}.0"
