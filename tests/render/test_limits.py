"""GitHub's size limits: a comment under 65,536 characters, a step summary under 1 MiB of UTF-8.
What does not fit is replaced by a line saying how much was left out and where the rest is."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ckaction.render import (
    COMMENT,
    COMMENT_BUDGET,
    COMMENT_LIMIT,
    SUMMARY,
    SUMMARY_BUDGET,
    SUMMARY_LIMIT,
    Layout,
    render,
    render_comment,
    render_summary,
)
from ckaction.report import ErrorInfo, Report
from tests.render.builders import SCENARIOS, big_report, gate_report, judge, make_report, row
from tests.render.gfm import tables, visible


@pytest.fixture(scope="module")
def big() -> Report:
    return big_report(5000)


def utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def left_out(text: str, heading: str) -> int:
    part = text.split(heading, 1)[1]
    found = re.search(r"^_(?:… )?(\d+) (?:more )?[^_\n]*? left out here", part, re.MULTILINE)
    assert found, heading
    return int(found.group(1))


def regressed_rows_shown(text: str) -> list[list[str]]:
    part = text.split("### Regressed rows", 1)[1]
    return tables(part)[0].rows


def test_a_5000_row_comment_fits_githubs_limit_and_keeps_the_worst(big: Report) -> None:
    comment = render_comment(big)
    assert len(comment) < COMMENT_LIMIT and utf8(comment) <= COMMENT_BUDGET
    assert big.evaluation is not None
    # verdict and the whole metric table stay
    assert comment.split("\n")[1].startswith("## ❌ Prompt gate regressed:")
    metrics = tables(comment.split("### Metrics", 1)[1])[0]
    assert [r[0] for r in metrics.rows] == [m.name for m in big.evaluation.metrics]
    # the worst regressions, in order, then a line counting the rest
    shown = regressed_rows_shown(comment)
    indexes = [int(r[0]) for r in shown if r[1] != "″"]
    worst = [r.row_index for r in big.evaluation.regressed_rows[: len(indexes)]]
    assert indexes == worst and len(indexes) >= 20
    total = big.counts.regressed
    assert left_out(comment, "### Regressed rows") == total - len(indexes) > 0
    assert "the full table is in the job summary and the JSON report" in comment
    # lower-priority sections are folded and fully counted as left out
    assert left_out(comment, "Improved rows") == big.counts.improved


def test_a_5000_row_summary_is_budgeted_in_utf8_bytes(big: Report) -> None:
    summary = render_summary(big)
    size = utf8(summary)
    assert size <= SUMMARY_BUDGET < SUMMARY_LIMIT
    assert size > len(summary) * 1.2  # the text is multi-byte: counting characters would overflow
    shown = regressed_rows_shown(summary)
    assert (
        len({r[0] for r in shown}) + left_out(summary, "### Regressed rows") == big.counts.regressed
    )


def test_multi_byte_text_alone_would_break_a_character_budget() -> None:
    text = "注文した商品がまだ届きません。配送状況を確認していただけますか？ " * 12
    rows = [row(i, judge(1, 5, 1)) for i in range(3000)]
    report = gate_report(*rows, inputs=dict.fromkeys(range(3000), text),
                         rationales=dict.fromkeys(range(3000), text))  # fmt: skip
    summary = render_summary(report)
    assert utf8(summary) <= SUMMARY_BUDGET
    assert len(summary) < SUMMARY_BUDGET // 2  # ~3 bytes a character
    comment = render_comment(report)
    assert utf8(comment) <= COMMENT_BUDGET


@pytest.mark.parametrize("budget", [2_000, 4_000, 8_000, 20_000])
def test_any_budget_is_kept_with_the_fixed_parts_first(budget: int) -> None:
    report = SCENARIOS["row_regression"]()
    many = big_report(300)
    for rep in (report, many):
        text = render(rep, dataclasses.replace(COMMENT, budget=budget))
        assert utf8(text) <= max(budget, _fixed(rep))
        assert "## " in text and "### Metrics" in text and text.rstrip().endswith("</sub>")
        assert text.count("<details>") == text.count("</details>")


def _fixed(report: Report) -> int:
    return utf8(render(report, dataclasses.replace(COMMENT, budget=0)))


def test_with_no_room_every_row_is_counted_as_left_out() -> None:
    report = SCENARIOS["row_regression"]()
    text = render(report, dataclasses.replace(SUMMARY, budget=0))
    assert left_out(text, "### Metrics") == 1
    assert left_out(text, "### Regressed rows") == 3
    assert left_out(text, "Improved rows") == 1
    assert "| input" not in text
    assert "_1 metric left out here; the full table is in the JSON report._" in text


def test_sections_fill_whole_rows_in_priority_order_as_the_budget_grows() -> None:
    report = gate_report(row(0, judge(1, 5, 1), judge(2, 5, 1, name="Tone")), row(1, judge(1, 5, 1)),
                         row(2, judge(1, 1, 5)))  # fmt: skip
    fixed = _fixed(report)
    full = utf8(render(report, SUMMARY))
    seen: list[tuple[int, int, int]] = []
    for budget in range(fixed, full + 1000, 7):  # the reserve for omission lines is generous
        text = render(report, dataclasses.replace(SUMMARY, budget=budget))
        assert utf8(text) <= budget
        body = [line for line in text.split("\n") if re.match(r"\| \d+ \| (input|″)", line)]
        regressed = [line for line in body if "**" in line]
        shown = (len(regressed), len(body) - len(regressed))
        if "### Regressed rows" in text and regressed:
            assert regressed[0].startswith("| 0 | input 0 |")
        if shown[0] == 2:  # row 0 (two metrics) but not row 1: nothing lower shows either
            assert left_out(text, "### Regressed rows") == 1 and shown[1] == 0
            assert left_out(text, "Improved rows") == 1
        seen.append((budget, *shown))
    counts = [(r, o) for _, r, o in seen]
    assert counts == sorted(counts)  # more room never shows less
    assert {r for r, _ in counts} == {0, 2, 3} and counts[-1] == (3, 1)


def test_the_hard_limit_cuts_at_a_line_and_closes_open_sections() -> None:
    report = big_report(200)
    layout = Layout(budget=10**9, hard_limit=20_000, see_also="see the JSON report")
    text = render(report, layout)
    assert utf8(text) <= 20_000
    assert text.count("<details>") == text.count("</details>")
    assert text.endswith("_… cut to fit GitHub's size limit; see the JSON report._\n")


def test_hostile_fixed_parts_stay_bounded() -> None:
    pipes = "|" * 5000
    report = make_report(
        result="error",
        error=ErrorInfo(pipes, pipes, pipes),
        notes=[pipes] * 50,
        not_like_for_like=[pipes] * 50,
        prompt_id=1,
        prompt_label=pipes,
        judge_model=pipes,
    )
    comment = render_comment(report)
    assert utf8(comment) <= COMMENT_BUDGET
    assert "… and 40 more" in comment
    assert visible(comment).count("&#124;") < 12_000


def test_ten_thousand_rows_render_within_the_limits() -> None:
    report = big_report(10_000, seed=3)
    assert utf8(render_summary(report)) <= SUMMARY_BUDGET
    assert len(render_comment(report)) < COMMENT_LIMIT


@pytest.mark.parametrize(
    ("render_with", "layout"), [(render_comment, COMMENT), (render_summary, SUMMARY)]
)
def test_what_the_model_said_on_the_worst_rows_is_shown_cut_and_within_the_limits(
    big: Report, render_with, layout: Layout
) -> None:
    """Every regressed row of the 5,000 carries two 30-line outputs (the new one hostile): the
    worst rows' outputs are shown, each cut to the layout's lines with a link to the runs, and the
    whole still fits."""
    text = render_with(big)
    assert utf8(text) <= layout.budget
    assert big.evaluation is not None
    worst = [r for r in big.evaluation.regressed_rows if r.has_outputs][: layout.outputs_shown]
    shown = re.findall(
        r"^<details><summary>What the model said on row (\d+)</summary>$", text, re.M
    )
    assert [int(index) for index in shown] == [r.row_index for r in worst]
    block = text.split("What the model said on row", 1)[1].split("</details>", 1)[0]
    diff_rows = tables(block)[0].rows
    assert len(diff_rows) == layout.output_lines
    assert all(len(cell) <= 2 * layout.output_line_limit + 16 for _, cell in diff_rows)
    assert "more lines left out; the whole outputs are in [candidate run 502](" in block
    assert "@octocat" not in block and "<img" not in block
