"""The outputs read back with a GFM parser (markdown-it-py, raw HTML on like GitHub): every table
keeps its columns in every row, and the only HTML is the HTML the template writes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckaction.markdown import shorten
from ckaction.render import COMMENT, SUMMARY, render_comment, render_summary
from ckaction.report import Report
from tests.render.builders import SCENARIOS, big_report, check, gate_report, judge, row
from tests.render.gfm import (
    ALLOWED_TAGS,
    MD,
    OUR_HTML,
    cmark_split,
    escapedSplit,
    html_tokens,
    raw_cells,
    tables,
    tags,
    text_content,
    visible,
)

RENDERERS: dict[str, Callable[[Report], str]] = {
    "comment": render_comment,
    "summary": render_summary,
}
FOLDED_STATUSES = {"signed_off", "improved", "unchanged", "missing", "unscored"}
MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9]")
ISSUE = re.compile(r"(?<![\w&])#[0-9]|\bGH-[0-9]", re.IGNORECASE)


def expected_details(report: Report, *, comment: bool) -> int:
    """One fold per folded status, and one per regressed row whose outputs are shown."""
    if report.evaluation is None or report.command != "gate":
        return 0
    shown = (COMMENT if comment else SUMMARY).outputs_shown
    said = min(shown, sum(1 for r in report.evaluation.regressed_rows if r.has_outputs))
    return len({r.status for r in report.evaluation.rows} & FOLDED_STATUSES) + said


def assert_well_formed(markdown: str, report: Report, *, comment: bool) -> None:
    # Tables: the same number of cells in every row, split as markdown-it and as cmark-gfm do.
    found = tables(markdown)
    for table in found:
        width = len(table.header)
        assert width > 1
        for line in table.source:
            if set(line) <= set("|-: "):
                continue  # the delimiter row
            assert raw_cells(line, escapedSplit) == width, line
            assert raw_cells(line, cmark_split) == width, line
        for cells in table.rows:
            assert len(cells) == width
            assert all(cell.strip() for cell in cells), cells  # no cell padded in as empty
    # A newline in a row would end the table early: every `| ` line belongs to a parsed table row.
    source_rows = [line for line in markdown.split("\n") if line.startswith("|")]
    assert len(source_rows) == sum(len(t.source) for t in found)

    rendered = MD.render(markdown)
    assert set(tags(rendered)) <= ALLOWED_TAGS, set(tags(rendered)) - ALLOWED_TAGS
    assert "<img" not in rendered and "<script" not in rendered
    assert rendered.count("<details>") == expected_details(report, comment=comment)
    assert rendered.count("</details>") == expected_details(report, comment=comment)
    for raw in html_tokens(markdown):
        raw = raw.strip()
        assert (
            raw in OUR_HTML
            or re.fullmatch(r"<details><summary>[A-Za-z -]+ \(\d+\)</summary>", raw)
            or re.fullmatch(r"<details><summary>What the model said on row (\d+|—)</summary>", raw)
            or (comment and raw == "<!-- ckaction-report -->")
        ), raw
    assert markdown.count("<!--") == (1 if comment else 0)
    assert not comment or markdown.startswith("<!-- ckaction-report -->\n")

    text = text_content(rendered)
    assert not MENTION.search(text), MENTION.search(text)
    assert not ISSUE.search(text), ISSUE.search(text)


@pytest.mark.parametrize("kind", sorted(RENDERERS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_scenario_is_well_formed_gfm(scenario: str, kind: str) -> None:
    report = SCENARIOS[scenario]()
    markdown = RENDERERS[kind](report)
    assert_well_formed(markdown, report, comment=kind == "comment")
    if report.evaluation is not None:
        assert tables(markdown), "a gate report has tables"


def test_a_cut_5000_row_report_is_still_well_formed() -> None:
    report = big_report(5000)
    for kind, render in RENDERERS.items():
        assert_well_formed(render(report), report, comment=kind == "comment")


def test_hostile_text_keeps_its_cells_and_reads_as_typed() -> None:
    report = SCENARIOS["hostile"]()
    markdown = render_summary(report)
    regressed = next(t for t in tables(markdown) if t.header[-1] == "Judge's rationale (new)")
    row0 = regressed.rows[0]
    kinds = regressed.kinds[0]
    assert report.evaluation is not None
    source = report.evaluation.rows[0]
    assert visible(row0[1]) == shorten(source.input, SUMMARY.input_limit)
    assert visible(row0[6]) == shorten(source.cells[1].rationale or "", SUMMARY.rationale_limit)
    assert kinds[1] == kinds[6] == {"text"}  # no emphasis, code, link or HTML inside
    assert "<img src=https://t.example/p.gif>" in row0[1]  # shown as text, not fetched


def test_hostile_output_text_is_escaped_line_by_line_as_inputs_are() -> None:
    """What the model said goes through the same escaping as a row's input: each diff line one
    inert cell of text (no code fence, HTML, mention or workflow command of the output's own)."""
    report = SCENARIOS["hostile"]()
    assert report.evaluation is not None
    source = report.evaluation.rows[0]
    assert source.candidate_output is not None and source.baseline_output is not None
    markdown = render_summary(report)
    diff = next(t for t in tables(markdown) if t.header[-1] == "Baseline → new output (line diff)")
    shown = {row[1] for row in diff.rows}
    for line in filter(str.strip, source.candidate_output.splitlines()):
        assert any(_matches(cell, line, SUMMARY.output_line_limit) for cell in shown), line
    assert all(kinds[1] <= {"text"} for kinds in diff.kinds)
    assert [row[0] for row in diff.rows][:2] == ["−", "+"]


# -- random hostile text ---------------------------------------------------------------------------

NASTY = (
    "|", "\\|", "\\", "\n", "\r", "\r\n", "\t", "<", ">", "`", "```", "*", "**", "_", "~~", "@",
    "#", "&", ";", "[", "]", "(", ")", "!", "$", "$$", "-", "+", "=", ":", ".", "1.", "> ",
    "# ", "- ", "---", "<img src=x>", "<details>", "</details>", "<summary>", "<!--", "-->",
    "<!-- ckaction-report -->", "&lt;img&gt;", "&amp;", "&#124;", "&#x3C;", "@octocat",
    "#123", "GH-9", "[x](http://a.b)", "![p](http://a.b/i.png)", "<http://a.b>", "\u200b",
    "\u200d", "\u202e", "\ufeff", "\x00", "\x1b", "\x7f", "\u0085", "\u2028", "\U000e0041",
    "🙏", "注文", "é", "\u0301", "x" * 70, " ",
)  # fmt: skip
hostile_text = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(max_size=6)), min_size=0, max_size=25
).map("".join)


def _check_cells(markdown: str, report: Report, limit_input: int, limit_rationale: int) -> None:
    assert report.evaluation is not None
    by_index = {r.row_index: r for r in report.evaluation.rows}
    for table in tables(markdown):
        if table.header[:3] != ["Row", "Input", "Metric"]:
            continue
        for cells, kinds in zip(table.rows, table.kinds, strict=True):
            source = by_index[int(cells[0])]
            if cells[1] != "″":
                _same_text(cells[1], source.input, limit_input)
            assert kinds[1] <= {"text"} and kinds[2] <= {"text"}
            if table.header[-1] == "Judge's rationale (new)":
                rationales = {c.rationale or "" for c in source.cells}
                assert any(_matches(cells[6], r, limit_rationale) for r in rationales)
                assert kinds[6] <= {"text"}


def _matches(cell: str, original: str, limit: int) -> bool:
    seen, expected = visible(cell), shorten(original, limit)
    if seen == (expected or "—"):
        return True
    # md_text may cut heavily escaped text shorter than `limit`, always at a prefix, with …
    return seen.endswith("…") and shorten(original, 10**6).startswith(seen[:-1])


def _same_text(cell: str, original: str, limit: int) -> None:
    assert _matches(cell, original, limit), (cell, original)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=st.lists(hostile_text, min_size=4, max_size=4), rationale=hostile_text,
       name=hostile_text, check_name=hostile_text)  # fmt: skip
def test_random_hostile_text_never_breaks_the_markdown(
    inputs: list[str], rationale: str, name: str, check_name: str
) -> None:
    report = gate_report(
        row(0, judge(1, 5, 2, name=name), check(2, True, False, name=check_name)),
        row(1, judge(1, 2, 4, name=name), check(2, True, True, name=check_name)),
        row(2, judge(1, 3, 3, name=name), check(2, True, True, name=check_name)),
        row(3, judge(1, 3, None, name=name), missing=True),
        inputs=dict(enumerate(inputs)),
        rationales={i: rationale for i in range(4)},
        outputs={0: (inputs[1] + "\n" + rationale, rationale + "\n" + inputs[2])},
        prompt_label=name,
        judge_model=check_name,
        not_like_for_like=[name],
        notes=[rationale],
    )
    comment, summary = render_comment(report), render_summary(report)
    assert_well_formed(comment, report, comment=True)
    assert_well_formed(summary, report, comment=False)
    _check_cells(comment, report, COMMENT.input_limit, COMMENT.rationale_limit)
    _check_cells(summary, report, SUMMARY.input_limit, SUMMARY.rationale_limit)
