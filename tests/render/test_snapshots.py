"""The rendered summary for each kind of report, pinned byte for byte, and what the comment changes
from it, pinned as a diff.

Update after an intended change with `pytest tests/render --snapshot-update` and review the .md
files under __snapshots__/test_snapshots/ (they render on GitHub like the real thing) and the .diff
files beside them.
"""

from __future__ import annotations

import difflib
import re

import pytest
from syrupy.assertion import SnapshotAssertion

from ckaction.render import COMMENT_LIMIT, SUMMARY_LIMIT, render_comment, render_summary
from tests.render.builders import SCENARIOS, big_report


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_summary_matches_its_snapshot(scenario: str, md_snapshot: SnapshotAssertion) -> None:
    text = render_summary(SCENARIOS[scenario]())
    assert text == md_snapshot
    assert text == render_summary(SCENARIOS[scenario]())  # a rebuilt report renders identically


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_comment_differs_from_the_summary_as_its_snapshot_says(
    scenario: str, diff_snapshot: SnapshotAssertion
) -> None:
    """The comment is the summary with the sticky comment's marker on top and, where text is long,
    the comment's shorter cuts: only that difference is pinned."""
    summary, comment = render_summary(SCENARIOS[scenario]()), render_comment(SCENARIOS[scenario]())
    diff = difflib.unified_diff(
        summary.splitlines(keepends=True), comment.splitlines(keepends=True), "summary", "comment"
    )
    assert "".join(diff) == diff_snapshot


def _last_row(text: str, heading: str) -> str:
    """Where a cut table stops: the last row it kept, as row, metric and delta."""
    table = text.split(heading, 1)[1].split("\n\n", 2)[1]
    cells = table.rsplit("\n", 1)[-1].strip("| ").split(" | ")
    return f"row {cells[0]}: {cells[2]} {cells[5]}"


def _facts(text: str) -> dict[str, object]:
    return {
        "last_regressed_row_kept": _last_row(text, "### Regressed rows"),
        "chars": len(text),
        "utf8_bytes": len(text.encode("utf-8")),
        "lines": text.count("\n"),
        "headings": re.findall(r"^#{2,3} .*$", text, re.MULTILINE),
        "details": re.findall(r"^<details><summary>(.*)</summary>$", text, re.MULTILINE),
        "left_out": re.findall(r"^_(?:… )?(\d+) (?:more )?.*left out here", text, re.MULTILINE),
        "table_rows": sum(1 for line in text.split("\n") if line.startswith("| ")),
    }


def test_a_5000_row_comparison_is_pinned_by_its_structure_and_cuts(
    snapshot: SnapshotAssertion,
) -> None:
    report = big_report(5000)
    comment, summary = render_comment(report), render_summary(report)
    assert len(comment) < COMMENT_LIMIT
    assert len(summary.encode("utf-8")) < SUMMARY_LIMIT
    assert {"comment": _facts(comment), "summary": _facts(summary)} == snapshot
