from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckaction.decide import Tolerances, display_input, evaluate
from ckaction.errors import NothingMeasured
from tests.factories import check, comparison, judge, responses, row

TOL = Tolerances(row=Decimal("-1.0"), avg=Decimal("-0.2"))


def run(comp, tol=TOL, extra_inputs=()):
    return evaluate(
        comp,
        tol,
        baseline_responses=responses(comp, side="left"),
        candidate_responses=responses(comp, side="right", extra_inputs=extra_inputs),
    )


def test_a_row_that_drops_past_the_row_tolerance_regresses_worst_first():
    comp = comparison(
        row(0, judge(1, 5, 5)),
        row(1, judge(1, 5, 3)),
        row(2, judge(1, 4, 2.5)),
        row(3, judge(1, 3, 4)),
    )
    ev = run(comp, Tolerances(row=Decimal("-1.0"), avg=Decimal("-5")))
    assert ev.result == "regressed"
    assert [r.row_index for r in ev.regressed_rows] == [1, 2]
    assert ev.counts.regressed == 2 and ev.counts.improved == 1 and ev.counts.unchanged == 1
    assert ev.regressed_rows[0].regressed_cells[0].rationale == "rationale 1/1"
    assert ev.regressed_rows[0].input == "input 1"


def test_a_delta_equal_to_the_tolerance_is_not_a_regression():
    comp = comparison(
        row(0, judge(1, 5, 4)),
        row(1, judge(1, 5, 5)),
        row(2, judge(1, 5, 5)),
        row(3, judge(1, 5, 5)),
        row(4, judge(1, 5, 5)),
    )
    ev = run(comp)
    assert ev.result == "passed"  # -1.0 is not strictly below -1.0; mean -0.2 not below -0.2


def test_average_drift_fails_without_any_row_regression():
    comp = comparison(*[row(i, judge(1, 5, 4.5)) for i in range(10)])
    ev = run(comp)
    assert ev.counts.regressed == 0
    assert ev.result == "regressed"
    assert ev.metrics[0].mean_delta == Decimal("-0.5")
    assert "mean delta -0.50" in ev.reasons[0]


def test_a_broken_check_regresses_the_row_but_checks_have_no_average_gate():
    comp = comparison(row(0, check(5, True, False)), row(1, check(5, False, True)))
    ev = run(comp)
    assert ev.result == "regressed"
    assert ev.counts.regressed == 1 and ev.counts.improved == 1
    metric = ev.metrics[0]
    assert (metric.kind, metric.broke, metric.fixed, metric.tolerance) == ("check", 1, 1, None)


def test_missing_and_new_cases_are_counted_not_failed():
    comp = comparison(row(0, judge(1, 4, 4)), row(1, judge(1, 4, None), missing=True))
    ev = run(comp, extra_inputs=("brand new case",))
    assert ev.result == "passed"
    assert (ev.counts.compared, ev.counts.missing, ev.counts.new_cases) == (1, 1, 1)


def test_paired_but_unscored_rows_are_reported_as_unscored():
    comp = comparison(row(0, judge(1, 4, 4)), row(1, judge(1, 4, None)))
    ev = run(comp, Tolerances(row=Decimal("-1"), avg=Decimal("-0.2"), max_unscored=Decimal("0.5")))
    assert ev.counts.unscored == 1 and ev.counts.compared == 1


def test_too_many_unscored_rows_is_an_error_not_a_pass():
    comp = comparison(row(0, judge(1, 4, 4)), *[row(i, judge(1, 5, None)) for i in range(1, 10)])
    with pytest.raises(NothingMeasured) as caught:
        run(comp)
    assert "9 of 10 paired rows" in caught.value.message


def test_a_required_metric_with_no_pair_is_an_error():
    comp = comparison(*[row(i, judge(1, 4, None), check(2, True, True)) for i in range(3)])
    with pytest.raises(NothingMeasured) as caught:
        evaluate(
            comp,
            TOL,
            baseline_responses=responses(comp, side="left"),
            candidate_responses=responses(comp, side="right"),
            required_metrics=(1, 2),
        )
    assert "Accuracy" in caught.value.message
    # A metric the candidate was not asked to score (a narrowed metric set) is only reported.
    comp = comparison(*[row(i, judge(1, 4, None), check(2, True, True)) for i in range(3)])
    ev = evaluate(
        comp,
        TOL,
        baseline_responses=responses(comp, side="left"),
        candidate_responses=responses(comp, side="right"),
        required_metrics=(2,),
    )
    assert ev.result == "passed"


def test_a_label_also_signs_off_an_average_regression():
    from ckaction.signoff import LabelSignOff, SignOffs

    comp = comparison(*[row(i, judge(1, 5, 4)) for i in range(10)])
    ev = evaluate(
        comp,
        TOL,
        baseline_responses=responses(comp, side="left"),
        candidate_responses=responses(comp, side="right"),
        signoffs=SignOffs(label=LabelSignOff("approved", "maria")),
    )
    assert ev.result == "passed"
    assert ev.metrics[0].avg_signed_off and "maria" in ev.metrics[0].avg_signed_off


def test_nothing_measured_is_an_error_never_a_pass():
    comp = comparison(row(0, judge(1, 4, None)), row(1, judge(1, 4, None), missing=True))
    with pytest.raises(NothingMeasured):
        run(comp)


def test_string_scores_and_missing_delta_are_computed():
    comp = comparison(row(0, judge(1, "5.0", "2.0", delta=None)))
    ev = run(comp)
    cell = ev.rows[0].cells[0]
    assert cell.delta == Decimal("-3.0")
    assert ev.result == "regressed"


def test_metric_version_drift_is_detected():
    comp = comparison(row(0, judge(1, 4, 4, right_version=2)))
    assert run(comp).version_drift == ("Accuracy",)


def test_display_input_hides_answer_keys():
    assert display_input('{"text": "Hello", "expected_output": "Hi"}') == "Hello"
    assert display_input('{"a": "1", "b": "2"}') == "a: 1; b: 2"
    assert display_input("not json") == "not json"


scores = st.integers(min_value=1, max_value=5)
tolerances = st.decimals(min_value=-4, max_value=0, places=1)


@given(left=scores, right=scores, row_tol=tolerances)
def test_row_rule_is_strictly_below(left, right, row_tol):
    comp = comparison(row(0, judge(1, left, right)))
    ev = run(comp, Tolerances(row=row_tol, avg=Decimal("-99")))
    assert (ev.counts.regressed == 1) == (Decimal(right - left) < row_tol)


@given(pairs=st.lists(st.tuples(scores, scores), min_size=1, max_size=30), avg_tol=tolerances)
def test_average_rule_matches_the_mean_of_deltas(pairs, avg_tol):
    comp = comparison(*[row(i, judge(1, a, b)) for i, (a, b) in enumerate(pairs)])
    ev = run(comp, Tolerances(row=Decimal("-99"), avg=avg_tol))
    mean = sum(Decimal(b - a) for a, b in pairs) / len(pairs)
    assert ev.metrics[0].mean_delta == mean
    assert (ev.result == "regressed") == (mean < avg_tol)
