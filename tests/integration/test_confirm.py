"""Confirm before failing (`confirm-runs`) end to end in process: `cli.App`, the emulator's transport
and one fake clock. A one-row judge flip (the emulator's seeded `NoisyJudge`) is re-tested and
found flaky, a real drop (a judge that scores one input's answer low, wherever that row sits) is
confirmed; failed confirm runs keep the verdict; too many flagged rows fail without confirming; and
nothing a confirm makes becomes a baseline."""

from __future__ import annotations

import pytest

from ckaction.candidates import PASSED_TAG
from ckaction.clock import Deadline
from ckaction.confirm import Confirmer
from ckaction.emulator import Fault
from ckaction.emulator.judging import JudgeCall, NoisyJudge, ScriptedJudge, Verdict
from ckaction.emulator.records import parse_csv
from ckaction.emulator.seed import DEMO_ROWS, TEMPLATE_V2
from ckaction.filegate import CONTENT_RUN_PREFIX
from ckaction.flow import StepTools
from ckaction.runtags import CONFIRM_TAG
from tests.conftest import ActionEnv, Emulated
from tests.integration.helpers import api_root, gate_step, run_action
from tests.integration.test_engine_offers import emulated_gate
from tests.integration.test_prompt_files_gate import PASSING, write

FLIP_SEED = 1
"""A seed of `NoisyJudge(spread=2, probability=0.1)` under which the gate run of the unchanged
candidate scores one row (row 8, Accuracy) two points down and nothing else below the tolerances,
while the three confirm runs a side score that row alike: a one-row judge flip. The test checks the
flip itself (`confirm-runs: 0` fails on exactly that row), so another noise model cannot pass it
silently."""
FLIPPED_ROW = 8
DROPPED_ORDER = "10533"  # the demo's row 2: the answer the judge finds worse with the candidate


def noisy(emulated: Emulated) -> None:
    """Candidate and baseline equally good (every LLM score 4), with the judge's seeded noise."""
    emulated.emulator.judge = NoisyJudge(
        ScriptedJudge(default=4), spread=2, seed=FLIP_SEED, probability=0.1
    )


def drops_on(emulated: Emulated, *orders: str) -> None:
    """A real regression: the candidate's answers to these orders score 2 on Accuracy, in the gate
    run and in every confirm run alike (the judge reads the row, not its position)."""
    candidate = emulated.ids.prompt_v2_id
    base = ScriptedJudge(default=4)

    def judge(call: JudgeCall) -> Verdict:
        if (
            call.run.get("prompt_id") == candidate
            and call.row.get("order_number") in orders
            and call.metric.get("name") == "Accuracy"
        ):
            return Verdict(2, None, "Misses what the customer asked.")
        return base(call)

    emulated.emulator.judge = judge


def confirm_made(emulated: Emulated) -> tuple[list[dict], list[dict]]:
    """The datasets and runs tagged ckaction-confirm."""
    emu = emulated.emulator
    query = {"tag[]": [CONFIRM_TAG], "limit": ["100"]}
    return emu.list_datasets(query).items, emu.list_runs(query).items


def by_row(result) -> dict[int, dict]:
    return by_row_of(result.report)


def test_the_flip_itself_fails_the_gate_without_confirm(emulated, action_env: ActionEnv) -> None:
    noisy(emulated)
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.stdout
    assert result.outputs["regressions"] == "1"
    assert [i for i, row in by_row(result).items() if row["status"] == "regressed"] == [FLIPPED_ROW]
    assert not any(m["regressed"] for m in result.report["metrics"])
    assert result.report["confirm"] is None
    assert confirm_made(emulated) == ([], [])


def test_a_one_row_judge_flip_is_flaky_and_the_build_green(emulated, action_env) -> None:
    noisy(emulated)
    result = gate_step(emulated, action_env, **{"confirm-runs": "3"})
    assert result.code == 0, result.stdout
    assert result.outputs["result"] == "passed" and result.outputs["regressions"] == "0"
    row = by_row(result)[FLIPPED_ROW]
    assert row["status"] == "flaky"
    (recheck,) = row["confirm"]["metrics"]
    assert recheck["metric"] == "Accuracy"
    assert len(recheck["baseline_scores"]) == len(recheck["candidate_scores"]) == 3
    assert recheck["mean_delta"] >= -1.0
    assert result.report["counts"]["flaky"] == 1 and result.report["counts"]["regressed"] == 0
    assert result.report["confirm"]["cost"] == 6
    summary = result.summary_text
    assert "Confirming 1 flagged row before failing" in summary
    assert (
        "3 runs each of the baseline's and the candidate's prompt, 6 more row evaluations (2 × 3 × 1)"
        in summary
    )
    assert "flaky, not failing" in summary and "order_number: 10652" in summary
    # The cost is said before any confirm run is paid for.
    log = result.stdout
    assert log.index("Confirming 1 flagged row") < log.index("row 8: flaky")
    datasets, runs = confirm_made(emulated)
    (dataset,) = datasets
    assert dataset["name"].startswith("ckaction confirm ")
    _, rows = parse_csv(dataset["csv_data"])
    assert [r["order_number"] for r in rows] == ["10652"]
    assert len(runs) == 6 and all(r["name"].startswith("ckaction confirm ") for r in runs)
    ids = emulated.ids
    prompts = sorted(r["prompt_id"] for r in runs)
    assert prompts == [ids.prompt_v1_id] * 3 + [ids.prompt_v2_id] * 3


def test_a_real_drop_is_confirmed_and_the_build_red(emulated, action_env) -> None:
    drops_on(emulated, DROPPED_ORDER)
    result = gate_step(emulated, action_env, **{"confirm-runs": "3"})
    assert result.code == 1, result.stdout
    assert result.outputs["regressions"] == "1"
    row = by_row(result)[emulated.ids.regressed_row_index]
    assert row["status"] == "confirmed"
    (recheck,) = row["confirm"]["metrics"]
    assert recheck["candidate_scores"] == [2.0, 2.0, 2.0]
    assert recheck["baseline_scores"] == [4.0, 4.0, 4.0]
    assert recheck["mean_delta"] == -2.0
    assert "Confirming 1 flagged row before failing" in result.summary_text
    assert "❌ confirmed" in result.summary
    assert "Regressed rows" in result.summary
    # The log's regression line says the confirm's verdict (fails before: it read as unconfirmed).
    index = emulated.ids.regressed_row_index
    assert f"regression: row {index} (confirmed): Accuracy 4" in result.stdout


def test_failed_confirm_runs_leave_the_row_unassessable_and_failing(emulated, action_env) -> None:
    drops_on(emulated, DROPPED_ORDER)
    refused = Fault("POST", r"/datasets$", status=422)
    emulated.emulator.faults.append(refused)
    result = gate_step(emulated, action_env, **{"confirm-runs": "2"})
    assert refused.hits == 1
    assert result.code == 1, result.stdout
    assert by_row(result)[emulated.ids.regressed_row_index]["status"] == "unassessable"
    assert result.outputs["regressions"] == "1"
    assert result.report["confirm"]["problem"]
    assert "keep their verdict" in result.summary_text
    index = emulated.ids.regressed_row_index
    assert f"regression: row {index} (unassessable, verdict kept): Accuracy 4" in result.stdout


def test_more_flagged_rows_than_confirm_max_rows_fail_without_confirming(
    emulated, action_env
) -> None:
    drops_on(emulated, DROPPED_ORDER, "10560")
    result = gate_step(
        emulated,
        action_env,
        **{"confirm-runs": "3", "confirm-max-rows": "1", "avg-tolerance": "-1"},
    )
    assert result.code == 1, result.stdout
    assert result.outputs["regressions"] == "2"
    assert [i for i, row in by_row(result).items() if row["status"] == "regressed"] == [2, 3]
    assert result.report["confirm"]["skipped"].startswith("2 rows were flagged")
    assert "more than confirm-max-rows (1)" in result.summary_text
    assert not [r for r in emulated.emulator.requests if r.path == "/datasets"]


def test_an_average_regression_is_not_confirmed(emulated, action_env) -> None:
    drops_on(emulated, DROPPED_ORDER)
    result = gate_step(emulated, action_env, **{"confirm-runs": "3", "avg-tolerance": "-0.1"})
    assert result.code == 1
    assert result.report["confirm"]["skipped"].startswith("the mean of Accuracy regressed too")
    assert confirm_made(emulated) == ([], [])


def test_confirm_runs_never_become_baselines(emulated, action_env) -> None:
    noisy(emulated)
    assert gate_step(emulated, action_env, **{"confirm-runs": "3"}).code == 0
    # The live prompt (v1) now has three newer completed, scored runs: the confirm's baseline side.
    again = gate_step(
        emulated, action_env, **{"prompt-id": str(emulated.ids.prompt_v1_id)}, commit="f" * 40
    )
    assert again.outputs["baseline-run-id"] == str(emulated.ids.baseline_run_id)


# -- with prompt files: the same confirm, and confirm-max-rows over all files of the step -----------


def terse_drops(call: JudgeCall) -> Verdict:
    """A real regression that follows the content: a terse template's answer to order 10533 scores
    2 on Accuracy, in the gate run and in the confirm runs alike."""
    terse = "terse" in str(call.prompt.get("template", ""))
    if (
        terse
        and call.row.get("order_number") == DROPPED_ORDER
        and call.metric.get("name") == "Accuracy"
    ):
        return Verdict(2, None, "Too terse to be accurate.")
    return ScriptedJudge(default=4)(call)


def files_step(emulated: Emulated, env: ActionEnv, **inputs: str):
    return run_action(
        emulated, env, {"api-url": emulated.url, "prompt-files": "prompts/*.yml", **inputs}
    )


def test_a_prompt_file_whose_only_regression_is_a_flip_passes_and_is_trusted(
    emulated, action_env
) -> None:
    noisy(emulated)
    write(action_env, "prompts/support-reply.yml", PASSING)
    result = files_step(emulated, action_env, **{"confirm-runs": "3"})
    assert result.code == 0, result.stdout
    (file,) = result.report["files"]
    assert file["result"] == "passed"
    assert by_row_of(file["report"])[FLIPPED_ROW]["status"] == "flaky"
    assert PASSED_TAG in [t["name"] for t in emulated.emulator.get_run(file["run-id"])["tags"]]
    assert "Confirming 1 flagged row before failing" in result.summary_text
    assert "✅ passed (1 flaky row, not failing)" in result.summary_text  # the overview's verdict
    # The baseline's inputs for the confirm are read with `fields=`, not its whole responses
    # (fails before the fix: the confirm downloaded every output of the baseline again).
    baseline = f"/runs/{file['baseline-run-id']}/responses"
    asked = [r.query.get("fields") for r in emulated.emulator.requests if r.path == baseline]
    assert asked and None not in asked


def test_confirm_max_rows_caps_the_flagged_rows_of_all_files_together(emulated, action_env) -> None:
    emulated.emulator.judge = terse_drops
    write(action_env, "prompts/a.yml", TEMPLATE_V2)
    write(action_env, "prompts/b.yml", TEMPLATE_V2 + " Be kind.")
    capped = files_step(emulated, action_env, **{"confirm-runs": "2", "confirm-max-rows": "1"})
    assert capped.code == 1, capped.stdout
    skipped = [f["report"]["confirm"]["skipped"] for f in capped.report["files"]]
    assert all(
        reason.startswith("2 rows were flagged, more than confirm-max-rows (1)")
        for reason in skipped
    )
    assert not [r for r in emulated.emulator.requests if r.path == "/datasets"]
    both = files_step(emulated, action_env, **{"confirm-runs": "2", "confirm-max-rows": "2"})
    assert both.code == 1, both.stdout
    statuses = [
        row["status"] for f in both.report["files"] for row in f["report"]["rows"] if row["confirm"]
    ]
    assert statuses == ["confirmed", "confirmed"]


def by_row_of(report: dict) -> dict[int, dict]:
    return {row["row_index"]: row for row in report["rows"]}


def test_a_confirm_over_real_http_posts_the_flagged_rows_and_confirms(emulated, action_env) -> None:
    """The same confirm through the real HTTP transport to the emulator served on 127.0.0.1 (on the
    fake clock: nothing waits for real)."""
    drops_on(emulated, DROPPED_ORDER)
    with api_root(emulated, over_http=True) as url:
        result = gate_step(
            emulated, action_env, over_http=True, **{"api-url": url, "confirm-runs": "2"}
        )
    assert result.code == 1, result.stdout
    assert by_row(result)[emulated.ids.regressed_row_index]["status"] == "confirmed"
    (posted,) = [
        r for r in emulated.emulator.requests if r.method == "POST" and r.path == "/datasets"
    ]
    assert posted.status == 201
    _, rows = parse_csv(posted.body["csv_data"])
    assert rows == [DEMO_ROWS[emulated.ids.regressed_row_index]]  # every column, exactly
    assert posted.body["tag_names"] == [CONFIRM_TAG]


def test_confirm_runs_still_going_at_the_deadline_leave_the_row_unassessable(
    emulated, action_env
) -> None:
    """Each run takes 70 s: the gate's own run fits in timeout-minutes (2), its confirm runs do not
    (they would end past 140 s), so the row keeps its verdict and the gate stops on time."""
    drops_on(emulated, DROPPED_ORDER)
    emulated.emulator.run_duration = 70.0
    started = emulated.time.now()
    result = gate_step(emulated, action_env, **{"confirm-runs": "2", "timeout-minutes": "2"})
    assert result.code == 1, result.stdout
    assert by_row(result)[emulated.ids.regressed_row_index]["status"] == "unassessable"
    assert emulated.time.now() - started <= 120
    assert result.report["confirm"]["problem"].startswith("not every confirm run completed")
    assert "the flagged rows keep their verdict" in result.summary_text
    _, runs = confirm_made(emulated)
    assert len(runs) == 4 and all(run["status"] == "running" for run in runs)


def flips_in_gate_runs(call: JudgeCall) -> Verdict:
    """A flip only the gate's own candidate run sees: its answer to order 10533 scores 2 on
    Accuracy there, and 4 wherever else it is judged (the confirm runs), so the row proves flaky."""
    if (
        str(call.run.get("name", "")).startswith(CONTENT_RUN_PREFIX)
        and call.row.get("order_number") == DROPPED_ORDER
        and call.metric.get("name") == "Accuracy"
    ):
        return Verdict(2, None, "Misses what the customer asked.")
    return ScriptedJudge(default=4)(call)


def test_a_stuck_prompt_files_run_replaced_then_confirmed_trusts_the_fresh_run(
    emulated, action_env
) -> None:
    """Stuck replacement and confirm meet: the run the confirm re-tests, and the run tagged
    `ckaction-passed` when its rows prove flaky, are the fresh run that was measured, never the
    stuck one it replaced. Fails before the fix: the confirm took the file's first (stuck) run."""
    emulated.emulator.judge = flips_in_gate_runs
    write(action_env, "prompts/support-reply.yml", PASSING)
    first = files_step(emulated, action_env)
    assert first.code == 1, first.stdout  # the flip fails a gate that does not confirm
    (stuck,) = [
        r
        for r in emulated.emulator.list_runs().items
        if r.get("name", "").startswith(CONTENT_RUN_PREFIX)
    ]
    record = emulated.emulator._runs[stuck["id"]]
    record.status, record.responses = "running", []  # its start job lost: no rows, for ever
    again = files_step(
        emulated,
        action_env,
        **{"confirm-runs": "2", "stale-minutes": "1"},
        GITHUB_SHA="f" * 40,
    )
    assert again.code == 0, again.stdout
    (file,) = again.report["files"]
    fresh = int(file["run-id"])
    assert fresh != stuck["id"]
    assert by_row_of(file["report"])[2]["status"] == "flaky"

    def tags(run_id: int) -> list[str]:
        return [t["name"] for t in emulated.emulator.get_run(run_id)["tags"]]

    assert PASSED_TAG in tags(fresh)
    assert PASSED_TAG not in tags(stuck["id"])
    _, runs = confirm_made(emulated)
    assert runs and all(f"run {fresh} " in r["name"] for r in runs)


def test_no_confirm_run_is_paid_for_once_the_deadline_has_passed(emulated: Emulated) -> None:
    """A confirm reached after the step's deadline (another prompt file's retry waited it out)
    starts nothing it could never read: the rows keep their verdict and the report says why.
    Fails before the fix: the dataset and 2 × N runs were made after the deadline."""
    drops_on(emulated, DROPPED_ORDER)
    gate = emulated_gate(emulated)
    report = gate.run()
    evaluation = report.evaluation
    assert evaluation is not None and evaluation.counts.regressed == 1
    client, time = gate.client, emulated.time
    baseline = client.get_run(emulated.ids.baseline_run_id)
    candidate = client.get_run(int(report.outputs()["run-id"]))
    inputs = {r.id: r.input_data for r in client.responses(baseline.id, ("id", "input_data"))}
    emulated.emulator.requests.clear()
    spent = Deadline(time.now() - 1.0, time.now)
    confirmer = Confirmer(
        StepTools(client, gate.log, time.now, time.sleep, spent), runs=2, max_rows=20
    )
    confirmed, facts = confirmer.confirm(
        evaluation,
        baseline=baseline,
        candidate=candidate,
        inputs=inputs,
        tolerances=gate.tolerances,
        label=None,
        mark="late",
    )
    assert confirmed == evaluation
    assert facts is not None and facts.skipped is not None
    assert "timeout-minutes" in facts.skipped
    assert not [r for r in emulated.emulator.requests if r.method == "POST"]


# -- never pay twice for the same measurement: an earlier confirm is reused, once verified ----------


def posts(emulated: Emulated) -> list[str]:
    """The paths of the writes that cost something: datasets, runs and their starts."""
    return [r.path for r in emulated.emulator.requests if r.method == "POST"]


def test_a_re_run_of_the_job_reuses_the_confirm_runs_and_pays_nothing(emulated, action_env) -> None:
    """The job run again on the same commit: the gate run is reused, and so are the confirm's
    dataset and its 2 × N runs, verified; the row's verdict and scores are the earlier ones, and
    the summary says nothing new was paid for. Fails before the fix: a second dataset and six more
    runs were made."""
    noisy(emulated)
    first = gate_step(emulated, action_env, **{"confirm-runs": "3"})
    assert first.code == 0, first.stdout
    emulated.emulator.requests.clear()
    again = gate_step(emulated, action_env, **{"confirm-runs": "3"})
    assert again.code == 0, again.stdout
    assert posts(emulated) == []
    datasets, runs = confirm_made(emulated)
    assert len(datasets) == 1 and len(runs) == 6
    assert again.report["confirm"]["reused"] is True and again.report["confirm"]["cost"] == 0
    assert again.report["confirm"]["dataset_id"] == first.report["confirm"]["dataset_id"]
    assert sorted(again.report["confirm"]["run_ids"]) == sorted(r["id"] for r in runs)
    assert by_row(again)[FLIPPED_ROW] == by_row(first)[FLIPPED_ROW]
    assert "Reusing the confirm runs of an earlier job for 1 flagged row" in again.summary_text
    assert "no new evaluation is paid for" in again.summary_text
    assert "Reusing the confirm runs" not in first.summary_text


def test_a_reused_confirm_keeps_a_real_drop_confirmed(emulated, action_env) -> None:
    drops_on(emulated, DROPPED_ORDER)
    assert gate_step(emulated, action_env, **{"confirm-runs": "2"}).code == 1
    emulated.emulator.requests.clear()
    again = gate_step(emulated, action_env, **{"confirm-runs": "2"})
    assert again.code == 1, again.stdout
    assert posts(emulated) == []
    assert by_row(again)[emulated.ids.regressed_row_index]["status"] == "confirmed"


def fail_one_run(emulated: Emulated, runs: list[dict]) -> None:
    emulated.emulator._runs[runs[-1]["id"]].status = "failed"


def change_one_judge(emulated: Emulated, runs: list[dict]) -> None:
    emulated.emulator._runs[runs[0]["id"]].judge_model = "another-judge"


def delete_one_run(emulated: Emulated, runs: list[dict]) -> None:
    emulated.emulator.delete_run(runs[0]["id"])


def swap_one_prompt(emulated: Emulated, runs: list[dict]) -> None:
    ids = emulated.ids
    baseline_side = next(r for r in runs if " baseline " in r["name"])
    emulated.emulator._runs[baseline_side["id"]].prompt_id = ids.prompt_v2_id


def change_the_rows(emulated: Emulated, runs: list[dict]) -> None:
    dataset = emulated.emulator._datasets[runs[0]["dataset_id"]]
    dataset.csv_data = dataset.csv_data.replace("10652", "10653")


@pytest.mark.parametrize(
    "tamper",
    [fail_one_run, change_one_judge, delete_one_run, swap_one_prompt, change_the_rows],
    ids=lambda tamper: tamper.__name__,
)
def test_an_earlier_confirm_that_is_not_the_same_measurement_is_not_reused(
    emulated, action_env, tamper
) -> None:
    """Its names alone do not make a confirm reusable: a run that failed or is missing, a run with
    another judge or prompt, or a dataset of other rows, and the confirm is paid for again."""
    noisy(emulated)
    assert gate_step(emulated, action_env, **{"confirm-runs": "3"}).code == 0
    _, runs = confirm_made(emulated)
    tamper(emulated, runs)
    again = gate_step(emulated, action_env, **{"confirm-runs": "3"})
    assert again.code == 0, again.stdout
    assert again.report["confirm"]["reused"] is False
    assert again.report["confirm"]["cost"] == 6
    datasets, _ = confirm_made(emulated)
    assert len(datasets) == 2
    assert "no new evaluation is paid for" not in again.summary_text


def test_a_confirm_with_another_number_of_runs_is_not_reused(emulated, action_env) -> None:
    noisy(emulated)
    assert gate_step(emulated, action_env, **{"confirm-runs": "3"}).code == 0
    again = gate_step(emulated, action_env, **{"confirm-runs": "2"})
    assert again.report["confirm"]["reused"] is False
    _, runs = confirm_made(emulated)
    assert len(runs) == 3 + 3 + 2 + 2


def test_a_prompt_file_gated_again_on_another_commit_reuses_its_confirm(
    emulated, action_env
) -> None:
    """With prompt files the gate run is found by content from any commit, and so is the confirm of
    its flagged rows: named for the runs it measures, not for the commit that first paid for it."""
    noisy(emulated)
    write(action_env, "prompts/support-reply.yml", PASSING)
    first = files_step(emulated, action_env, **{"confirm-runs": "3"})
    assert first.code == 0, first.stdout
    emulated.emulator.requests.clear()
    again = files_step(emulated, action_env, **{"confirm-runs": "3"}, GITHUB_SHA="e" * 40)
    assert again.code == 0, again.stdout
    assert posts(emulated) == []
    (file,) = again.report["files"]
    assert file["report"]["confirm"]["reused"] is True
    assert by_row_of(file["report"])[FLIPPED_ROW]["status"] == "flaky"
    assert "no new evaluation is paid for" in again.summary_text
