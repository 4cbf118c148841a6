"""The rendered comment and summary for each kind of report, pinned byte for byte.

Update after an intended change with `pytest tests/render --snapshot-update` and review the .md
files under __snapshots__/test_snapshots/ (they render on GitHub like the real thing).
"""

from __future__ import annotations

import hashlib
import re

import pytest
from syrupy.assertion import SnapshotAssertion

from ckaction.render import COMMENT_LIMIT, SUMMARY_LIMIT, render_comment, render_summary
from tests.render.builders import SCENARIOS, big_report

RENDERERS = {"comment": render_comment, "summary": render_summary}


@pytest.mark.parametrize("kind", sorted(RENDERERS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_rendering_matches_its_snapshot(
    scenario: str, kind: str, md_snapshot: SnapshotAssertion
) -> None:
    report = SCENARIOS[scenario]()
    text = RENDERERS[kind](report)
    assert text == md_snapshot
    assert text == RENDERERS[kind](SCENARIOS[scenario]())  # a rebuilt report renders identically


def _facts(text: str) -> dict[str, object]:
    return {
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "chars": len(text),
        "utf8_bytes": len(text.encode("utf-8")),
        "lines": text.count("\n"),
        "headings": re.findall(r"^#{2,3} .*$", text, re.MULTILINE),
        "details": re.findall(r"^<details><summary>(.*)</summary>$", text, re.MULTILINE),
        "left_out": re.findall(r"^_(?:… )?(\d+) (?:more )?.*left out here", text, re.MULTILINE),
        "table_rows": sum(1 for line in text.split("\n") if line.startswith("| ")),
    }


def test_a_5000_row_comparison_is_pinned_by_digest_and_structure(
    snapshot: SnapshotAssertion,
) -> None:
    report = big_report(5000)
    comment, summary = render_comment(report), render_summary(report)
    assert len(comment) < COMMENT_LIMIT
    assert len(summary.encode("utf-8")) < SUMMARY_LIMIT
    assert {"comment": _facts(comment), "summary": _facts(summary)} == snapshot
