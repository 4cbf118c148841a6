"""The confirm section (`confirm-runs`): the cost line, the re-tested rows with their verdicts and
scores, flaky rows listed and not counted as regressions; hostile inputs and metric names stay
text, in well-formed tables, in the comment and in the summary."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from ckaction.decide import MetricRecheck, RowConfirmation, Tolerances
from ckaction.flaky import ConfirmFacts, with_confirmations
from ckaction.markdown import shorten
from ckaction.render import SUMMARY, render_comment, render_summary
from ckaction.report import Report
from tests.render.builders import HOSTILE, HOSTILE_NAME, gate_report, judge, row
from tests.render.gfm import tables, visible
from tests.render.test_gfm import assert_well_formed

TOL = Tolerances(row=Decimal("-1.0"), avg=Decimal("-5"))
RUNS = 3


def scores(*values: int) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def confirmed_report() -> Report:
    """Three flagged rows with hostile inputs and metric names: one flaky, one confirmed, one
    whose confirm runs failed."""
    report = gate_report(
        row(0, judge(1, 5, 2, name=HOSTILE_NAME)),
        row(1, judge(1, 5, 3, name=HOSTILE_NAME)),
        row(2, judge(1, 4, 1, name=HOSTILE_NAME)),
        row(3, judge(1, 4, 4, name=HOSTILE_NAME)),
        tol=TOL,
        inputs={i: f"{i}: {HOSTILE}" for i in range(4)},
    )
    evaluation = report.evaluation
    assert evaluation is not None
    first, second, third = evaluation.rows[:3]

    def recheck(base: tuple[Decimal, ...], new: tuple[Decimal, ...]) -> tuple[MetricRecheck]:
        return (MetricRecheck(1, HOSTILE_NAME, RUNS, base, new),)

    verdicts = {
        first.baseline_response_id: RowConfirmation(
            "flaky", recheck(scores(4, 4, 4), scores(5, 4, 4))
        ),
        second.baseline_response_id: RowConfirmation(
            "confirmed", recheck(scores(5, 5, 5), scores(3, 3, 2))
        ),
        third.baseline_response_id: RowConfirmation("unassessable", ()),
    }
    confirmed = with_confirmations(evaluation, verdicts, TOL)
    facts = ConfirmFacts(RUNS, 3, 18, dataset_id=9, run_ids=tuple(range(10, 16)))
    return Report(
        result=confirmed.result,
        tolerances=TOL,
        facts=replace(report.facts, evaluation=confirmed, confirmation=facts),
    )


@pytest.mark.parametrize("render", [render_comment, render_summary], ids=["comment", "summary"])
def test_the_confirm_section_is_well_formed_and_hostile_text_stays_text(render) -> None:
    report = confirmed_report()
    markdown = render(report)
    assert_well_formed(markdown, report, comment=render is render_comment)
    assert "Confirming 3 flagged rows before failing" in markdown
    assert "18 more row evaluations (2 × 3 × 3)" in markdown
    assert "1 confirmed, 1 flaky (listed, not failing), 1 unassessable (verdict kept)." in markdown
    confirm = next(t for t in tables(markdown) if "Mean delta over the reruns" in t.header)
    verdicts = [cells[3] for cells in confirm.rows]
    assert verdicts == ["⚠️ flaky, not failing", "❌ confirmed", "❌ unassessable, verdict kept"]
    assert [cells[5:] for cells in confirm.rows] == [
        ["+0.33", "4, 4, 4", "5, 4, 4"],
        ["-2.33", "5, 5, 5", "3, 3, 2"],
        ["—", "—", "—"],
    ]


def test_flaky_rows_are_not_regressions_and_the_failing_ones_are() -> None:
    report = confirmed_report()
    assert report.result == "regressed"
    assert report.counts.regressed == 2 and report.counts.flaky == 1
    markdown = render_summary(report)
    regressed = markdown.split("### Regressed rows, worst first (2)")[1].split("###")[0]
    assert "0: " not in visible(regressed)  # the flaky row 0 is not among them
    first = tables(markdown.split("### Confirm before failing")[1])[0].rows[0]
    assert visible(first[1]) == shorten(f"0: {HOSTILE}", SUMMARY.input_limit)


def flaky_only_report() -> Report:
    """One flagged row, and the confirm found it flaky: the gate passes."""
    report = gate_report(row(0, judge(1, 5, 2)), row(1, judge(1, 4, 4)), tol=TOL)
    evaluation = report.evaluation
    assert evaluation is not None
    flagged = evaluation.rows[0]
    verdicts = {
        flagged.baseline_response_id: RowConfirmation(
            "flaky", (MetricRecheck(1, "judge", RUNS, scores(4, 4, 4), scores(5, 4, 4)),)
        )
    }
    confirmed = with_confirmations(evaluation, verdicts, TOL)
    return Report(
        result=confirmed.result,
        tolerances=TOL,
        facts=replace(report.facts, evaluation=confirmed, confirmation=ConfirmFacts(RUNS, 1, 6)),
    )


@pytest.mark.parametrize("render", [render_comment, render_summary], ids=["comment", "summary"])
def test_a_gate_green_only_because_its_rows_proved_flaky_says_so_in_its_headline(render) -> None:
    """Fails before the fix: the headline read "passed: no regression", hiding the flagged row."""
    report = flaky_only_report()
    assert report.result == "passed" and report.counts.flaky == 1
    headline = next(line for line in render(report).splitlines() if line.startswith("## "))
    assert "no regression" not in headline
    assert "1 flaky row" in headline
