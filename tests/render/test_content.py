"""What the issue asks the report to show, checked on the rendered text."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from decimal import Decimal

import pytest

from ckaction import __version__
from ckaction.decide import Tolerances
from ckaction.render import render_comment, render_summary
from ckaction.report import RunRef
from tests.render.builders import (
    SCENARIOS,
    WEB,
    WORKFLOW,
    check,
    error_report,
    gate_report,
    judge,
    make_report,
    row,
)
from tests.render.gfm import tables, visible

BOTH = pytest.mark.parametrize(
    "render", [render_comment, render_summary], ids=["comment", "summary"]
)


def first_screen(text: str) -> str:
    """Everything above the metric table."""
    return text.split("### Metrics")[0]


def table_after(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after `heading`."""
    part = text.split(heading, 1)[1]
    return tables(part)[0].rows


@BOTH
@pytest.mark.parametrize(
    ("scenario", "emoji", "word"),
    [("passed", "✅", "passed"), ("row_regression", "❌", "regressed"),
     ("average_drift", "❌", "regressed"), ("broken_check", "❌", "regressed"),
     ("error", "⚠️", "error")],
)  # fmt: skip
def test_the_headline_says_the_verdict_in_words_and_an_emoji(render, scenario, emoji, word):
    headline = render(SCENARIOS[scenario]()).split("## ", 1)[1].split("\n", 1)[0]
    assert headline.startswith(f"{emoji} Prompt gate {word}")


@BOTH
def test_the_first_screen_has_runs_prompt_dataset_judge_tolerances_and_counts(render):
    report = SCENARIOS["row_regression"]()
    screen = first_screen(render(report))
    assert f"[run 502]({WEB}/runs/502)" in screen
    assert f"[run 501]({WEB}/runs/501)" in screen
    assert "**Prompt** Support reply v4 (id 42)" in screen
    assert "**Dataset** id 7" in screen
    assert "**Judge** gpt-4.1-mini" in screen
    assert "row delta ≥ -1.0" in screen and "mean delta ≥ -5.0" in screen
    counts = tables(screen)[0]
    by_label = dict(zip(counts.header, counts.rows[0], strict=True))
    c = report.counts
    assert by_label["Rows compared"] == str(c.compared) == "5"
    assert by_label["Regressed"] == str(c.regressed) == "3"
    assert by_label["Improved"] == str(c.improved) == "1"
    assert by_label["Missing"] == str(c.missing) == "0"
    assert set(by_label) >= {"Unchanged", "Unscored", "New cases"}


def test_every_count_field_becomes_a_column() -> None:
    """Every count but `flaky`, which shows only when a confirm (`confirm-runs`) found a row."""
    report = SCENARIOS["passed"]()
    counts = tables(render_summary(report))[0]
    shown = [f.name for f in dataclasses.fields(report.counts) if f.name != "flaky"]
    assert len(counts.header) == len(shown)
    assert counts.rows[0] == [str(getattr(report.counts, name)) for name in shown]
    flaky = dataclasses.replace(report.counts, flaky=1)
    evaluation = dataclasses.replace(report.evaluation, counts=flaky)
    with_flaky = dataclasses.replace(
        report, facts=dataclasses.replace(report.facts, evaluation=evaluation)
    )
    counts = tables(render_summary(with_flaky))[0]
    assert counts.header[-1] == "Flaky" and counts.rows[0][-1] == "1"


@BOTH
def test_the_metric_table_has_means_delta_tolerance_and_verdict(render):
    rows = table_after(render(SCENARIOS["average_drift"]()), "### Metrics")
    assert rows == [
        ["Accuracy", "LLM judge", "6", "5.00", "4.50", "-0.50", "-0.50 to -0.50", "≥ -0.2",
         "❌ mean below tolerance"]
    ]  # fmt: skip
    rows = table_after(render(SCENARIOS["broken_check"]()), "### Metrics")
    assert rows[1][:2] == ["Has order no", "check"] and rows[1][-1] == "❌ 1 broke"
    assert rows[0][-1] == "✅"


@BOTH
def test_regressed_rows_come_worst_first_with_scores_and_rationale(render):
    text = render(SCENARIOS["row_regression"]())
    rows = table_after(text, "### Regressed rows")
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("4", "input 4", "4.0", "1.0", "-3.0"),
        ("1", "input 1", "5.0", "3.0", "-2.0"),
        ("2", "input 2", "4.0", "2.5", "-1.5"),
    ]
    assert [r[6] for r in rows] == ["rationale 4/1", "rationale 1/1", "rationale 2/1"]


@BOTH
def test_a_broken_check_shows_pass_to_fail(render):
    rows = table_after(render(SCENARIOS["broken_check"]()), "### Regressed rows")
    assert rows == [["0", "input 0", "Has order no", "pass", "fail", "pass→fail", "rationale 0/5"]]


@BOTH
def test_a_broken_check_is_worse_than_any_delta(render):
    report = gate_report(
        row(0, judge(1, 5, 1)),
        row(1, judge(1, 5, 2), check(5, True, False)),
        tol=Tolerances(row=Decimal("-1.0"), avg=Decimal("-5")),
    )
    rows = table_after(render(report), "### Regressed rows")
    assert [(r[0], r[2], r[5]) for r in rows] == [
        ("1", "Has order no", "pass→fail"),
        ("1", "Accuracy", "-3.0"),
        ("0", "Accuracy", "-4.0"),
    ]


@BOTH
def test_improved_and_unchanged_rows_are_folded_and_regressions_are_not(render):
    text = render(SCENARIOS["row_regression"]())
    folded = re.findall(r"<details><summary>(.*?)</summary>(.*?)</details>", text, re.DOTALL)
    folded = [
        (title, body) for title, body in folded if not title.startswith("What the model said")
    ]
    assert [title for title, _ in folded] == ["Improved rows (1)", "Unchanged rows (1)"]
    assert "| 3 | input 3 | Accuracy | 3.0 | 4.0 | +1.0 |" in folded[0][1]
    assert "| 0 | input 0 | Accuracy | 5.0 | 5.0 | 0.0 |" in folded[1][1]
    assert "### Regressed rows" in text.split("<details>")[0]


@BOTH
def test_missing_unscored_and_new_cases_are_reported(render):
    text = render(SCENARIOS["missing_cases"]())
    assert "<details><summary>Missing from the candidate run (2)</summary>" in text
    assert "<details><summary>Paired but not scored on the candidate run (1)</summary>" in text
    assert "2 cases exist only in the candidate run" in text


@BOTH
def test_the_not_like_for_like_warning_lists_every_difference(render):
    text = render(SCENARIOS["not_like_for_like"]())
    warning = text.split("> [!WARNING]\n", 1)[1].split("\n\n", 1)[0]
    assert "judge model: baseline gpt-4o, candidate gpt-4.1-mini" in visible(warning)
    assert warning.count("\n> - ") == 4
    assert (
        "with the new judge: `ckaction rebaseline --baseline-run-id 501 --judge-model gpt-4.1-mini`"
        in warning
    )
    assert "[!WARNING]" not in render(SCENARIOS["passed"]())


@BOTH
def test_the_footer_names_the_workflow_run_and_no_time(render):
    text = render(SCENARIOS["passed"]())
    footer = text.rstrip("\n").rsplit("\n", 1)[1]
    assert footer == f"<sub>ckaction {__version__} gate · [workflow run 4242]({WORKFLOW})</sub>"
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}", text)


@BOTH
def test_an_unchanged_report_renders_byte_identical(render):
    first = render(SCENARIOS["hostile"]())
    assert all(render(SCENARIOS["hostile"]()) == first for _ in range(3))


@BOTH
def test_an_error_report_shows_title_message_and_hint_and_no_tables(render):
    text = render(error_report())
    assert "## ⚠️ Prompt gate error: Run failed" in text
    assert "> **Run failed:** Run 502 failed on CompletionKit" in text
    assert f"> Open {WEB}/runs/502 to see which rows failed and why." in text
    assert tables(text) == []


@BOTH
def test_an_error_with_hostile_text_stays_inside_its_callout(render):
    from ckaction.report import ErrorInfo

    report = error_report(
        error=ErrorInfo("Bad\n# title", "line1\n\n## line2 <img src=x>", "- hint")
    )
    text = render(report)
    callout = text.split("> [!CAUTION]\n", 1)[1].split("\n\n", 1)[0]
    assert all(line.startswith(">") for line in callout.split("\n"))
    assert "<img" not in text and "\n#" not in text.split("## ", 1)[1]


@BOTH
def test_publish_renders_what_was_done_not_gate_tables(render):
    text = render(SCENARIOS["publish"]())
    assert re.search(r"^## ✅ Publish: done$", text, re.MULTILINE)
    assert "- Published prompt 42 (version 4): it is now the current version" in text
    assert "**Outputs** prompt-id = 42 · version-number = 4" in text
    assert tables(text) == [] and "Tolerances" not in text


@BOTH
def test_rebaseline_links_the_new_and_previous_baseline_runs(render):
    text = render(SCENARIOS["rebaseline"]())
    assert "✅ Rebaseline: done" in text
    assert f"**New baseline** [run 610]({WEB}/runs/610)" in text
    assert f"**Previous baseline** [run 501]({WEB}/runs/501) (v3 baseline)" in text
    assert "- Captured a fresh baseline: run 610" in text
    assert tables(text) == []


def test_a_failed_rebaseline_is_an_error_report() -> None:
    from ckaction.report import ErrorInfo

    report = make_report(
        result="error",
        command="rebaseline",
        baseline=RunRef(501, f"{WEB}/runs/501"),
        error=ErrorInfo("Run failed", "The new baseline run 610 failed: quota", "Open it."),
    )
    text = render_summary(report)
    assert "## ⚠️ Rebaseline error: Run failed" in text
    assert "The new baseline run 610 failed: quota" in text


def test_the_comment_starts_with_its_marker_and_a_comment_id_scopes_it() -> None:
    assert render_comment(SCENARIOS["passed"]()).startswith("<!-- ckaction-report -->\n")
    report = gate_report(row(0, judge(1, 4, 4)))
    assert render_comment(report, "nightly <x> -->").startswith(
        "<!-- ckaction-report:nightlyx- -->\n"
    )
    assert "<!--" not in render_summary(report)


@BOTH
def test_signed_off_rows_pass_and_show_what_signed_them_off(render):
    text = render(SCENARIOS["signed_off"]())
    assert "## ✅ Prompt gate passed: 1 regressed row, signed off" in text
    folded = text.split("<details><summary>Signed-off regressions (1)</summary>", 1)[1]
    shown = tables(folded)[0].rows
    assert [visible(c) for c in shown[0]] == [
        "1", "input 1", "Accuracy", "5.0", "3.0", "-2.0",
        ".completionkit/signoffs.yml line 1: Terser replies drop the link; accepted by @maria "
        "in #12 (until 2999-01-01)",
    ]  # fmt: skip
    assert "@\u200bmaria" in folded and "#\u200b12" in folded  # nobody pinged, nothing linked
    used = text.split("**Signed off:**", 1)[1].split("\n\n", 1)[0]
    assert "signoffs.yml line 1" in used
    ignored = text.split("**Sign-off entries that cover nothing:**", 1)[1].split("\n\n", 1)[0]
    assert "expired, covers nothing" in ignored and "line 9: missing expires" in ignored
    assert all(line.startswith(">") for line in ignored.split("\n")[1:])


def test_a_row_status_the_renderer_does_not_know_still_shows() -> None:
    report = gate_report(row(0, judge(1, 4, 4)), row(1, judge(1, 4, 4)))
    assert report.evaluation is not None
    rows = (dataclasses.replace(report.evaluation.rows[0], status="quarantined"),  # type: ignore[arg-type]
            report.evaluation.rows[1])  # fmt: skip
    evaluation = dataclasses.replace(report.evaluation, rows=rows)
    text = render_summary(
        dataclasses.replace(report, facts=dataclasses.replace(report.facts, evaluation=evaluation))
    )
    assert "<details><summary>Rows with status quarantined (1)</summary>" in text
    assert "| 0 | input 0 | Accuracy | 4.0 | 4.0 | 0.0 |" in text


def test_tolerances_and_scores_come_from_the_report() -> None:
    tol = Tolerances(row=Decimal("-0.5"), avg=Decimal("-0.05"))
    text = render_summary(gate_report(row(0, judge(1, 4, 3), check(2, True, True)), tol=tol))
    assert "row delta ≥ -0.5, mean delta ≥ -0.05" in text
    assert "| Accuracy | LLM judge | 1 | 4.00 | 3.00 | **-1.00** | — | ≥ -0.05 |" in text
    significant = Tolerances(row=Decimal("-0.5"), avg=Decimal("-0.05"), avg_gate="significant")
    text = render_summary(
        gate_report(row(0, judge(1, 4, 3.8)), row(1, judge(1, 4, 4)), tol=significant)
    )
    assert "mean delta ≥ -0.05 or its 95% CI reaches 0" in text
    assert "| -0.10 | -1.37 to +1.17 | ≥ -0.05 or CI reaches 0 | ✅ · ⚠️ underpowered |" in text


def test_jinja2_is_imported_only_when_rendering() -> None:
    code = (
        "import sys, ckaction.render, ckaction.delivery;"
        "assert 'jinja2' not in sys.modules, 'eager';"
        "from tests.render.builders import passed; ckaction.render.render_summary(passed());"
        "assert 'jinja2' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_root()))


def _root() -> object:
    from pathlib import Path

    return Path(__file__).resolve().parents[2]
