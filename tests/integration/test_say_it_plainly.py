"""Say it plainly (issue 14), in the runner's log and the summary: a comparison that is not
like-for-like is an annotation as well as a summary line, and after a judge-model change its hint
rebaselines with the new judge; a regression is a finding with its own group and prefix, an `::error`
only when the job fails on it; a notice says where the JSON report is. In process (`gate_step`)."""

from __future__ import annotations

import re

from ckaction.emulator.seed import DEMO_JUDGE_MODEL
from tests.conftest import ActionEnv, Emulated
from tests.integration.helpers import gate_step

NEW_JUDGE = "gpt-4.1"


def annotations(stdout: str, level: str) -> list[str]:
    return [
        line for line in stdout.splitlines() if line.startswith((f"::{level} ", f"::{level}::"))
    ]


def test_a_judge_change_is_annotated_and_its_hint_rebaselines_with_the_new_judge(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = gate_step(emulated, action_env, **{"judge-model": NEW_JUDGE})
    baseline = emulated.ids.baseline_run_id
    command = f"ckaction rebaseline --baseline-run-id {baseline} --judge-model {NEW_JUDGE}"
    (warning,) = [w for w in annotations(result.stdout, "warning") if "like-for-like" in w]
    assert warning.startswith("::warning title=Baseline not like-for-like::the comparison is not")
    assert f"judge model: baseline `{DEMO_JUDGE_MODEL}`, candidate `{NEW_JUDGE}`" in warning
    assert warning.endswith(command)
    assert f"with the new judge: `{command}`" in result.summary
    assert result.report is not None and result.report["rebaseline_command"] == command


def test_with_on_stale_baseline_fail_the_error_hint_names_the_new_judge(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    inputs = {"judge-model": NEW_JUDGE, "on-stale-baseline": "fail"}
    result = gate_step(emulated, action_env, **inputs)
    assert result.code == 2
    assert f"--judge-model {NEW_JUDGE}` (or command: rebaseline)" in result.summary_text
    assert not [w for w in annotations(result.stdout, "warning") if "like-for-like" in w]


def test_a_like_for_like_gate_has_no_such_annotation_and_its_hint_is_a_plain_rerun(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = gate_step(emulated, action_env)
    assert not [w for w in annotations(result.stdout, "warning") if "like-for-like" in w]
    assert result.report is not None and result.report["rebaseline_command"] is None


def test_a_regression_that_does_not_fail_the_job_is_no_error_in_the_log(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = gate_step(emulated, action_env, **{"fail-on-regression": "false"})
    assert result.code == 0 and result.outputs["result"] == "regressed"
    assert annotations(result.stdout, "error") == []
    assert annotations(result.stdout, "warning") == [
        "::warning title=Prompt regression%3A Accuracy::1 row regressed"
    ]
    assert "::group::Regressions: 1 row regressed" in result.stdout
    assert re.search(r"^regression: row \d+: Accuracy 4", result.stdout, re.MULTILINE)


def test_a_notice_says_where_the_json_report_is(emulated: Emulated, action_env: ActionEnv) -> None:
    result = gate_step(emulated, action_env, **{"report-path": "out/eval.json"})
    assert annotations(result.stdout, "notice") == [
        "::notice::JSON report written to out/eval.json in the workspace."
    ]
    assert (action_env.workspace / "out" / "eval.json").is_file()
