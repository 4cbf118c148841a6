"""Run lifecycle on the injectable clock: generate, progress, completion, quirks, rerun & co."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from ckaction.emulator import Emulator, GenerationError, ScriptedJudge, Verdict

MakeRun = Callable[..., dict[str, Any]]


def get(client: httpx.Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_generate_then_poll_to_completion(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun
) -> None:
    run = make_run()
    started = client.post(f"runs/{run['id']}/generate")
    assert started.status_code == 202
    assert started.json()["status"] == "running"
    assert started.json()["progress_total"] == 3

    seen: list[tuple[int, int]] = []
    for _ in range(12):
        body = get(client, f"runs/{run['id']}")
        generated, judged = body["progress"]["generated"], body["progress"]["judged"]
        assert judged["done"] <= generated["done"] <= generated["total"] == 3
        assert body["progress_current"] == generated["done"]
        seen.append((generated["done"], judged["done"]))
        expected = "completed" if clock.now >= 1000 + emu.run_duration else "running"
        assert body["status"] == expected
        clock.advance(1.0)
    assert seen[0] == (0, 0)
    assert seen == sorted(seen)  # monotone
    assert seen[-1] == (3, 3)
    assert any(0 < g < 3 for g, _ in seen)  # grows over time, not all at once

    final = get(client, f"runs/{run['id']}")
    assert final["responses_count"] == 3
    assert final["progress"]["judged"] == {"done": 3, "total": 3, "failed": 0}
    assert isinstance(final["avg_score"], float)
    assert 3 <= final["avg_score"] <= 5
    # "Says hello" passes for rows 0 and 2 (the rendered prompt contains "hello").
    assert final["check_pass_rate"] == 0.67
    names = [m["name"] for m in final["metric_averages"]]
    assert names == ["Quality", "Says hello"]
    check_avg = final["metric_averages"][1]
    assert check_avg == {
        "name": "Says hello",
        "kind": "check",
        "pass_rate": 0.67,
        "count": 3,
        "low_count": 1,
    }
    assert set(final["metric_averages"][0]) == {"name", "avg", "count", "low_count"}


def test_progress_total_is_zero_during_start_delay(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun
) -> None:
    emu.start_delay = 2.0
    run = make_run()
    started = client.post(f"runs/{run['id']}/generate").json()
    assert (started["status"], started["progress_total"]) == ("running", 0)
    assert started["progress"]["generated"] == {"done": 0, "total": 0, "failed": 0}
    assert client.get(f"runs/{run['id']}/responses").json() == []
    clock.advance(1.9)
    assert get(client, f"runs/{run['id']}")["progress_total"] == 0
    clock.advance(0.2)
    landed = get(client, f"runs/{run['id']}")
    assert landed["status"] == "running"
    assert landed["progress_total"] == 3
    pending = client.get(f"runs/{run['id']}/responses").json()
    assert [r["status"] for r in pending] == ["pending"] * 3
    assert all(r["response_text"] is None and r["reviews"] == [] for r in pending)
    clock.advance(emu.run_duration)
    assert get(client, f"runs/{run['id']}")["status"] == "completed"


def test_a_jittered_pace_finishes_rows_out_of_step_and_completes_with_the_last(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun
) -> None:
    emu.pace_jitter = 2.0
    run = make_run()
    client.post(f"runs/{run['id']}/generate")
    seen: list[tuple[int, int, str]] = []
    for _ in range(40):
        body = get(client, f"runs/{run['id']}")
        generated, judged = body["progress"]["generated"], body["progress"]["judged"]
        assert judged["done"] <= generated["done"]
        seen.append((generated["done"], judged["done"], body["status"]))
        clock.advance(0.5)
    assert [s[:2] for s in seen] == sorted(s[:2] for s in seen)  # still monotone
    done_at = [i for i, s in enumerate(seen) if s[2] == "completed"]
    assert done_at and all(s[1] == 3 for s in seen[done_at[0] :])  # completes with the last row
    assert all(s[1] < 3 for s in seen[: done_at[0]])
    steady = [min(3, int(i * 0.5 / emu.run_duration * 3)) for i in range(40)]
    assert [s[1] for s in seen] != steady  # not the steady pace


def test_generate_on_running_or_completed_run_is_422_and_fails_it(
    clock: Any, client: httpx.Client, make_run: MakeRun
) -> None:
    run = make_run()
    assert client.post(f"runs/{run['id']}/generate").status_code == 202
    again = client.post(f"runs/{run['id']}/generate")
    assert again.status_code == 422
    message = again.json()["error"]
    assert message.startswith('Cannot start a run in state "running".')
    assert "rerun" in message
    body = get(client, f"runs/{run['id']}")
    assert body["status"] == "failed"
    assert body["failure_summary"] == message
    assert body["error_message"] == message
    clock.advance(100)
    assert get(client, f"runs/{run['id']}")["status"] == "failed"  # stays failed

    # From failed, generate wipes the responses and starts over.
    old_ids = {r["id"] for r in client.get(f"runs/{run['id']}/responses").json()}
    restarted = client.post(f"runs/{run['id']}/generate")
    assert restarted.status_code == 202
    assert restarted.json()["failure_summary"] is None
    clock.advance(100)
    done = get(client, f"runs/{run['id']}")
    assert done["status"] == "completed"
    new_ids = {r["id"] for r in client.get(f"runs/{run['id']}/responses").json()}
    assert len(new_ids) == 3
    assert not new_ids & old_ids

    completed_again = client.post(f"runs/{run['id']}/generate")
    assert completed_again.status_code == 422
    assert 'state "completed"' in completed_again.json()["error"]
    assert get(client, f"runs/{run['id']}")["status"] == "failed"


def test_empty_dataset_is_422_and_fails_the_run(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    empty = client.post("datasets", json={"name": "empty", "csv_data": "text\n"}).json()
    run = client.post(
        "runs", json={"prompt_id": basic["prompt"]["id"], "dataset_id": empty["id"]}
    ).json()
    refused = client.post(f"runs/{run['id']}/generate")
    assert refused.status_code == 422
    assert refused.json() == {"error": "Dataset has no rows"}
    body = get(client, f"runs/{run['id']}")
    assert (body["status"], body["failure_summary"]) == ("failed", "Dataset has no rows")


def test_all_rows_failing_fails_the_run_with_summary(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun
) -> None:
    def broken(prompt: dict[str, Any], row: dict[str, str]) -> str:
        raise GenerationError("model overloaded", provider="openai", status=529)

    emu.generator = broken
    run = make_run()
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    body = get(client, f"runs/{run['id']}")
    assert body["status"] == "failed"
    assert body["failure_summary"] == (
        "Every response failed to generate (3 of 3). First error: model overloaded"
    )
    assert body["progress"]["generated"] == {"done": 0, "total": 3, "failed": 3}
    assert len(body["failed_response_ids"]) == 3
    response = client.get(f"runs/{run['id']}/responses/{body['failed_response_ids'][0]}").json()
    assert response["status"] == "failed"
    assert response["error"] == {
        "provider": "openai",
        "class": "CompletionKit::GenerationError",
        "status": 529,
        "message": "model overloaded",
    }


def test_partial_failure_completes_with_failed_ids_and_retry_failures(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun
) -> None:
    flaky = {"fail": True}

    def generator(prompt: dict[str, Any], row: dict[str, str]) -> str:
        if row["text"] == "good day" and flaky["fail"]:
            raise GenerationError("timeout")
        return f"hello: {row['text']}"

    emu.generator = generator
    run = make_run()
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    body = get(client, f"runs/{run['id']}")
    assert body["status"] == "completed"
    assert body["progress"]["generated"] == {"done": 2, "total": 3, "failed": 1}
    assert body["progress"]["judged"]["total"] == 2
    (failed_id,) = body["failed_response_ids"]
    only_failed = client.get(f"runs/{run['id']}/responses", params={"status": "failed"}).json()
    assert [r["id"] for r in only_failed] == [failed_id]

    flaky["fail"] = False
    retried = client.post(f"runs/{run['id']}/retry_failures", json={"only": [failed_id]})
    assert retried.status_code == 202
    assert retried.json()["status"] == "running"
    response = client.get(f"runs/{run['id']}/responses/{failed_id}").json()
    assert response["status"] == "retrying"
    clock.advance(emu.run_duration)
    body = get(client, f"runs/{run['id']}")
    assert body["status"] == "completed"
    assert body["failed_response_ids"] == []
    assert body["progress"]["judged"] == {"done": 3, "total": 3, "failed": 0}
    assert client.get(f"runs/{run['id']}/responses/{failed_id}").json()["attempts"] == 2

    nothing = client.post(f"runs/{run['id']}/retry_failures")
    assert nothing.status_code == 202
    assert nothing.json()["status"] == "completed"  # nothing to retry: status left alone


def test_retry_failures_conflicts_after_metric_drift(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun, basic: dict[str, Any]
) -> None:
    run = make_run()
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    emu.bump_metric_version(basic["metric"]["id"])
    conflict = client.post(f"runs/{run['id']}/retry_failures")
    assert conflict.status_code == 409
    assert conflict.json()["error"].startswith("Judge has changed since this run executed.")


def test_failed_review_counts_as_judged_failed(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun, basic: dict[str, Any]
) -> None:
    emu.judge = ScriptedJudge(
        {(basic["prompt"]["id"], 1, "Quality"): Verdict(None, None, "unparseable", failed=True)}
    )
    run = make_run()
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    body = get(client, f"runs/{run['id']}")
    assert body["status"] == "completed"
    assert body["progress"]["judged"] == {"done": 2, "total": 3, "failed": 1}
    assert body["avg_score"] == 4.0
    row = client.get(f"runs/{run['id']}/responses").json()[1]
    review = next(r for r in row["reviews"] if r["metric_name"] == "Quality")
    assert review["status"] == "failed"
    assert review["ai_score"] is None
    assert review["error"]["message"] == "unparseable"


def test_no_judge_model_completes_with_null_avg_score(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun, basic: dict[str, Any]
) -> None:
    run = make_run(judge_model=None, metric_ids=[basic["metric"]["id"]])
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    body = get(client, f"runs/{run['id']}")
    assert body["status"] == "completed"
    assert body["avg_score"] is None
    assert body["check_pass_rate"] is None
    assert body["metric_averages"] == []
    assert body["progress"]["judged"] == {"done": 0, "total": 0, "failed": 0}
    responses = client.get(f"runs/{run['id']}/responses").json()
    assert all(r["reviews"] == [] and r["reviewed"] is False for r in responses)

    # Checks still run without a judge model.
    with_check = make_run(judge_model="", metric_ids=[basic["metric"]["id"], basic["check"]["id"]])
    client.post(f"runs/{with_check['id']}/generate")
    clock.advance(emu.run_duration)
    body = get(client, f"runs/{with_check['id']}")
    assert body["judge_model"] is None
    assert body["avg_score"] is None
    assert body["check_pass_rate"] == 0.67
    assert body["progress"]["judged"]["total"] == 3


def test_rerun_copies_settings_and_starts(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun, basic: dict[str, Any]
) -> None:
    source = make_run(
        temperature=0.3,
        max_tokens=128,
        judge_temperature=0.5,
        expected_column="expected_output",
        tag_names=["ci", "baseline"],
        name="my baseline",
    )
    rerun = client.post(f"runs/{source['id']}/rerun")
    assert rerun.status_code == 202
    new = rerun.json()
    assert new["id"] != source["id"]
    assert new["status"] == "running"
    for key in (
        "prompt_id",
        "dataset_id",
        "judge_model",
        "temperature",
        "max_tokens",
        "judge_temperature",
        "output_column",
        "expected_column",
        "metric_ids",
    ):
        assert new[key] == source[key], key
    assert [t["name"] for t in new["tags"]] == ["ci", "baseline"]
    assert new["name"] == "Greeter — v1 #2"
    assert get(client, f"runs/{source['id']}")["status"] == "pending"  # source untouched
    assert len(client.get("runs").json()) == 2


def test_rerun_that_cannot_start_leaves_a_failed_run(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    empty = client.post("datasets", json={"name": "empty", "csv_data": "text\n"}).json()
    source = client.post(
        "runs", json={"prompt_id": basic["prompt"]["id"], "dataset_id": empty["id"]}
    ).json()
    refused = client.post(f"runs/{source['id']}/rerun")
    assert refused.status_code == 422
    assert refused.json() == {"error": "Dataset has no rows"}
    runs = client.get("runs").json()
    assert len(runs) == 2
    assert runs[0]["status"] == "failed"


def test_regrade_uses_current_metric_versions(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun, basic: dict[str, Any]
) -> None:
    pending = make_run()
    nothing = client.post(f"runs/{pending['id']}/regrade")
    assert nothing.status_code == 422
    assert nothing.json()["error"].startswith("Nothing to re-grade.")

    run = make_run()
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    new_version = emu.bump_metric_version(basic["metric"]["id"])
    regraded = client.post(f"runs/{run['id']}/regrade")
    assert regraded.status_code == 202
    assert regraded.json()["status"] == "running"
    clock.advance(emu.run_duration)
    assert get(client, f"runs/{run['id']}")["status"] == "completed"
    versions = {
        review["metric_version_id"]
        for response in client.get(f"runs/{run['id']}/responses").json()
        for review in response["reviews"]
        if review["metric_id"] == basic["metric"]["id"]
    }
    assert versions == {new_version}


def test_responses_shape_and_filters(
    emu: Emulator, clock: Any, client: httpx.Client, make_run: MakeRun, basic: dict[str, Any]
) -> None:
    emu.judge = ScriptedJudge({(basic["prompt"]["id"], 0, "Quality"): 2}, default=5)
    run = make_run()
    client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    listed = client.get(f"runs/{run['id']}/responses", params={"limit": 2})
    assert listed.headers["X-Total-Count"] == "3"
    assert listed.headers["X-Limit"] == "2"
    first, second = listed.json()
    assert first["id"] < second["id"]
    assert first["input_data"] == '{"text":"hello world","expected_output":"hi"}'
    assert first["expected_output"] == "hi"
    assert first["response_text"] == "Reply to: hello world"
    assert first["row_index"] == 0
    assert first["reviewed"] is True
    quality = next(r for r in first["reviews"] if r["metric_name"] == "Quality")
    assert quality["ai_score"] == "2.0"
    assert quality["passed"] is None
    check = next(r for r in first["reviews"] if r["metric_name"] == "Says hello")
    assert (check["ai_score"], check["passed"]) == (None, True)
    assert first["score"] == 2.0
    low = client.get(f"runs/{run['id']}/responses", params={"max_score": 3}).json()
    assert [r["id"] for r in low] == [first["id"]]
    ordered = client.get(f"runs/{run['id']}/responses", params={"sort": "score_desc"}).json()
    assert ordered[-1]["id"] == first["id"]
    trimmed = client.get(
        f"runs/{run['id']}/responses", params={"fields": "score,reviews.ai_score"}
    ).json()
    assert set(trimmed[0]) == {"id", "score", "reviews"}
    assert set(trimmed[0]["reviews"][0]) == {"id", "ai_score"}
    assert client.get(f"runs/{run['id']}/responses/999999").status_code == 404
    assert client.get("runs/999/responses").status_code == 404


def test_judge_only_run_scores_the_output_column(
    emu: Emulator, clock: Any, client: httpx.Client, basic: dict[str, Any]
) -> None:
    dataset = emu.add_dataset(
        "outputs",
        [
            {"input": "q1", "actual_output": "hello there", "expected_output": "hi"},
            {"input": "q2", "actual_output": "bye", "expected_output": "hi"},
        ],
    )
    run = client.post(
        "runs", json={"dataset_id": dataset["id"], "metric_ids": [basic["check"]["id"]]}
    ).json()
    assert (run["prompt_id"], run["name"]) == (None, "outputs scoring #1")
    assert client.post(f"runs/{run['id']}/generate").status_code == 202
    clock.advance(emu.run_duration)
    body = get(client, f"runs/{run['id']}")
    assert (body["status"], body["check_pass_rate"]) == ("completed", 0.5)
    texts = [r["response_text"] for r in client.get(f"runs/{run['id']}/responses").json()]
    assert texts == ["hello there", "bye"]

    missing = client.post("runs", json={"dataset_id": dataset["id"], "output_column": "answer"})
    assert missing.status_code == 422
    assert missing.json()["details"] == {
        "output_column": ['"answer" is not a column on dataset "outputs"']
    }
    # The column can still go missing after the run is made: then `generate` refuses it.
    later = client.post("runs", json={"dataset_id": dataset["id"]}).json()
    client.patch(f"datasets/{dataset['id']}", json={"csv_data": "input,expected_output\nq1,hi\n"})
    refused = client.post(f"runs/{later['id']}/generate")
    assert refused.status_code == 422
    assert refused.json() == {"error": 'Dataset has no "actual_output" column'}
    assert get(client, f"runs/{later['id']}")["status"] == "failed"


def test_202_body_is_running_even_with_zero_duration(
    emu: Emulator, client: httpx.Client, make_run: MakeRun
) -> None:
    emu.run_duration = 0.0
    run = make_run()
    started = client.post(f"runs/{run['id']}/generate").json()
    assert started["status"] == "running"
    assert get(client, f"runs/{run['id']}")["status"] == "completed"
