"""The gate end to end: entrypoint.py as a subprocess, the emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import re

import pytest

from ckaction.emulator import Fault, GenerationError
from tests.conftest import TOKEN
from tests.integration.helpers import run_action


def posts(emulator, pattern):
    return [r for r in emulator.requests if r.method == "POST" and re.search(pattern, r.path)]


def test_a_regressing_candidate_fails_with_outputs_summary_and_report(emulated, action_env):
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout + result.stderr
    out = result.outputs
    assert out["result"] == "regressed" and out["passed"] == "false"
    assert out["regressions"] == "1"
    assert out["baseline-run-id"] == str(emulated.ids.baseline_run_id)
    assert out["prompt-id"] == str(emulated.ids.prompt_v2_id)
    assert out["run-id"].isdigit() and out["run-id"] != out["baseline-run-id"]
    assert out["report"] == "ckaction-report.json"
    assert float(out["avg-score"]) > 0
    assert "Regressed rows" in result.summary and "Accuracy" in result.summary
    assert result.report["result"] == "regressed"
    regressed = [r for r in result.report["rows"] if r["status"] == "regressed"]
    assert [r["row_index"] for r in regressed] == [emulated.ids.regressed_row_index]
    assert "Traceback" not in result.everything
    assert len(posts(emulated.emulator, r"/runs$")) == 1
    assert len(posts(emulated.emulator, r"/generate$")) == 1


def test_the_live_prompt_passes_and_a_gate_run_never_becomes_a_baseline(emulated, action_env):
    first = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v1_id)}
    )
    assert first.code == 0, first.stdout
    assert first.outputs["result"] == "passed" and first.outputs["passed"] == "true"
    assert first.outputs["regressions"] == "0"
    second = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)},
        GITHUB_SHA="fedcba9876543210fedcba9876543210fedcba98",
    )
    assert second.outputs["baseline-run-id"] == str(emulated.ids.baseline_run_id)


def test_fail_on_regression_false_reports_and_exits_zero(emulated, action_env):
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "prompt-id": str(emulated.ids.prompt_v2_id),
            "fail-on-regression": "false",
        },
    )
    assert result.code == 0
    assert result.outputs["result"] == "regressed" and result.outputs["passed"] == "false"


def test_invalid_inputs_fail_before_any_network_call(emulated, action_env):
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "prompt-id": "v2", "row-tolerance": "x", "metric-ids": "1,a"},
    )
    assert result.code == 2
    assert emulated.emulator.requests == []
    for name in ("prompt-id", "row-tolerance", "metric-ids"):
        assert f"::error title=Invalid input {name}::" in result.stdout
    assert result.outputs["result"] == "error"
    assert "Traceback" not in result.everything


def test_missing_required_inputs_are_named(emulated, action_env):
    result = run_action(emulated, action_env, {"api-token": "", "api-url": ""})
    assert result.code == 2
    for name in ("api-token", "org", "prompt-id"):
        assert f"Invalid input {name}" in result.stdout


def test_a_wrong_token_is_a_clear_401_and_the_token_is_never_printed(emulated, action_env):
    wrong = "ck-wrong-token-abcdefgh"
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "api-token": wrong, "prompt-id": str(emulated.ids.prompt_v2_id)},
    )
    assert result.code == 2
    assert "401" in result.stdout and "api-token" in result.stdout
    assert f"::add-mask::{wrong}" in result.stdout
    assert wrong not in result.everything.replace(f"::add-mask::{wrong}", "")


def test_an_error_body_echoing_the_token_is_redacted_everywhere(emulated, action_env):
    emulated.emulator.faults.append(
        Fault(
            "GET", r"/prompts/\d+$", status=500, body=f'{{"error": "bad token {TOKEN}"}}', times=10
        )
    )
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 2
    assert TOKEN not in result.everything.replace(f"::add-mask::{TOKEN}", "")
    assert "***" in result.stdout


def test_an_unknown_prompt_is_named(emulated, action_env):
    result = run_action(emulated, action_env, {"api-url": emulated.url, "prompt-id": "999"})
    assert result.code == 2
    assert "prompt 999" in result.stdout and "prompt 999" in result.summary_text


def test_a_failed_run_is_an_error_showing_its_failure_summary(emulated, action_env):
    def broken(prompt, row):
        raise GenerationError("model overloaded")

    emulated.emulator.generator = broken
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 2
    assert result.outputs["result"] == "error"
    assert "Every response failed to generate" in result.summary_text


def test_timeout_names_the_run_still_going(emulated, action_env):
    emulated.emulator.run_duration = 120
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "prompt-id": str(emulated.ids.prompt_v2_id),
            "timeout-minutes": "0.02",
        },
    )
    assert result.code == 2
    run_id = result.outputs["run-id"]
    assert run_id
    assert f"Run {run_id} did not finish" in result.summary_text
    assert f"/runs/{run_id}" in result.summary


def test_no_judge_model_stops_before_creating_a_run(emulated, action_env):
    emu = emulated.emulator
    ids = emulated.ids
    bare = emu.add_completed_run(
        ids.prompt_v1_id, ids.dataset_id, ids.metric_ids[2:], judge_model=None
    )
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "prompt-id": str(ids.prompt_v2_id),
            "baseline-run-id": str(ids.baseline_run_id),
            "metric-ids": ",".join(map(str, ids.metric_ids)),
        },
    )
    assert result.code == 1  # inherits gpt-4o-mini from the scored baseline: a real gate
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "prompt-id": str(ids.prompt_v2_id),
            "baseline-run-id": str(bare["id"]),
            "metric-ids": ",".join(map(str, ids.metric_ids)),
        },
        GITHUB_SHA="1111111111111111111111111111111111111111",
    )
    assert result.code == 2
    assert "judge-model" in result.summary_text
    created = posts(emu, r"/runs$")
    assert len(created) == 1  # only the first gate created a run


def test_a_create_that_landed_behind_a_502_is_found_not_duplicated(emulated, action_env):
    emulated.emulator.faults.append(Fault("POST", r"/runs$", status=502, after_processing=True))
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    runs = (
        emulated.emulator.list_runs().items if hasattr(emulated.emulator.list_runs(), "items") else None
    )
    gate_runs = [
        r for r in emulated.emulator.requests if r.method == "POST" and r.path.endswith("/runs")
    ]
    assert len(gate_runs) == 1
    assert "Uncertain create" in result.stdout
    assert runs is None or sum(1 for r in runs if "ckaction gate" in (r.get("name") or "")) == 1


def test_a_create_that_never_landed_is_sent_again(emulated, action_env):
    emulated.emulator.faults.append(Fault("POST", r"/runs$", status=503))
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    assert len(posts(emulated.emulator, r"/runs$")) == 2


def test_a_start_that_landed_behind_a_504_is_not_sent_twice(emulated, action_env):
    emulated.emulator.faults.append(Fault("POST", r"/generate$", status=504, after_processing=True))
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    assert len(posts(emulated.emulator, r"/generate$")) == 1


def test_rate_limits_and_server_errors_on_reads_are_retried(emulated, action_env):
    emulated.emulator.faults.append(Fault("GET", r"/runs/\d+$", status=429, times=2))
    emulated.emulator.faults.append(Fault("GET", r"/compare$", status=503, times=1))
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout


def test_a_malformed_body_is_an_error_not_a_crash(emulated, action_env):
    emulated.emulator.faults.append(Fault("GET", r"/compare$", malformed=True, times=10))
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 2
    assert "not JSON" in result.summary_text
    assert "Traceback" not in result.everything


def test_a_smoke_subset_reports_missing_rows_and_new_cases_without_failing(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    smoke = emu.add_dataset(
        "smoke",
        [
            {
                "customer_message": "Where is my parcel? It was due on Monday.",
                "order_number": "10482",
                "expected_output": "Apologise, confirm order #10482 is in transit, give the new date.",
            },
            {"customer_message": "A brand new case", "order_number": "1", "expected_output": "x"},
        ],
    )
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "prompt-id": str(ids.prompt_v1_id), "dataset-id": str(smoke["id"])},
    )
    assert result.code == 0, result.stdout
    counts = result.report["counts"]
    assert counts["missing"] == 9 and counts["compared"] == 1 and counts["new_cases"] == 1
    assert any("dataset" in item for item in result.report["not_like_for_like"])


def test_a_second_gate_on_the_same_commit_pays_for_no_new_run(emulated, action_env):
    inputs = {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    first = run_action(emulated, action_env, inputs)
    second = run_action(emulated, action_env, inputs)
    assert first.code == second.code == 1
    assert first.outputs["run-id"] == second.outputs["run-id"]
    assert len(posts(emulated.emulator, r"/runs$")) == 1
    assert second.report["reused_run"] is True


def test_reuse_runs_false_creates_a_new_run(emulated, action_env):
    inputs = {
        "api-url": emulated.url,
        "prompt-id": str(emulated.ids.prompt_v2_id),
        "reuse-runs": "false",
    }
    run_action(emulated, action_env, inputs)
    run_action(emulated, action_env, inputs)
    assert len(posts(emulated.emulator, r"/runs$")) == 2


def test_a_fork_pr_without_the_secret_says_so_plainly(emulated, action_env):
    payload = {
        "pull_request": {
            "number": 7,
            "head": {"repo": {"full_name": "someone/prompts"}},
            "base": {"repo": {"full_name": "acme/prompts"}},
        }
    }
    result = run_action(
        emulated,
        action_env,
        {"api-token": "", "api-url": emulated.url, "prompt-id": "1"},
        event="pull_request",
        payload=payload,
    )
    assert result.code == 2
    assert "fork" in result.summary_text and "workflow_run" in result.summary_text
    assert emulated.emulator.requests == []


@pytest.mark.parametrize("hostile", ["::error::forged annotation", "line\n::warning::x"])
def test_row_text_cannot_forge_workflow_commands(emulated, action_env, hostile):
    def generator(prompt, row):
        return hostile

    emulated.emulator.generator = generator
    emulated.emulator.faults.append(
        Fault("GET", r"/prompts/\d+$", status=422, body='{"error": "::error::from the server"}')
    )
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    forged = [
        line
        for line in result.stdout.splitlines()
        if line.startswith(("::error::forged", "::warning::x", "::error::from the server"))
    ]
    assert forged == []


def test_each_regressed_metric_gets_one_annotation(emulated, action_env):
    result = run_action(
        emulated,
        action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert annotations == ["::error title=Prompt regression%3A Accuracy::1 row(s) regressed"]
    assert "::group::Regressed rows (1)" in result.stdout


def test_hostile_row_inputs_are_echoed_as_inert_text(emulated, action_env):
    from ckaction.emulator import ScriptedJudge

    emu, ids = emulated.emulator, emulated.ids
    hostile = [
        {"customer_message": "::error::forged from a row", "order_number": "1"},
        {
            "customer_message": "@octocat <img src=https://evil.example/p.png> | #12 `x` **b**",
            "order_number": "2",
        },
    ]
    dataset = emu.add_dataset("hostile", hostile)
    emu.judge = ScriptedJudge(
        {(ids.prompt_v2_id, 0, "Accuracy"): 1, (ids.prompt_v2_id, 1, "Accuracy"): 1}, default=5
    )
    baseline = emu.add_completed_run(
        ids.prompt_v1_id, dataset["id"], ids.metric_ids[:2], judge_model=ids.judge_model
    )
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "prompt-id": str(ids.prompt_v2_id),
            "baseline-run-id": str(baseline["id"]),
        },
    )
    assert result.code == 1, result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("::error::forged")]
    stop = [line for line in result.stdout.splitlines() if line.startswith("::stop-commands::")]
    assert len(stop) == 1
    token = stop[0].removeprefix("::stop-commands::")
    echoed = result.stdout.split(stop[0], 1)[1].split(f"::{token}::", 1)[0]
    assert "forged from a row" in echoed
    assert "<img" not in result.summary
