"""GET /runs/:id/compare: shape, pairing by input, decimal strings, deltas, checks, versions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ckaction.emulator import Emulator, ScriptedJudge


@pytest.fixture
def setup(emu: Emulator) -> dict[str, Any]:
    quality = emu.add_metric("Quality")
    check = emu.add_metric("Polite", "check", check_config={"check_kind": "no_refusal"})
    baseline_rows = [
        {"text": "a", "expected_output": "A"},
        {"text": "b", "expected_output": "B"},
        {"text": "c", "expected_output": "C"},
    ]
    # The candidate dataset drops "b", edits nothing else, and adds "d".
    candidate_rows = [
        {"text": "c", "expected_output": "C"},
        {"text": "a", "expected_output": "A"},
        {"text": "d", "expected_output": "D"},
    ]
    base_ds = emu.add_dataset("base", baseline_rows)
    cand_ds = emu.add_dataset("cand", candidate_rows)
    v1 = emu.add_prompt("Answer", "Q: {{text}}")
    v2 = emu.add_prompt("Answer", "Question: {{text}}", family_key=v1["family_key"], current=False)
    emu.judge = ScriptedJudge(
        {
            (v1["id"], 0, "Quality"): 5,  # a
            (v2["id"], 1, "Quality"): 3,  # a, at index 1 in the candidate dataset
            (v1["id"], 2, "Quality"): 2,  # c
            (v2["id"], 0, "Quality"): 4,  # c
            (v1["id"], 0, "Polite"): True,
            (v2["id"], 1, "Polite"): False,  # a: broke
            (v1["id"], 2, "Polite"): False,
            (v2["id"], 0, "Polite"): True,  # c: fixed
        },
        default=4,
        default_passed=True,
    )
    metric_ids = [quality["id"], check["id"]]
    left = emu.add_completed_run(v1["id"], base_ds["id"], metric_ids)
    right = emu.add_completed_run(v2["id"], cand_ds["id"], metric_ids)
    return {"left": left, "right": right, "quality": quality, "check": check}


def compare(client: httpx.Client, left: int, right: int) -> dict[str, Any]:
    response = client.get(f"runs/{left}/compare", params={"with": right})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_compare_shape_and_pairing(client: httpx.Client, setup: dict[str, Any]) -> None:
    left, right = setup["left"], setup["right"]
    quality_id, check_id = setup["quality"]["id"], setup["check"]["id"]
    body = compare(client, left["id"], right["id"])
    assert set(body) == {"left_run_id", "right_run_id", "metric_ids", "rows"}
    assert (body["left_run_id"], body["right_run_id"]) == (left["id"], right["id"])
    assert body["metric_ids"] == [quality_id, check_id]
    # Rows only from A (baseline), in A's row order; candidate-only "d" is absent.
    assert [row["row_index"] for row in body["rows"]] == [0, 1, 2]
    assert len(body["rows"]) == 3

    row_a, _orphan, row_c = body["rows"]
    right_responses = {
        r["input_data"]: r["id"] for r in client.get(f"runs/{right['id']}/responses").json()
    }
    assert row_a["right_response_id"] == right_responses['{"text":"a","expected_output":"A"}']
    assert row_c["right_response_id"] == right_responses['{"text":"c","expected_output":"C"}']

    quality_a = row_a["per_metric"][0]
    assert set(quality_a) == {
        "metric_id",
        "metric_name",
        "kind",
        "left_score",
        "right_score",
        "left_passed",
        "right_passed",
        "left_metric_version_id",
        "right_metric_version_id",
        "delta",
        "result_change",
    }
    assert quality_a["kind"] == "llm_judge"
    assert (quality_a["left_score"], quality_a["right_score"]) == ("5.0", "3.0")
    assert quality_a["delta"] == -2.0  # right - left: a regression is negative
    assert quality_a["result_change"] is None
    quality_c = row_c["per_metric"][0]
    assert (quality_c["left_score"], quality_c["right_score"], quality_c["delta"]) == (
        "2.0",
        "4.0",
        2.0,
    )

    check_a, check_c = row_a["per_metric"][1], row_c["per_metric"][1]
    assert check_a["kind"] == "check"
    assert (check_a["left_passed"], check_a["right_passed"]) == (True, False)
    assert check_a["result_change"] == "broke"
    assert (check_a["left_score"], check_a["delta"]) == (None, None)
    assert check_c["result_change"] == "fixed"


def test_baseline_row_missing_from_candidate_is_an_orphan(
    client: httpx.Client, setup: dict[str, Any]
) -> None:
    body = compare(client, setup["left"]["id"], setup["right"]["id"])
    orphan = body["rows"][1]
    assert orphan["right_response_id"] is None
    assert orphan["left_response_id"]
    quality, check = orphan["per_metric"]
    assert quality["left_score"] == "4.0"
    assert (quality["right_score"], quality["delta"], quality["right_metric_version_id"]) == (
        None,
        None,
        None,
    )
    assert check["left_passed"] is True
    assert (check["right_passed"], check["result_change"]) == (None, None)


def test_same_run_compares_equal(client: httpx.Client, setup: dict[str, Any]) -> None:
    body = compare(client, setup["left"]["id"], setup["left"]["id"])
    entries = [entry for row in body["rows"] for entry in row["per_metric"]]
    assert {e["delta"] for e in entries if e["kind"] == "llm_judge"} == {0.0}
    assert {e["result_change"] for e in entries if e["kind"] == "check"} == {"same"}


def test_compare_404_bodies(client: httpx.Client, setup: dict[str, Any]) -> None:
    left_id = setup["left"]["id"]
    missing_with = client.get(f"runs/{left_id}/compare")
    assert missing_with.status_code == 404
    assert missing_with.json() == {"error": "Other run not found. Pass ?with=<run_id>."}
    unknown_with = client.get(f"runs/{left_id}/compare", params={"with": 999})
    assert unknown_with.json() == {"error": "Other run not found. Pass ?with=<run_id>."}
    unknown_id = client.get("runs/999/compare", params={"with": left_id})
    assert unknown_id.status_code == 404
    assert unknown_id.json() == {"error": "Record not found"}


def test_metric_version_bump_shows_on_the_right(
    emu: Emulator, client: httpx.Client, setup: dict[str, Any]
) -> None:
    quality_id = setup["quality"]["id"]
    old_version = emu.metric_version_id(quality_id)
    new_version = emu.bump_metric_version(quality_id)
    assert new_version != old_version
    rerun = emu.add_completed_run(
        setup["left"]["prompt_id"], setup["left"]["dataset_id"], [quality_id]
    )
    body = compare(client, setup["left"]["id"], rerun["id"])
    entry = body["rows"][0]["per_metric"][0]
    assert entry["metric_id"] == quality_id
    assert entry["left_metric_version_id"] == old_version
    assert entry["right_metric_version_id"] == new_version
    # The check was only reviewed on the left: one-sided metric, right side null.
    check = body["rows"][0]["per_metric"][1]
    assert check["left_passed"] is True
    assert check["right_passed"] is None


def test_paired_but_unfinished_candidate_has_null_right_score(
    emu: Emulator, clock: Any, client: httpx.Client, setup: dict[str, Any]
) -> None:
    left = setup["left"]
    created = client.post(
        "runs",
        json={
            "prompt_id": left["prompt_id"],
            "dataset_id": left["dataset_id"],
            "metric_ids": left["metric_ids"],
            "judge_model": "gpt-4o",
        },
    ).json()
    client.post(f"runs/{created['id']}/generate")
    clock.advance(emu.run_duration * 0.5)  # every row generated, only some judged
    body = compare(client, left["id"], created["id"])
    last = body["rows"][2]
    assert last["right_response_id"] is not None
    assert last["per_metric"][0]["right_score"] is None
    assert last["per_metric"][0]["delta"] is None
    first = body["rows"][0]
    assert first["per_metric"][0]["right_score"] is not None


def test_duplicate_candidate_inputs_first_wins(emu: Emulator, client: httpx.Client) -> None:
    metric = emu.add_metric("Quality")
    prompt = emu.add_prompt("Dup", "{{text}}")
    single = emu.add_dataset("one", [{"text": "x"}])
    double = emu.add_dataset("two", [{"text": "x"}, {"text": "x"}])
    left = emu.add_completed_run(prompt["id"], single["id"], [metric["id"]])
    right = emu.add_completed_run(prompt["id"], double["id"], [metric["id"]])
    body = compare(client, left["id"], right["id"])
    responses = client.get(f"runs/{right['id']}/responses").json()
    assert [row["right_response_id"] for row in body["rows"]] == [responses[0]["id"]]
