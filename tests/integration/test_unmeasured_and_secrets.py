"""What a gate must not do: pass on what it did not measure, or write a secret anywhere."""

from __future__ import annotations

from ckaction.emulator import GenerationError, Verdict
from tests.conftest import TOKEN
from tests.integration.helpers import gate_step, run_action


def test_a_judge_outage_on_the_candidate_is_an_error_not_a_pass(emulated, action_env):
    ids, scripted = emulated.ids, emulated.emulator.judge

    def judge(call):
        if call.prompt.get("id") == ids.prompt_v2_id and call.metric["metric_type"] != "check":
            return Verdict(score=None, passed=None, feedback="judge provider 503", failed=True)
        return scripted(call)

    emulated.emulator.judge = judge
    result = gate_step(emulated, action_env)
    assert result.code == 2 and result.outputs["result"] == "error"
    assert "Nothing was measured" in result.summary_text
    assert "Helpfulness: no row has a score on both runs" in result.summary_text


def test_most_rows_failing_to_generate_is_an_error_not_a_pass(emulated, action_env):
    def generator(prompt, row):
        if row["order_number"] != "10482":
            raise GenerationError("provider timeout")
        return "Your order #10482 is on its way."

    emulated.emulator.generator = generator
    result = gate_step(emulated, action_env)
    assert result.code == 2
    assert "9 of 10 paired rows were not scored" in result.summary_text
    allowed = gate_step(emulated, action_env, **{"max-unscored": "1"})
    assert allowed.code == 0, allowed.summary_text
    assert allowed.report["counts"]["unscored"] == 9


def test_a_label_signs_off_an_average_drop_too(emulated, action_env):
    ids, scripted = emulated.ids, emulated.emulator.judge
    for index in range(10):
        scripted.scores[(ids.prompt_v2_id, index, "Accuracy")] = 3  # every row -1: a pure drift
    payload = {
        "action": "labeled",
        "label": {"name": "prompt-regression-approved"},
        "sender": {"login": "maria"},
        "pull_request": {"number": 3, "labels": [{"name": "prompt-regression-approved"}]},
    }
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "prompt-id": str(ids.prompt_v2_id), "comment": "false"},
        event="pull_request",
        payload=payload,
    )
    assert result.code == 0, result.summary_text
    assert any("@maria" in used for used in result.report["signoffs"]["used"])


def test_a_rerun_of_the_job_does_not_reuse_a_run_that_completed_without_scores(
    emulated, action_env
):
    ids, scripted = emulated.ids, emulated.emulator.judge
    outage = {"on": True}

    def judge(call):
        if outage["on"] and call.prompt.get("id") == ids.prompt_v2_id:
            return Verdict(score=None, passed=None, feedback="outage", failed=True)
        return scripted(call)

    emulated.emulator.judge = judge
    first = gate_step(emulated, action_env)
    assert first.code == 2
    outage["on"] = False
    second = gate_step(emulated, action_env)
    assert second.code == 1, second.summary_text
    assert second.outputs["run-id"] != first.outputs["run-id"]


def test_secrets_echoed_by_the_judge_stay_out_of_the_report_and_summary(emulated, action_env):
    scripted = emulated.emulator.judge

    def judge(call):
        verdict = scripted(call)
        return Verdict(verdict.score, verdict.passed, f"Authorization: Bearer {TOKEN}")

    emulated.emulator.judge = judge
    result = gate_step(emulated, action_env)
    assert result.code == 1
    report_text = (action_env.workspace / "ckaction-report.json").read_text()
    assert TOKEN not in report_text and "***" in report_text
    assert TOKEN not in result.summary


def test_an_error_body_cut_mid_token_leaks_no_part_of_it(emulated, action_env):
    from ckaction.emulator import Fault

    body = "x" * 150 + f" Authorization: Bearer {TOKEN}"
    emulated.emulator.faults.append(Fault("GET", r"/prompts/\d+$", status=404, body=body))
    result = gate_step(emulated, action_env)
    assert result.code == 2
    assert TOKEN[:12] not in result.everything.replace(f"::add-mask::{TOKEN}", "")
