"""Sign-offs, stale baselines, honest statistics and calibration, end to end over HTTP."""

from __future__ import annotations

import re

from ckaction.emulator import NoisyJudge
from tests.integration.helpers import run_action

LABEL = "prompt-regression-approved"


def pr_payload(labels=(), action="synchronize", sender="maria"):
    return {
        "action": action,
        "number": 12,
        "label": {"name": labels[-1]} if labels else None,
        "sender": {"login": sender},
        "pull_request": {
            "number": 12,
            "labels": [{"name": name} for name in labels],
            "head": {
                "sha": "abcabcabcabcabcabcabcabcabcabcabcabcabca",
                "repo": {"full_name": "acme/prompts"},
            },
            "base": {"repo": {"full_name": "acme/prompts"}},
        },
    }


def write_signoffs(action_env, text):
    path = action_env.workspace / ".completionkit" / "signoffs.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def gate_v2(emulated, action_env, **kwargs):
    inputs = {
        "api-url": emulated.url,
        "prompt-id": str(emulated.ids.prompt_v2_id),
        "comment": "false",
        "avg-tolerance": "-0.5",
    }
    inputs.update(kwargs.pop("inputs", {}))
    return run_action(emulated, action_env, inputs, **kwargs)


def test_without_sign_off_the_demo_regression_fails(emulated, action_env):
    result = gate_v2(emulated, action_env)
    assert result.code == 1
    assert result.outputs["signed-off"] == "0"


def test_a_label_signs_off_every_regression_and_records_who(emulated, action_env):
    result = gate_v2(
        emulated,
        action_env,
        event="pull_request",
        payload=pr_payload([LABEL], action="labeled", sender="maria"),
    )
    assert result.code == 0, result.stdout
    assert result.outputs["result"] == "passed"
    assert result.outputs["signed-off"] == "1" and result.outputs["regressions"] == "0"
    used = result.report["signoffs"]["used"]
    assert len(used) == 1 and LABEL in used[0] and "@maria" in used[0]
    assert LABEL in result.summary_text


def test_a_file_entry_signs_off_the_matching_row(emulated, action_env):
    write_signoffs(
        action_env,
        "- input: change the delivery address\n"
        "  metric: Accuracy\n"
        "  min-delta: -2\n"
        "  reason: Terser replies drop the link; accepted in review\n"
        "  expires: 2999-01-01\n",
    )
    result = gate_v2(emulated, action_env)
    assert result.code == 0, result.stdout
    assert result.outputs["signed-off"] == "1"
    assert "signoffs.yml line 1" in result.report["signoffs"]["used"][0]
    row = next(r for r in result.report["rows"] if r["status"] == "signed_off")
    assert row["metrics"][1]["signed_off"].endswith("(until 2999-01-01)")


def test_an_entry_that_accepts_less_than_the_drop_does_not_sign_off(emulated, action_env):
    write_signoffs(
        action_env,
        "- {input: delivery address, metric: Accuracy, min-delta: -1, reason: small drops ok,"
        " expires: 2999-01-01}\n",
    )
    assert gate_v2(emulated, action_env).code == 1


def test_an_expired_entry_covers_nothing_and_is_listed(emulated, action_env):
    write_signoffs(
        action_env,
        "- input: change the delivery address\n  metric: Accuracy\n  min-delta: -3\n"
        "  reason: temporary\n  expires: 2020-01-01\n"
        "- input: x\n  metric: Accuracy\n  reason: no expiry\n  min-delta: -1\n",
    )
    result = gate_v2(emulated, action_env)
    assert result.code == 1
    assert "expired" in result.report["signoffs"]["expired"][0]
    assert "line 6" in result.report["signoffs"]["rejected"][0]
    assert "missing expires" in result.report["signoffs"]["rejected"][0]


def test_a_malformed_file_is_an_input_error_naming_file_and_line(emulated, action_env):
    write_signoffs(action_env, "- input: a\n  metric: [unclosed\n")
    result = gate_v2(emulated, action_env)
    assert result.code == 2
    assert re.search(r"signoffs-file.*\.completionkit/signoffs\.yml line \d", result.stdout)
    assert emulated.emulator.requests == []


def test_a_metric_version_bump_is_reported_as_stale_and_can_fail(emulated, action_env):
    emulated.emulator.bump_metric_version(emulated.ids.regressed_metric_id)
    warn = gate_v2(emulated, action_env, inputs={"prompt-id": str(emulated.ids.prompt_v1_id)})
    assert warn.code == 0
    assert any("metric versions" in item for item in warn.report["not_like_for_like"])
    assert "ckaction rebaseline --baseline-run-id" in warn.summary_text
    fail = gate_v2(
        emulated,
        action_env,
        inputs={"prompt-id": str(emulated.ids.prompt_v1_id), "on-stale-baseline": "fail"},
    )
    assert fail.code == 2
    assert fail.outputs["result"] == "error"
    assert "Stale baseline" in fail.summary_text


def test_every_metric_reports_a_confidence_interval(emulated, action_env):
    result = gate_v2(emulated, action_env, inputs={"avg-tolerance": "-0.2"})
    llm = [m for m in result.report["metrics"] if m["kind"] == "llm_judge"]
    assert llm and all(m["ci95"] is not None and m["ci95"]["n"] == 10 for m in llm)
    accuracy = next(m for m in llm if m["name"] == "Accuracy")
    assert accuracy["ci95"]["low"] < accuracy["mean_delta"] < accuracy["ci95"]["high"]
    # 10 rows give a half-width of 2.262 * 0.2 = 0.45: a 0.2 drop cannot be told from noise.
    assert accuracy["ci95"]["high"] - accuracy["ci95"]["low"] > 0.9
    assert accuracy["underpowered"] is True


def test_significant_avg_gate_does_not_fail_on_an_underpowered_drift(emulated, action_env):
    result = gate_v2(
        emulated,
        action_env,
        inputs={"avg-gate": "significant", "row-tolerance": "-3", "avg-tolerance": "-0.1"},
    )
    assert result.code == 0
    band = gate_v2(
        emulated,
        action_env,
        inputs={"row-tolerance": "-3", "avg-tolerance": "-0.1"},
        GITHUB_SHA="2222222222222222222222222222222222222222",
    )
    assert band.code == 1


def test_calibrate_recommends_tolerances_that_identical_reruns_pass(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    emu.judge = NoisyJudge(ids.judge, spread=1, seed=7, probability=0.3)
    baseline = emu.add_completed_run(
        ids.prompt_v1_id, ids.dataset_id, ids.metric_ids, judge_model=ids.judge_model
    )
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "command": "calibrate",
            "baseline-run-id": str(baseline["id"]),
            "calibration-runs": "3",
        },
    )
    assert result.code == 0, result.stdout
    row_tol = result.outputs["recommended-row-tolerance"]
    avg_tol = result.outputs["recommended-avg-tolerance"]
    assert float(row_tol) <= -0.5 and float(avg_tol) <= -0.05
    reruns = result.report["calibration"]["reruns"]
    assert len(reruns) == 3
    # The reruns are waited on together, one listing a look: never read one by one.
    assert not [
        r for r in emu.requests if r.method == "GET" and r.path in {f"/runs/{i}" for i in reruns}
    ]
    assert any(r.method == "GET" and r.path == "/runs" for r in emu.requests)
    for n in range(4):
        gate = run_action(
            emulated,
            action_env,
            {
                "api-url": emulated.url,
                "prompt-id": str(ids.prompt_v1_id),
                "baseline-run-id": str(baseline["id"]),
                "row-tolerance": row_tol,
                "avg-tolerance": avg_tol,
            },
            GITHUB_SHA=f"{n}" * 40,
        )
        assert gate.code == 0, gate.summary_text
