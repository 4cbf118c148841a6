"""Reading rendered Markdown back the way GitHub does: tables, tags, cell text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.rules_block.table import escapedSplit
from markdown_it.token import Token

from ckaction.markdown import ZWSP

# html=True like GitHub: raw HTML in the source would come out as HTML (GitHub then sanitizes it).
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

ALLOWED_TAGS = {
    "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "p", "strong", "em",
    "code", "a", "ul", "li", "h2", "h3", "hr", "sub", "blockquote", "br",
}  # fmt: skip
OUR_HTML = {"<br>", "<sub>", "</sub>", "</details>"}
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9-]*)")


def tags(rendered_html: str) -> list[str]:
    """Every tag name in the HTML (opening and closing)."""
    return [name.lower() for _, name in _TAG.findall(rendered_html)]


def cmark_split(line: str) -> list[str]:
    """A table row split as cmark-gfm (GitHub) does: a backslash escapes the next character, so
    `\\\\|` is an escaped backslash and then a cell separator (markdown-it differs there)."""
    cells, current, i = [], "", 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            current += line[i : i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(current)
            current = ""
        else:
            current += ch
        i += 1
    cells.append(current)
    return cells


def raw_cells(line: str, split: object) -> int:
    """Cells of a source table row under a splitter, without the empty ends of `| a | b |`."""
    parts = split(line.strip())  # type: ignore[operator]
    if parts and not parts[0].strip():
        parts = parts[1:]
    if parts and not parts[-1].strip():
        parts = parts[:-1]
    return len(parts)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    kinds: list[list[set[str]]]
    """For each body cell, the token types inside it (only "text" for plain text)."""
    source: list[str]


def _text(inline: Token) -> str:
    return "".join(child.content for child in inline.children or [])


def tables(markdown: str) -> list[Table]:
    tokens = MD.parse(markdown)
    lines = markdown.split("\n")
    found: list[Table] = []
    current: Table | None = None
    row: list[str] | None = None
    in_head = False
    for token in tokens:
        if token.type == "table_open":
            assert token.map is not None
            current = Table([], [], [], lines[token.map[0] : token.map[1]])
            found.append(current)
        elif token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
            if current is not None and not in_head:
                current.rows.append(row)
                current.kinds.append([])
        elif token.type == "inline" and row is not None and current is not None:
            text = _text(token)
            if in_head:
                current.header.append(text)
            else:
                row.append(text)
                current.kinds[-1].append({child.type for child in token.children or []})
        elif token.type == "tr_close":
            row = None
    return found


def visible(text: str) -> str:
    """Cell text as a reader sees it (our zero-width spaces are invisible)."""
    return text.replace(ZWSP, "")


def html_tokens(markdown: str) -> list[str]:
    """The raw HTML that reached the output: html_block and html_inline token contents."""
    out: list[str] = []
    for token in MD.parse(markdown):
        if token.type == "html_block":
            out.append(token.content)
        for child in token.children or []:
            if child.type == "html_inline":
                out.append(child.content)
    return out


def text_content(rendered_html: str) -> str:
    """The visible text of rendered HTML, entities decoded (what GitHub scans for @ and #)."""
    return html.unescape(re.sub(r"<[^>]*>", " ", rendered_html))


__all__ = [
    "ALLOWED_TAGS", "MD", "OUR_HTML", "Table", "cmark_split", "escapedSplit",
    "html_tokens", "raw_cells", "tables", "tags", "text_content", "visible",
]  # fmt: skip
