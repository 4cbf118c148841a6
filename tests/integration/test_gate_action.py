"""The gate end to end in-process: cli.App with the runner's environment, the emulator's transport
and one fake clock."""

from __future__ import annotations

import json
import re

import pytest

from ckaction.emulator import Fault, GenerationError
from tests.conftest import RUN_SECONDS, TOKEN
from tests.integration.helpers import run_action, statuses

LATER_THAN_ANY_READ_TIMEOUT = 3600.0  # seconds: the answer never comes in time


def is_gate_run_json(run):
    return (run.get("name") or "").startswith("ckaction gate ")


def posts(emulator, pattern):
    return [r for r in emulator.requests if r.method == "POST" and re.search(pattern, r.path)]


def test_a_regressing_candidate_fails_with_outputs_summary_and_report(emulated, action_env):
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
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
    assert sum(emulated.time.slept) >= RUN_SECONDS  # the run finished as the gate's sleeps went by


def test_the_live_prompt_passes_and_a_gate_run_never_becomes_a_baseline(emulated, action_env):
    first = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v1_id)}
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
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
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
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 2
    assert result.outputs["result"] == "error"
    assert "Every response failed to generate" in result.summary_text


def test_timeout_names_the_run_still_going(emulated, action_env):
    emulated.emulator.run_duration = 120
    started = emulated.time.now()
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
    assert emulated.time.now() - started == pytest.approx(0.02 * 60)  # stopped at the deadline
    assert emulated.emulator.get_run(int(run_id))["status"] == "running"


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
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    assert "Uncertain create" in result.stdout
    assert len(posts(emulated.emulator, r"/runs$")) == 1
    gate_runs = [r for r in emulated.emulator.list_runs().items if is_gate_run_json(r)]
    assert [r["id"] for r in gate_runs] == [int(result.outputs["run-id"])]


def test_a_create_that_never_landed_is_sent_again(emulated, action_env):
    emulated.emulator.faults.append(Fault("POST", r"/runs$", status=503))
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    assert len(posts(emulated.emulator, r"/runs$")) == 2


def test_a_start_that_landed_behind_a_504_is_not_sent_twice(emulated, action_env):
    emulated.emulator.faults.append(Fault("POST", r"/generate$", status=504, after_processing=True))
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    assert len(posts(emulated.emulator, r"/generate$")) == 1


def test_a_status_poll_that_times_out_is_read_again(emulated, action_env):
    late = Fault("GET", r"/runs/\d+$", status=None, delay=LATER_THAN_ANY_READ_TIMEOUT)
    emulated.emulator.faults.append(late)
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    assert late.hits == 1
    assert len(statuses(emulated.emulator, "GET", r"/runs/\d+$")) >= 2


def test_a_start_whose_answer_never_came_is_not_sent_twice(emulated, action_env):
    late = Fault(
        "POST",
        r"/generate$",
        status=None,
        delay=LATER_THAN_ANY_READ_TIMEOUT,
        after_processing=True,  # the start lands; only its answer never comes
    )
    emulated.emulator.faults.append(late)
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 1, result.stdout
    assert late.hits == 1
    assert "Uncertain start" in result.stdout
    assert len(posts(emulated.emulator, r"/generate$")) == 1


def test_a_malformed_body_is_an_error_not_a_crash(emulated, action_env):
    emulated.emulator.faults.append(Fault("GET", r"/compare$", malformed=True, times=10))
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
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
        {
            "api-url": emulated.url,
            "prompt-id": str(ids.prompt_v1_id),
            "dataset-id": str(smoke["id"]),
        },
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


def test_each_regressed_metric_gets_one_annotation(emulated, action_env):
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert annotations == ["::error title=Prompt regression%3A Accuracy::1 row regressed"]
    # A regression is a finding, not an error of the step: its own group and prefix.
    assert "::group::Regressions: 1 row regressed" in result.stdout
    assert re.search(r"^regression: row \d+: Accuracy ", result.stdout, re.MULTILINE)


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("::error::forged annotation", "::error::forged annotation"),
        ("line\n::warning::x", "line%0A::warning::x"),
        ("a\r\n::error::forged", "a%0D%0A::error::forged"),
    ],
)
def test_server_text_cannot_forge_workflow_commands(emulated, action_env, hostile, shown):
    message = json.dumps({"error": hostile})
    emulated.emulator.faults.append(Fault("GET", r"/prompts/\d+$", status=422, body=message))
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert result.code == 2
    (error,) = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert "422" in error and shown in error
    commands = ("::error::", "::warning::")
    assert [line for line in result.stdout.splitlines() if line.startswith(commands)] == []
