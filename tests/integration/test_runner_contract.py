"""The runner contract, as the runner starts the Docker action: `entrypoint.py` in a fresh process
with INPUT_* (hyphenated names kept, unset inputs as ""), the GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
files, the event file, exit codes 0/1/2, no traceback, and workflow commands on stdout that no text
can forge. The emulator is served over real HTTP on a real clock; everything else about the gate is
proven in-process (`run_action`)."""

from __future__ import annotations

import pytest

from ckaction.emulator import ScriptedJudge
from tests.integration.helpers import run_entrypoint

pytestmark = pytest.mark.real_clock


def test_a_regression_exits_1_with_outputs_summary_and_report_in_the_runners_files(
    served, action_env
):
    result = run_entrypoint(
        action_env, {"api-url": served.url, "prompt-id": str(served.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout + result.stderr
    assert result.outputs["result"] == "regressed" and result.outputs["passed"] == "false"
    assert result.outputs["prompt-id"] == str(served.ids.prompt_v2_id)
    assert result.outputs["regressions"] == "1"
    assert "Regressed rows" in result.summary and "Accuracy" in result.summary
    assert result.report is not None and result.report["result"] == "regressed"
    assert result.stderr == ""


def test_a_pass_exits_0(served, action_env):
    result = run_entrypoint(
        action_env, {"api-url": served.url, "prompt-id": str(served.ids.prompt_v1_id)}
    )
    assert result.code == 0, result.stdout + result.stderr
    assert result.outputs["result"] == "passed" and result.outputs["passed"] == "true"


def test_invalid_inputs_exit_2_with_one_annotation_each_before_any_network_call(served, action_env):
    result = run_entrypoint(
        action_env,
        {"api-url": served.url, "prompt-id": "v2", "row-tolerance": "x", "metric-ids": "1,a"},
    )
    assert result.code == 2
    assert served.emulator.requests == []
    for name in ("prompt-id", "row-tolerance", "metric-ids"):
        assert f"::error title=Invalid input {name}::" in result.stdout
    assert result.outputs["result"] == "error"
    assert "Traceback" not in result.everything
    assert result.stderr == ""


def test_inputs_the_runner_passes_empty_are_unset_and_required_ones_are_named(served, action_env):
    result = run_entrypoint(action_env, {"api-token": "", "api-url": ""})
    assert result.code == 2
    for name in ("api-token", "org", "prompt-id"):
        assert f"Invalid input {name}" in result.stdout
    assert "Traceback" not in result.everything


def test_the_event_file_tells_a_fork_pr_without_the_secret_what_to_do(served, action_env):
    payload = {
        "pull_request": {
            "number": 7,
            "head": {"repo": {"full_name": "someone/prompts"}},
            "base": {"repo": {"full_name": "acme/prompts"}},
        }
    }
    result = run_entrypoint(
        action_env,
        {"api-token": "", "api-url": served.url, "prompt-id": "1"},
        event="pull_request",
        payload=payload,
    )
    assert result.code == 2
    assert "fork" in result.summary_text and "workflow_run" in result.summary_text
    assert served.emulator.requests == []


def test_hostile_row_inputs_are_echoed_as_inert_text(served, action_env):
    emu, ids = served.emulator, served.ids
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
    result = run_entrypoint(
        action_env,
        {
            "api-url": served.url,
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
