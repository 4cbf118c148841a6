"""seed_demo's promise (exactly one regressing row) and the judge helpers."""

from __future__ import annotations

from typing import Any

import httpx

from ckaction.emulator import (
    Emulator,
    JudgeCall,
    NoisyJudge,
    ScriptedJudge,
    Verdict,
    default_judge,
    seed_demo,
)

NO_REFUSAL = {"check_kind": "no_refusal"}  # the engine's config-free check kind


def test_seed_demo_candidate_regresses_exactly_one_row(
    emu: Emulator, clock: Any, client: httpx.Client
) -> None:
    ids = seed_demo(emu)
    baseline = client.get(f"runs/{ids.baseline_run_id}").json()
    assert baseline["status"] == "completed"
    assert baseline["prompt_id"] == ids.prompt_v1_id
    assert baseline["judge_model"] == ids.judge_model == "gpt-4o-mini"
    assert baseline["metric_ids"] == ids.metric_ids
    metrics = [client.get(f"metrics/{m}").json() for m in ids.metric_ids]
    assert [m["metric_type"] for m in metrics] == ["llm_judge", "llm_judge", "check"]
    assert [m["name"] for m in metrics][:2] == ["Helpfulness", "Accuracy"]

    current = client.get(f"prompts/{ids.family_key}").json()
    assert current["id"] == ids.prompt_v1_id
    candidate = client.get(f"prompts/{ids.prompt_v2_id}").json()
    assert (candidate["current"], candidate["version_number"]) == (False, 2)
    # The documented baseline lookup finds the seeded run.
    found = client.get(
        "runs", params={"prompt_id": ids.prompt_v1_id, "status": "completed", "limit": 1}
    ).json()
    assert [r["id"] for r in found] == [ids.baseline_run_id]

    run = client.post(
        "runs",
        json={
            "prompt_id": ids.prompt_v2_id,
            "dataset_id": ids.dataset_id,
            "metric_ids": ids.metric_ids,
            "judge_model": ids.judge_model,
        },
    ).json()
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    assert client.get(f"runs/{run['id']}").json()["status"] == "completed"
    body = client.get(f"runs/{ids.baseline_run_id}/compare", params={"with": run["id"]}).json()
    entries = [(row, e) for row in body["rows"] for e in row["per_metric"]]
    assert all(row["right_response_id"] is not None for row in body["rows"])
    regressions = [
        (row["row_index"], e["metric_name"], e["delta"]) for row, e in entries if e["delta"]
    ]
    assert regressions == [(ids.regressed_row_index, "Accuracy", -2.0)]
    assert ids.regressed_metric_id == ids.metric_ids[1]
    checks = [e for _, e in entries if e["kind"] == "check"]
    assert len(checks) == len(body["rows"])
    assert {e["result_change"] for e in checks} == {"same"}


def test_rerun_of_baseline_is_identical_with_default_judges(
    emu: Emulator, clock: Any, client: httpx.Client
) -> None:
    ids = seed_demo(emu)
    rerun = client.post(f"runs/{ids.baseline_run_id}/rerun").json()
    clock.advance(emu.run_duration)
    body = client.get(f"runs/{ids.baseline_run_id}/compare", params={"with": rerun["id"]}).json()
    deltas = {
        e["delta"] for row in body["rows"] for e in row["per_metric"] if e["kind"] == "llm_judge"
    }
    assert deltas == {0.0}


def _call(run_id: int, row_index: int, metric: dict[str, Any], text: str = "x") -> JudgeCall:
    return JudgeCall(
        prompt={"id": 1},
        row={"text": text},
        row_index=row_index,
        metric=metric,
        metric_version_id=1,
        response_text=text,
        run={"id": run_id, "prompt_id": 1},
    )


def test_default_judge_is_deterministic_and_in_range() -> None:
    metric = {"name": "Quality", "metric_type": "llm_judge"}
    scores = {default_judge(_call(1, i, metric, text=f"t{i}")).score for i in range(40)}
    assert scores <= {3, 4, 5}
    assert len(scores) > 1
    assert default_judge(_call(1, 0, metric, "same")) == default_judge(_call(9, 5, metric, "same"))
    check = {
        "name": "C",
        "metric_type": "check",
        "check_config": {"check_kind": "contains", "value": "X"},
    }
    assert default_judge(_call(1, 0, check, "has x")).passed is True
    assert default_judge(_call(1, 0, check, "nope")).passed is False


def test_scripted_judge_scores_clamps_and_scripts_checks() -> None:
    llm = {"name": "Quality", "metric_type": "llm_judge"}
    check = {"name": "Polite", "metric_type": "check", "check_config": NO_REFUSAL}
    judge = ScriptedJudge({(1, 0, "Quality"): 9, (1, 1, "Polite"): False}, default=3)
    assert judge(_call(1, 0, llm)).score == 5
    assert judge(_call(1, 1, llm)).score == 3
    assert judge(_call(1, 1, check)) == Verdict(None, False, "Scripted check result False.")
    assert judge(_call(1, 0, check)).passed is True
    judge.scores[(1, 2, "Quality")] = Verdict(None, None, "boom", failed=True)
    assert judge(_call(1, 2, llm)).failed is True


def test_noisy_judge_is_seeded_per_run() -> None:
    llm = {"name": "Quality", "metric_type": "llm_judge"}
    noisy = NoisyJudge(ScriptedJudge(default=3), spread=1, seed=7)
    run_a = [noisy(_call(1, i, llm)).score for i in range(30)]
    run_b = [noisy(_call(2, i, llm)).score for i in range(30)]
    assert run_a == [noisy(_call(1, i, llm)).score for i in range(30)]  # reproducible
    assert run_a != run_b  # two runs differ a bit
    assert set(run_a) | set(run_b) <= {2, 3, 4}
    check = {"name": "Polite", "metric_type": "check", "check_config": NO_REFUSAL}
    assert noisy(_call(1, 0, check)).passed is True


def test_noisy_judge_makes_two_identical_runs_differ(emu: Emulator, client: httpx.Client) -> None:
    ids = seed_demo(emu)
    emu.judge = NoisyJudge(emu.judge, spread=1, seed=1)
    first = emu.add_completed_run(ids.prompt_v1_id, ids.dataset_id, ids.metric_ids, judge_model="j")
    second = emu.add_completed_run(
        ids.prompt_v1_id, ids.dataset_id, ids.metric_ids, judge_model="j"
    )
    body = client.get(f"runs/{first['id']}/compare", params={"with": second["id"]}).json()
    deltas = [
        e["delta"] for row in body["rows"] for e in row["per_metric"] if e["delta"] is not None
    ]
    assert any(d != 0 for d in deltas)
    assert all(abs(d) <= 2 for d in deltas)
