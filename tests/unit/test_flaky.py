"""The pure part of confirm before failing (`ckaction.flaky`): which rows are re-tested, the
dataset they are re-tested on, and each row's verdict from its N scores a side."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ckaction.decide import RowConfirmation, Tolerances, evaluate
from ckaction.emulator.records import parse_csv
from ckaction.flaky import (
    confirm_csv,
    cost,
    flagged_rows,
    judge_row,
    row_of,
    skip_reason,
    with_confirmations,
)
from tests.factories import check, comparison, judge, responses, row

TOL = Tolerances(row=Decimal("-1.0"), avg=Decimal("-5"))
RUNS = 3


def evaluated(*rows, tol=TOL):
    comp = comparison(*rows)
    return evaluate(
        comp,
        tol,
        baseline_responses=responses(comp, side="left"),
        candidate_responses=responses(comp, side="right"),
    )


def scores(*values: float) -> tuple[Decimal, ...]:
    return tuple(Decimal(str(v)) for v in values)


def flagged_one():
    evaluation = evaluated(row(0, judge(1, 5, 3)), row(1, judge(1, 4, 4)))
    (flagged,) = flagged_rows(evaluation)
    return evaluation, flagged


def test_a_row_whose_reruns_still_drop_is_confirmed():
    _, flagged = flagged_one()
    verdict = judge_row(
        flagged, {1: scores(5, 5, 4)}, {1: scores(3, 3, 4)}, runs=RUNS, tolerance=TOL.row
    )
    assert verdict.status == "confirmed"
    assert verdict.metrics[0].mean_delta == Decimal("-4") / 3


def test_a_row_whose_reruns_do_not_drop_is_flaky_and_the_tolerance_itself_is_not_a_drop():
    _, flagged = flagged_one()
    verdict = judge_row(
        flagged, {1: scores(5, 5, 5)}, {1: scores(4, 4, 4)}, runs=RUNS, tolerance=TOL.row
    )
    assert verdict.metrics[0].mean_delta == Decimal("-1")
    assert verdict.status == "flaky"  # -1.0 is not strictly below -1.0, as in the gate


def test_a_missing_score_on_either_side_is_unassessable():
    _, flagged = flagged_one()
    short = judge_row(
        flagged, {1: scores(5, 5)}, {1: scores(5, 5, 5)}, runs=RUNS, tolerance=TOL.row
    )
    assert short.status == "unassessable" and short.metrics[0].mean_delta is None
    none = judge_row(flagged, {}, {}, runs=RUNS, tolerance=TOL.row)
    assert none.status == "unassessable"


def test_one_confirmed_metric_confirms_the_row_even_if_another_is_unassessable():
    evaluation = evaluated(row(0, judge(1, 5, 3), judge(2, 5, 2)))
    (flagged,) = flagged_rows(evaluation)
    verdict = judge_row(
        flagged, {1: scores(5, 5, 5)}, {1: scores(2, 2, 2)}, runs=RUNS, tolerance=TOL.row
    )
    assert verdict.status == "confirmed"
    flaky_and_missing = judge_row(
        flagged, {1: scores(5, 5, 5)}, {1: scores(5, 5, 5)}, runs=RUNS, tolerance=TOL.row
    )
    assert flaky_and_missing.status == "unassessable"


@given(
    st.lists(st.integers(1, 5), min_size=RUNS, max_size=RUNS),
    st.lists(st.integers(1, 5), min_size=RUNS, max_size=RUNS),
)
def test_the_verdict_is_the_mean_delta_against_the_row_tolerance(base, new):
    _, flagged = flagged_one()
    verdict = judge_row(
        flagged, {1: scores(*base)}, {1: scores(*new)}, runs=RUNS, tolerance=TOL.row
    )
    mean_delta = Decimal(sum(new) - sum(base)) / RUNS
    assert verdict.status == ("confirmed" if mean_delta < TOL.row else "flaky")


def test_only_gates_failing_on_judge_row_regressions_alone_are_confirmed():
    rows_only = evaluated(row(0, judge(1, 5, 3)), row(1, judge(1, 4, 4)))
    assert skip_reason(rows_only) is None
    average = evaluated(
        row(0, judge(1, 5, 3)),
        row(1, judge(1, 4, 4)),
        tol=Tolerances(row=Decimal("-1.0"), avg=Decimal("-0.2")),
    )
    assert (skip_reason(average) or "").startswith("the mean of Accuracy regressed too")
    broken = evaluated(row(0, judge(1, 5, 3)), row(1, check(2, True, False)))
    assert (skip_reason(broken) or "").startswith("a check broke")


def test_confirmations_change_statuses_counts_metric_verdicts_and_the_result():
    evaluation = evaluated(row(0, judge(1, 5, 3)), row(1, judge(1, 5, 2)), row(2, judge(1, 4, 4)))
    first, second = flagged_rows(evaluation)
    assert evaluation.result == "regressed" and evaluation.counts.regressed == 2
    both_flaky = with_confirmations(
        evaluation,
        {
            first.baseline_response_id: RowConfirmation("flaky", ()),
            second.baseline_response_id: RowConfirmation("flaky", ()),
        },
        TOL,
    )
    assert both_flaky.result == "passed" and both_flaky.reasons == ()
    assert both_flaky.counts.regressed == 0 and both_flaky.counts.flaky == 2
    assert both_flaky.metrics[0].rows_regressed == 0 and both_flaky.regressed_rows == []
    one_kept = with_confirmations(
        evaluation,
        {
            first.baseline_response_id: RowConfirmation("flaky", ()),
            second.baseline_response_id: RowConfirmation("unassessable", ()),
        },
        TOL,
    )
    assert one_kept.result == "regressed" and one_kept.counts.regressed == 1
    assert [r.status for r in one_kept.regressed_rows] == ["unassessable"]
    assert one_kept.metrics[0].rows_regressed == 1


def test_the_cost_is_both_prompts_n_times_on_every_flagged_row():
    assert cost(rows=4, runs=3) == 24


HOSTILE_VALUES = [
    "plain",
    "a, comma",
    'a "quote"',
    "two\nlines",
    "",
    " padded ",
    "=cmd|' /C calc'!A0",
    "ünïcödé 🙂",
]


def test_the_confirm_csv_gives_back_every_row_exactly():
    rows = [
        {"question": value, "expected_output": HOSTILE_VALUES[-1 - i]}
        for i, value in enumerate(HOSTILE_VALUES)
    ]
    text = confirm_csv(rows)
    header, parsed = parse_csv(text)  # the emulator's reading
    assert header == ["question", "expected_output"] and parsed == rows
    # A strict reader with the header as keys (the engine's `CSV.parse(headers: true)`).
    reader = csv.DictReader(io.StringIO(text), strict=True)
    assert list(reader) == rows
    assert text.startswith('"question","expected_output"\n"plain","')  # every field quoted


def test_a_row_is_rebuilt_from_the_engines_input_data_and_nothing_else_is():
    encoded = json.dumps({"q": "hi", "n": 3, "none": None})
    assert row_of(encoded) == {"q": "hi", "n": "3", "none": ""}
    for not_a_row in (None, "", "[1, 2]", "{}", "not json", '{"nested": {"a": 1}}'):
        assert row_of(not_a_row) is None, not_a_row
