"""Counts as sentences: "1 row regressed", "3 rows regressed", never "row(s)". Pure."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`noun` as `count` of it reads: the noun for one, `many` (default: noun + "s") otherwise."""
    return noun if count == 1 else (many or noun + "s")


def counted(count: int, noun: str, many: str | None = None) -> str:
    """`count` and its noun: "1 row", "0 rows", "3 rows"; `many` for an irregular plural."""
    return f"{count} {plural(count, noun, many)}"
