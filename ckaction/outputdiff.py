"""What the model said on a regressed row, before and after: a line diff of the baseline's and the
candidate's outputs (difflib), cut to a number of lines. Pure: no I/O, no Markdown (the renderer
escapes each line as it escapes a row's input)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

LineKind = Literal["same", "removed", "added", "skipped", "baseline", "new"]
EMPTY = "(empty)"
"""What an output without a visible line shows (blank lines are left out of a diff)."""
MISSING = "(no output text)"
CONTEXT_LINES = 1
"""Unchanged lines kept around a change; longer unchanged runs become one `skipped` line."""


@dataclass(frozen=True)
class DiffLine:
    """One line to show: `removed`/`added`/`same` in a diff, `skipped` (its text says how many
    unchanged lines), or `baseline`/`new` when the two outputs cannot be diffed (one is missing)."""

    kind: LineKind
    text: str


@dataclass(frozen=True)
class OutputDiff:
    lines: tuple[DiffLine, ...]
    diffed: bool  # a line diff of two texts (else each side as it is)
    cut: int  # how many lines were left out to keep within the budget

    @property
    def identical(self) -> bool:
        return self.diffed and all(line.kind in ("same", "skipped") for line in self.lines)


def _skipped(count: int) -> DiffLine:
    return DiffLine("skipped", f"{count} unchanged line{'' if count == 1 else 's'}")


def _diff(before: list[str], after: list[str]) -> list[DiffLine]:
    lines: list[DiffLine] = []
    opcodes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag != "equal":
            lines += [DiffLine("removed", text) for text in before[i1:i2]]
            lines += [DiffLine("added", text) for text in after[j1:j2]]
            continue
        same = before[i1:i2]
        head = CONTEXT_LINES if index > 0 else 0
        tail = CONTEXT_LINES if index < len(opcodes) - 1 else 0
        if len(same) <= head + tail + 1:
            lines += [DiffLine("same", text) for text in same]
            continue
        lines += [DiffLine("same", text) for text in same[:head]]
        lines.append(_skipped(len(same) - head - tail))
        lines += [DiffLine("same", text) for text in same[len(same) - tail :]]
    return lines


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()] or [EMPTY]


def output_diff(before: str | None, after: str | None, max_lines: int) -> OutputDiff:
    """The two outputs as at most `max_lines` lines: a line diff when both are text, else each
    side that exists under its own label (a missing side says so)."""
    if before is not None and after is not None:
        lines = _diff(_lines(before), _lines(after))
        diffed = True
    else:
        sides: tuple[tuple[LineKind, str | None], ...] = (("baseline", before), ("new", after))
        lines = [
            DiffLine(kind, text)
            for kind, side in sides
            for text in (_lines(side) if side is not None else [MISSING])
        ]
        diffed = False
    kept = lines[:max_lines]
    return OutputDiff(tuple(kept), diffed, len(lines) - len(kept))
