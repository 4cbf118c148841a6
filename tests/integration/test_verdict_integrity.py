"""The verdict rests only on evidence the gate checked: every metric measured, a compare answer
that adds up, a reused run that is the plan's, no `::error` on a job told not to fail (issue 12)."""

from __future__ import annotations

import pytest

from ckaction.emulator import Fault, Verdict
from tests.factories import comparison, judge, responses, row
from tests.integration import test_prompt_files_gate as files
from tests.integration.helpers import api_root, gate_step

COMPARE = r"/runs/\d+/compare$"


def no_regression(emulated) -> None:
    """The seeded candidate scores like the baseline on every row: a gate on it passes."""
    ids = emulated.ids
    ids.judge.scores[(ids.prompt_v2_id, ids.regressed_row_index, ids.regressed_metric_name)] = 4


def test_a_metric_judged_on_one_row_of_ten_is_not_measured(emulated, action_env):
    no_regression(emulated)
    ids, scripted = emulated.ids, emulated.emulator.judge

    def judge_helpfulness_once(call):
        candidate = call.prompt.get("id") == ids.prompt_v2_id
        if candidate and call.metric["name"] == "Helpfulness" and call.row_index != 0:
            return Verdict(score=None, passed=None, feedback="judge provider 503", failed=True)
        return scripted(call)

    emulated.emulator.judge = judge_helpfulness_once
    result = gate_step(emulated, action_env)
    assert result.code == 2 and result.outputs["result"] == "error", result.summary_text
    assert "Helpfulness: 9 of 10 paired rows (90%) have no score" in result.summary_text
    allowed = gate_step(emulated, action_env, **{"max-unscored": "1"})
    assert allowed.code == 0, allowed.summary_text


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        ("delta", "a delta the scores do not give"),
        ("runs", "answered with a comparison of run"),
        ("repeat", "a baseline response listed again: row 0"),
        ("drop", "9 rows for the baseline run's 10 responses"),
        ("kind", "sent as `check`, it is `llm_judge`"),
    ],
)
@pytest.mark.parametrize("over_http", [False, True], ids=["in-process", "over-http"])
def test_a_tampered_compare_answer_is_refused_not_passed(
    emulated, action_env, tamper, says, over_http
):
    fault = Fault("GET", COMPARE, status=None, tamper=tamper)
    emulated.emulator.faults.append(fault)
    with api_root(emulated, over_http=over_http) as root:
        result = gate_step(emulated, action_env, over_http=over_http, **{"api-url": root})
    assert fault.hits == 1
    assert result.code == 2 and result.outputs["result"] == "error", result.summary_text
    assert "Comparison refused" in result.summary_text
    assert says in result.summary_text


def test_a_delta_that_contradicts_the_scores_names_the_rows(emulated, action_env):
    emulated.emulator.faults.append(Fault("GET", COMPARE, status=None, tamper="delta"))
    result = gate_step(emulated, action_env)
    regressed_metric = emulated.ids.regressed_metric_id
    assert (
        f"a delta the scores do not give (metric {regressed_metric}): "
        f"row {emulated.ids.regressed_row_index}" in result.summary_text
    )


def test_a_candidate_response_paired_twice_is_legitimate_a_baseline_one_is_not():
    from ckaction.decide import comparison_problems

    rows = (row(0, judge(1, 4, 4)), row(1, judge(1, 4, 3)))
    comp = comparison(*rows)
    left = responses(comp, side="left", inputs={0: "same", 1: "same"})
    right = responses(comp, side="right", inputs={0: "same", 1: "same"})
    first_candidate = comp.rows[0].right_response_id
    twice_right = comp.model_copy(
        update={
            "rows": [r.model_copy(update={"right_response_id": first_candidate}) for r in comp.rows]
        }
    )
    checked = {"baseline_responses": left, "candidate_responses": right, "metric_kinds": {}}
    assert comparison_problems(twice_right, **checked) == []
    first_baseline = comp.rows[0].left_response_id
    twice_left = comp.model_copy(
        update={
            "rows": [r.model_copy(update={"left_response_id": first_baseline}) for r in comp.rows]
        }
    )
    assert comparison_problems(twice_left, **checked) == ["a baseline response listed again: row 1"]


def test_a_run_tagged_by_another_flow_is_not_reused(emulated, action_env):
    first = gate_step(emulated, action_env)
    run_id = int(first.outputs["run-id"])
    emulated.emulator.update_run(run_id, {"tag_names": ["ckaction-gate", "ckaction-baseline"]})
    second = gate_step(emulated, action_env)
    assert second.outputs["run-id"] != str(run_id)
    assert "tagged ckaction-baseline by another flow" in second.stdout
    assert "Run not reused" in second.stdout


def test_a_run_re_judged_by_a_teammate_is_not_reused(emulated, action_env):
    first = gate_step(emulated, action_env)
    run_id = int(first.outputs["run-id"])
    no_regression(emulated)  # the re-judging hides the candidate's regression
    emulated.emulator.update_run(run_id, {"judge_model": "lenient-judge"})
    emulated.emulator.regrade(run_id)
    emulated.time.sleep(3600)  # the re-judging finishes
    second = gate_step(emulated, action_env)
    assert second.outputs["run-id"] != str(run_id)
    assert "judge model: run lenient-judge" in second.stdout


def test_a_run_renamed_to_the_gates_mark_by_a_teammate_is_not_reused(emulated, action_env):
    first = gate_step(emulated, action_env)
    ours = int(first.outputs["run-id"])
    mark = first.report["candidate_run"]["name"]
    no_regression(emulated)
    ids = emulated.ids
    theirs = emulated.emulator.add_completed_run(
        ids.prompt_v2_id,
        ids.dataset_id,
        ids.metric_ids,
        judge_model=ids.judge_model,
        tag_names=("ckaction-gate", "nightly"),
    )
    emulated.emulator.delete_run(ours)
    emulated.emulator.update_run(theirs["id"], {"name": mark})
    ids.judge.scores[(ids.prompt_v2_id, ids.regressed_row_index, ids.regressed_metric_name)] = 2
    second = gate_step(emulated, action_env)
    assert second.outputs["run-id"] not in (str(ours), str(theirs["id"]))
    assert second.code == 1, second.summary_text


def test_fail_on_regression_false_leaves_warnings_not_errors(emulated, action_env):
    result = gate_step(emulated, action_env, **{"fail-on-regression": "false"})
    assert result.code == 0 and result.outputs["result"] == "regressed"
    assert "::error" not in result.stdout
    assert "::warning title=Prompt regression%3A Accuracy::" in result.stdout
    blocking = gate_step(emulated, action_env, **{"reuse-runs": "false"})
    assert "::error title=Prompt regression%3A Accuracy::" in blocking.stdout


def test_a_content_addressed_run_tagged_by_another_flow_is_not_reused(emulated, action_env):
    """The same check for a prompt file's run, found by its content on another commit."""
    emu = emulated
    emu.emulator.judge = files.content_judge
    files.write(action_env, "prompts/support-reply.yml", files.PASSING)
    first = files.results(files.gate(emu, action_env))["prompts/support-reply.yml"]
    emulated.emulator.update_run(first["run-id"], {"tag_names": ["ckaction-gate", "nightly"]})
    second = files.gate(emu, action_env, GITHUB_SHA=files.OTHER_SHA)
    assert second.code == 0, second.stdout
    assert files.results(second)["prompts/support-reply.yml"]["run-id"] != first["run-id"]
    assert "tagged nightly by another flow" in second.stdout
