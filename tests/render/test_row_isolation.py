"""One bad row cannot blank the report: what a row cannot show is replaced and said, and the
summary, the comment and the outputs are still delivered (issue 12, "Hostile files and events")."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from ckaction.decide import UNSHOWABLE_INPUT
from ckaction.emulator import Verdict
from ckaction.render import render_comment, render_summary
from tests.factories import judge, row
from tests.integration.helpers import run_action
from tests.render.builders import gate_report

LONE_SURROGATE = "\ud800"
REPLACEMENT = "\ufffd"
DEEP_NESTING = "[" * 100_000 + "]" * 100_000
"""Deeper than Python's JSON decoder can go: reading it raises RecursionError."""


def gate(emulated, action_env):
    inputs = {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    return run_action(emulated, action_env, {**inputs, "comment": "false"})


def delivered(result) -> None:
    """The verdict stands (the seeded candidate regresses one row) and every output was written."""
    assert result.code == 1, result.summary_text
    assert result.outputs["result"] == "regressed"
    assert result.summary.startswith("## ❌ Prompt gate")
    assert result.report is not None and result.report["result"] == "regressed"


def bad_baseline_input(emulated, text: str) -> None:
    """Row 0 of the baseline run carries `text` as its input (so it pairs with no candidate row)."""
    baseline = emulated.emulator._runs[emulated.ids.baseline_run_id]
    baseline.responses[0].input_data = text


def test_a_lone_surrogate_in_a_rationale_is_replaced_and_the_rest_delivered(emulated, action_env):
    scripted = emulated.emulator.judge

    def judge_with_a_lone_surrogate(call):
        verdict = scripted(call)
        return Verdict(verdict.score, verdict.passed, f"broken {LONE_SURROGATE} text")

    emulated.emulator.judge = judge_with_a_lone_surrogate
    result = gate(emulated, action_env)
    delivered(result)
    assert f"broken {REPLACEMENT} text" in result.summary_text
    assert LONE_SURROGATE not in result.everything


def test_a_lone_surrogate_in_a_row_input_is_replaced_and_the_rest_delivered(emulated, action_env):
    bad_baseline_input(emulated, f'{{"message": "where is my ord{LONE_SURROGATE}er"}}')
    result = gate(emulated, action_env)
    delivered(result)
    assert f"where is my ord{REPLACEMENT}er" in result.summary_text
    assert result.report["counts"]["missing"] == 1


def test_a_row_input_nested_too_deep_to_read_is_said_and_the_rest_delivered(emulated, action_env):
    bad_baseline_input(emulated, DEEP_NESTING)
    result = gate(emulated, action_env)
    delivered(result)
    assert UNSHOWABLE_INPUT in result.summary_text
    assert result.report["counts"]["missing"] == 1


def test_a_row_the_renderer_cannot_format_is_replaced_and_said():
    """The last line of defence, past every check at the boundary: a row whose delta no format
    accepts (a signalling NaN) is one line that says so; the other rows are shown whole."""
    report = gate_report(row(0, judge(1, 4, 4)), row(1, judge(1, 4, 4)), row(2, judge(1, 5, 2)))
    evaluation = report.facts.evaluation
    first = evaluation.rows[0]
    unformattable = replace(
        first, cells=tuple(replace(cell, delta=Decimal("sNaN")) for cell in first.cells)
    )
    evaluation = replace(evaluation, rows=(unformattable, *evaluation.rows[1:]))
    report = replace(report, facts=replace(report.facts, evaluation=evaluation))
    for text in (render_summary(report), render_comment(report)):
        assert "| row 0 | _could not be shown (InvalidOperation); see the JSON report_ |" in text
        assert "| 1 | input 1 | Accuracy | 4.0 | 4.0 | 0.0 |" in text
        assert "| 2 | input 2 | Accuracy | 5.0 | 2.0 | **-3.0** |" in text
