"""What the engine offers a gate, used against the emulator (in process, and over HTTP where said):
responses downloaded with `fields=` after the compare, one `GET /prompts/:id` per prompt,
`rebaseline-method` (rerun, regrade, new run), `retry_failures` once before rows are declared
unscored, and a rerun whose answer was lost read back before any resend."""

from __future__ import annotations

import contextlib
import json
import re

import pytest

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.clock import Deadline
from ckaction.emulator.faults import Fault
from ckaction.emulator.judging import GenerationError, JsonDict, default_generator
from ckaction.emulator.seed import DEMO_ROWS, TEMPLATE_V1
from ckaction.errors import UncertainOutcome
from ckaction.flow import OUTPUT_FIELD, VERDICT_FIELDS, Gate, StepTools
from ckaction.inputs import Settings
from ckaction.report import Facts
from ckaction.rerun import Reruns
from ckaction.runtags import CALIBRATE_TAG
from tests.conftest import TOKEN, ActionEnv, Emulated
from tests.integration.helpers import Result, api_root, gate_step, run_action, statuses
from tests.integration.test_prompt_files_gate import write

VERDICT_QUERY = ",".join(VERDICT_FIELDS)
WITH_OUTPUT_QUERY = ",".join((*VERDICT_FIELDS, OUTPUT_FIELD))


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    def warning(self, message: str, *, title: str = "") -> bool:
        self.lines.append(f"{title}: {message}")
        return True

    def group(self, title: str) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def emulated_gate(emulated: Emulated, **inputs: str) -> Gate:
    """A gate of the seeded candidate over the emulator's transport, on its fake clock."""
    settings = Settings.parse(
        {
            "api_token": TOKEN,
            "api_url": emulated.url,
            "prompt_id": str(emulated.ids.prompt_v2_id),
            "row_tolerance": "-1.0",
            **inputs,
        }
    )
    time = emulated.time
    deadline = Deadline.after(settings.timeout_seconds, time.now)
    http = build_http_client(settings.api_root, TOKEN, transport=emulated.transport)
    client = CompletionKitClient(http, sleep=time.sleep, deadline=deadline)
    return Gate(
        settings,
        StepTools(client, Log(), time.now, time.sleep, deadline),
        commit="c" * 40,
        facts=Facts(command="gate"),
    )


def response_queries(emulated: Emulated) -> dict[int, list[str]]:
    """The `fields` each `GET /runs/:id/responses` asked for, by run id."""
    asked: dict[int, list[str]] = {}
    for request in emulated.emulator.requests:
        found = re.fullmatch(r"/runs/(\d+)/responses", request.path)
        if request.method == "GET" and found:
            asked.setdefault(int(found[1]), []).extend(request.query.get("fields", ["<all>"]))
    return asked


def prompt_reads(emulated: Emulated) -> list[str]:
    return [
        r.path
        for r in emulated.emulator.requests
        if r.method == "GET" and re.fullmatch(r"/prompts/[^/]+", r.path)
    ]


# -- fields= -------------------------------------------------------------------------------------


@pytest.mark.parametrize("over_http", [False, True])
def test_a_gate_with_no_regression_downloads_no_outputs(
    emulated: Emulated, action_env: ActionEnv, over_http: bool
) -> None:
    """Gating the live version against its own baseline changes no score: both runs' responses
    come with the verdict's fields only (no `response_text`, no `expected_output`)."""
    with api_root(emulated, over_http=over_http) as root:
        result = gate_step(
            emulated,
            action_env,
            over_http=over_http,
            **{"api-url": root, "prompt-id": str(emulated.ids.prompt_v1_id)},
        )
    assert result.code == 0, result.summary
    baseline, candidate = emulated.ids.baseline_run_id, int(result.outputs["run-id"])
    assert response_queries(emulated) == {baseline: [VERDICT_QUERY], candidate: [VERDICT_QUERY]}


def test_a_regression_downloads_outputs_on_both_sides(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    baseline, candidate = emulated.ids.baseline_run_id, int(result.outputs["run-id"])
    assert response_queries(emulated) == {
        baseline: [WITH_OUTPUT_QUERY],
        candidate: [WITH_OUTPUT_QUERY],
    }


def test_outputs_are_kept_only_for_the_rows_that_regressed(emulated: Emulated) -> None:
    """The responses the verdict receives carry the output of the regressed row on both sides,
    and no other row's: a 10,000-row gate keeps only what the report shows."""
    gate = emulated_gate(emulated)
    report = gate.run()
    assert report.result == "regressed"
    assert gate.facts.candidate is not None
    comparison = gate.client.compare(emulated.ids.baseline_run_id, gate.facts.candidate.id)
    baseline, candidate = gate.compared_responses(comparison)
    regressed_row = next(
        row for row in comparison.rows if row.row_index == emulated.ids.regressed_row_index
    )
    assert regressed_row.left_response_id is not None
    assert regressed_row.right_response_id is not None
    kept = {rid for rid, facts in baseline.items() if facts.output is not None}
    assert kept == {regressed_row.left_response_id}
    kept = {rid for rid, facts in candidate.items() if facts.output is not None}
    assert kept == {regressed_row.right_response_id}
    shown = emulated.emulator.get_response(gate.facts.candidate.id, regressed_row.right_response_id)
    assert candidate[regressed_row.right_response_id].output == shown["response_text"]
    assert all(facts.input_data for facts in (*baseline.values(), *candidate.values()))


def test_the_emulator_answers_the_gates_fields_as_changelog_0_28_25_says(
    emulated: Emulated,
) -> None:
    """`id` always; `reviews.<key>` trims each review to its id and those keys."""
    run = emulated.ids.baseline_run_id
    for fields, keys in ((VERDICT_QUERY, set()), (WITH_OUTPUT_QUERY, {"response_text"})):
        items = emulated.emulator.list_responses(run, {"fields": [fields]}).items
        assert len(items) == 10
        assert all(set(item) == {"id", "input_data", "reviews", *keys} for item in items)
        reviews = [review for item in items for review in item["reviews"]]
        assert len(reviews) == 30
        assert all(set(review) == {"id", "metric_id", "ai_feedback"} for review in reviews)


# -- GET /prompts/:id ----------------------------------------------------------------------------


def test_a_gate_reads_each_prompt_once(emulated: Emulated, action_env: ActionEnv) -> None:
    """The candidate (a draft) and the live version are two prompts: two reads, not more."""
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    reads = prompt_reads(emulated)
    assert len(reads) == 2 and len(set(reads)) == 2, reads


def test_a_gate_of_the_live_version_reads_it_once(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """A current prompt is its own live version: one read, no lookup of its family."""
    result = gate_step(emulated, action_env, **{"prompt-id": str(emulated.ids.prompt_v1_id)})
    assert result.code == 0, result.summary
    assert prompt_reads(emulated) == [f"/prompts/{emulated.ids.prompt_v1_id}"]


def test_rebaseline_reads_the_prompt_once(emulated: Emulated, action_env: ActionEnv) -> None:
    result = gate_step(
        emulated,
        action_env,
        command="rebaseline",
        **{"prompt-id": str(emulated.ids.prompt_v1_id)},
    )
    assert result.code == 0, result.summary
    assert prompt_reads(emulated) == [f"/prompts/{emulated.ids.prompt_v1_id}"]


def test_rebaseline_of_a_prompt_file_reads_the_live_prompt_once(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """The live prompt the file names is read by name; the rebaseline reads it no more."""
    prompts = action_env.workspace / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "support.yml").write_text(
        f"prompt: Support reply\nllm_model: gpt-4o-mini\ntemplate: {json.dumps(TEMPLATE_V1)}\n"
    )
    inputs = {"api-url": emulated.url, "command": "rebaseline", "prompt-files": "prompts/*"}
    result = run_action(emulated, action_env, inputs)
    assert result.code == 0, result.summary
    assert result.outputs["rebaseline-method"] == "rerun"
    assert prompt_reads(emulated) == ["/prompts/Support%20reply"]


# -- rebaseline-method ---------------------------------------------------------------------------


def requests_to(emulated: Emulated, method: str, pattern: str) -> list[str]:
    return [
        r.path
        for r in emulated.emulator.requests
        if r.method == method and re.search(pattern, r.path)
    ]


def run_count(emulated: Emulated) -> int:
    return emulated.emulator.list_runs({}).total


def rebaseline_step(emulated: Emulated, env: ActionEnv, **inputs: str) -> Result:
    base = {"command": "rebaseline", "baseline-run-id": str(emulated.ids.baseline_run_id)}
    return gate_step(emulated, env, **{**base, **inputs})


def ckaction_baseline(emulated: Emulated) -> int:
    """A completed run of the live prompt that a rebaseline made (tagged `ckaction-baseline`)."""
    ids = emulated.ids
    run = emulated.emulator.add_completed_run(
        ids.prompt_v1_id,
        ids.dataset_id,
        ids.metric_ids,
        judge_model=ids.judge_model,
        tag_names=("ckaction-baseline",),
    )
    return int(run["id"])


def test_an_unchanged_judge_model_means_a_rerun(emulated: Emulated, action_env: ActionEnv) -> None:
    before = run_count(emulated)
    result = rebaseline_step(emulated, action_env, **{"judge-model": emulated.ids.judge_model})
    assert result.code == 0, result.summary
    assert result.outputs["rebaseline-method"] == "rerun"
    assert requests_to(emulated, "POST", r"/rerun$") == [
        f"/runs/{emulated.ids.baseline_run_id}/rerun"
    ]
    assert requests_to(emulated, "POST", r"^/runs$") == []
    assert run_count(emulated) == before + 1
    assert "Captured a fresh baseline (rerun)" in result.summary_text


def test_a_new_judge_model_means_a_new_run(emulated: Emulated, action_env: ActionEnv) -> None:
    result = rebaseline_step(emulated, action_env, **{"judge-model": "gpt-4.1"})
    assert result.code == 0, result.summary
    assert result.outputs["rebaseline-method"] == "new-run"
    assert requests_to(emulated, "POST", r"/rerun$") == []
    assert len(requests_to(emulated, "POST", r"^/runs$")) == 1
    new_run = emulated.emulator.get_run(result.outputs["run-id"])
    assert new_run["judge_model"] == "gpt-4.1"


@pytest.mark.parametrize("over_http", [False, True])
def test_regrade_rejudges_a_ckaction_baseline_in_place(
    emulated: Emulated, action_env: ActionEnv, over_http: bool
) -> None:
    """After a metric's rubric changed, regrade re-judges the baseline's own outputs under the
    new version: the same run, the same responses and texts, nothing generated or created."""
    baseline = ckaction_baseline(emulated)
    emulator = emulated.emulator
    texts = {r["id"]: r["response_text"] for r in emulator.list_responses(baseline).items}
    helpfulness = emulated.ids.metric_ids[0]
    new_version = emulator.bump_metric_version(helpfulness)
    runs_before = run_count(emulated)
    with api_root(emulated, over_http=over_http) as root:
        result = rebaseline_step(
            emulated,
            action_env,
            over_http=over_http,
            **{
                "api-url": root,
                "baseline-run-id": str(baseline),
                "rebaseline-method": "regrade",
            },
        )
    assert result.code == 0, result.summary
    assert result.outputs["rebaseline-method"] == "regrade"
    assert result.outputs["run-id"] == result.outputs["baseline-run-id"] == str(baseline)
    assert requests_to(emulated, "POST", r"/regrade$") == [f"/runs/{baseline}/regrade"]
    assert requests_to(emulated, "POST", r"/(rerun|generate)$|^/runs$") == []
    assert run_count(emulated) == runs_before
    responses = emulator.list_responses(baseline).items
    assert {r["id"]: r["response_text"] for r in responses} == texts
    versions = {
        review["metric_version_id"]
        for r in responses
        for review in r["reviews"]
        if review["metric_id"] == helpfulness
    }
    assert versions == {new_version}


def test_regrade_is_refused_on_a_run_ckaction_did_not_make_as_a_baseline(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = rebaseline_step(emulated, action_env, **{"rebaseline-method": "regrade"})
    assert result.code == 2
    assert "regrades only runs it made as baselines" in result.summary_text
    assert requests_to(emulated, "POST", r"/regrade$|/rerun$|^/runs$") == []


def test_regrade_is_refused_on_a_gate_run(emulated: Emulated, action_env: ActionEnv) -> None:
    gated = gate_step(emulated, action_env)
    assert gated.code == 1, gated.summary
    emulated.emulator.update_run(
        gated.outputs["run-id"], {"tag_names": ["ckaction-gate", "ckaction-baseline"]}
    )
    result = rebaseline_step(
        emulated,
        action_env,
        **{"baseline-run-id": gated.outputs["run-id"], "rebaseline-method": "regrade"},
    )
    assert result.code == 2
    assert "never a gate run" in result.summary_text
    assert requests_to(emulated, "POST", r"/regrade$") == []


def test_regrade_with_a_new_judge_model_is_refused(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    baseline = ckaction_baseline(emulated)
    result = rebaseline_step(
        emulated,
        action_env,
        **{
            "baseline-run-id": str(baseline),
            "rebaseline-method": "regrade",
            "judge-model": "gpt-4.1",
        },
    )
    assert result.code == 2
    assert "keeps run" in result.summary_text and "gpt-4.1" in result.summary_text
    assert requests_to(emulated, "POST", r"/regrade$") == []


def test_a_regrade_whose_answer_was_lost_is_not_sent_again(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    baseline = ckaction_baseline(emulated)
    emulated.emulator.faults.append(Fault("POST", r"/regrade$", status=504, after_processing=True))
    result = rebaseline_step(
        emulated,
        action_env,
        **{"baseline-run-id": str(baseline), "rebaseline-method": "regrade"},
    )
    assert result.code == 0, result.summary
    assert requests_to(emulated, "POST", r"/regrade$") == [f"/runs/{baseline}/regrade"]


# -- a rerun whose answer was lost ---------------------------------------------------------------


def test_a_rerun_whose_answer_was_lost_is_read_back_not_sent_again(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    before = run_count(emulated)
    emulated.emulator.faults.append(Fault("POST", r"/rerun$", status=504, after_processing=True))
    result = rebaseline_step(emulated, action_env)
    assert result.code == 0, result.summary
    assert len(requests_to(emulated, "POST", r"/rerun$")) == 1
    assert run_count(emulated) == before + 1
    newest = emulated.emulator.list_runs({}).items[0]
    assert result.outputs["run-id"] == str(newest["id"])
    assert "Uncertain rerun" in result.stdout


def test_a_rerun_that_did_not_land_is_sent_again_once(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    before = run_count(emulated)
    emulated.emulator.faults.append(Fault("POST", r"/rerun$", status=504))
    result = rebaseline_step(emulated, action_env)
    assert result.code == 0, result.summary
    assert len(requests_to(emulated, "POST", r"/rerun$")) == 2
    assert run_count(emulated) == before + 1


def test_an_older_copy_is_not_read_back_as_the_lost_rerun(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """Calibrate's second rerun is lost and did not land: the first rerun (same settings, just
    made) is not taken for it, so a second copy is made and both are compared."""
    before = run_count(emulated)
    emulated.emulator.faults.append(Fault("POST", r"/rerun$", status=504, times=1))
    first_ok = Fault("POST", r"/rerun$", status=None, times=1)
    emulated.emulator.faults.insert(0, first_ok)
    result = gate_step(
        emulated,
        action_env,
        command="calibrate",
        **{"baseline-run-id": str(emulated.ids.baseline_run_id), "calibration-runs": "2"},
    )
    assert result.code == 0, result.summary
    assert first_ok.hits == 1
    assert len(requests_to(emulated, "POST", r"/rerun$")) == 3
    assert run_count(emulated) == before + 2
    assert result.report is not None
    reruns = result.report["calibration"]["reruns"]
    assert len(set(reruns)) == 2


# -- retry_failures ------------------------------------------------------------------------------

FLAKY_ORDER = "10611"  # row 5 of the seeded dataset; the seeded regression is on row 2


class FlakyProvider:
    """The emulator's generator, except that the rows of `order` fail `failures` times first
    (a provider's transient 503)."""

    def __init__(self, order: str, failures: int) -> None:
        self.order = order
        self.failures = failures

    def __call__(self, prompt: JsonDict, row: dict[str, str]) -> str:
        if row.get("order_number") == self.order and self.failures > 0:
            self.failures -= 1
            raise GenerationError("503 Service Unavailable", status=503)
        return default_generator(prompt, row)


def test_a_transient_row_failure_is_retried_once_and_compared(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emulated.emulator.generator = FlakyProvider(FLAKY_ORDER, failures=1)
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    run_id = result.outputs["run-id"]
    assert requests_to(emulated, "POST", r"/retry_failures$") == [f"/runs/{run_id}/retry_failures"]
    assert f"Retried 1 failed row of run {run_id} once" in result.summary_text
    assert "1 recovered, 0 still failed" in result.summary_text
    assert result.report is not None
    counts = result.report["counts"]
    assert counts["unscored"] == 0 and counts["compared"] == 10


def test_a_row_that_fails_again_is_retried_only_once(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emulated.emulator.generator = FlakyProvider(FLAKY_ORDER, failures=2)
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    assert len(requests_to(emulated, "POST", r"/retry_failures$")) == 1
    assert "0 recovered, 1 still failed" in result.summary_text
    assert result.report is not None
    assert result.report["counts"]["unscored"] == 1
    run_id = result.outputs["run-id"]
    assert (
        f"1 row of run {run_id} failed to generate and was not compared." in result.report["notes"]
    )


def test_a_retry_refused_for_a_changed_metric_leaves_the_rows_unscored(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """A rubric published while the run was judged: CompletionKit answers 409 rather than mix
    versions in one run, and the gate says so instead of retrying."""
    flaky = FlakyProvider(FLAKY_ORDER, failures=1)
    emulator = emulated.emulator
    last_order = DEMO_ROWS[-1]["order_number"]

    def provider(prompt: JsonDict, row: dict[str, str]) -> str:
        if row.get("order_number") == last_order and prompt["id"] == emulated.ids.prompt_v2_id:
            emulator.bump_metric_version(emulated.ids.metric_ids[0])
        return flaky(prompt, row)

    emulator.generator = provider
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    assert statuses(emulator, "POST", r"/retry_failures$") == [409]
    assert "was not retried: a metric changed" in result.summary_text
    assert result.report is not None
    assert result.report["counts"]["unscored"] == 1


@pytest.mark.parametrize("landed", [True, False])
def test_a_retry_whose_answer_was_lost_is_read_not_sent_again(
    emulated: Emulated, action_env: ActionEnv, landed: bool
) -> None:
    emulated.emulator.generator = FlakyProvider(FLAKY_ORDER, failures=1)
    emulated.emulator.faults.append(
        Fault("POST", r"/retry_failures$", status=504, after_processing=landed)
    )
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    assert len(requests_to(emulated, "POST", r"/retry_failures$")) == 1
    assert result.report is not None
    if landed:
        assert "1 recovered, 0 still failed" in result.summary_text
        assert result.report["counts"]["unscored"] == 0
    else:
        assert "the run shows no retry" in result.summary_text
        assert result.report["counts"]["unscored"] == 1


def test_no_retry_without_the_time_for_it(emulated: Emulated, action_env: ActionEnv) -> None:
    """A run that takes 100 s of a 120 s budget leaves too little time for a retry."""
    emulated.emulator.run_duration = 100.0
    emulated.emulator.generator = FlakyProvider(FLAKY_ORDER, failures=1)
    result = gate_step(emulated, action_env, **{"timeout-minutes": "2"})
    assert result.code == 1, result.summary
    assert requests_to(emulated, "POST", r"/retry_failures$") == []
    assert "1 failed row of run" in result.summary_text
    assert "was not retried" in result.summary_text


def test_a_run_without_failures_is_not_retried(emulated: Emulated, action_env: ActionEnv) -> None:
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    assert requests_to(emulated, "POST", r"/retry_failures$") == []


def test_the_read_back_of_a_lost_rerun_never_waits_past_the_deadline(emulated: Emulated) -> None:
    """A rerun answered 504 that never lands, one second before the step's deadline: the read-back
    pauses stop at the deadline and nothing is sent again after it. Fails before the fix: the
    read-back paused 2 s twice whatever the time left, and resent the rerun past the deadline."""
    gate = emulated_gate(emulated, **{"timeout-minutes": "1"})
    emulated.time.sleep(gate.deadline - gate.clock() - 1.0)
    emulated.emulator.faults.append(Fault("POST", r"/rerun$", status=504, times=10))
    old = gate.client.get_run(emulated.ids.baseline_run_id)
    with pytest.raises(UncertainOutcome):
        Reruns.of(gate, CALIBRATE_TAG).rerun(old)
    assert gate.clock() <= gate.deadline
    assert len(requests_to(emulated, "POST", r"/rerun$")) == 1


def test_a_new_prompt_files_failed_row_is_retried_once_too(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """A prompt file with `create: true` has no baseline, and its run's failed rows get the same
    one retry as a compared run's. Fails before the fix: the new prompt's run was scored as it was,
    its failed row left out of its average without a retry."""
    ids = emulated.ids
    emulated.emulator.generator = FlakyProvider(FLAKY_ORDER, failures=1)
    write(
        action_env,
        "prompts/refund-reply.yml",
        "Explain the refund of order #{{order_number}}: {{customer_message}}",
        prompt="Refund reply",
        create=True,
        eval={"dataset-id": ids.dataset_id, "metric-ids": ids.metric_ids, "judge-model": "gpt-4.1"},
    )
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-files": "prompts/*.yml"}
    )
    assert result.code == 0, result.stdout
    assert result.report is not None
    (file,) = result.report["files"]
    run_id = file["run-id"]
    assert requests_to(emulated, "POST", r"/retry_failures$") == [f"/runs/{run_id}/retry_failures"]
    assert f"Retried 1 failed row of run {run_id} once" in result.summary_text


class StallingRetry(FlakyProvider):
    """A row fails once, and the retry of it never moves: the engine before 0.28.39 could leave a
    retried run `running` for ever (shared/completionkit-api.md §15). The emulator's pace after the
    failure puts the retried row a year away."""

    def __init__(self, emulated: Emulated) -> None:
        super().__init__(FLAKY_ORDER, failures=1)
        self.emulated = emulated

    def __call__(self, prompt: JsonDict, row: dict[str, str]) -> str:
        if row.get("order_number") == self.order and self.failures > 0:
            self.emulated.emulator.run_duration = 365 * 24 * 3600.0
        return super().__call__(prompt, row)


def test_a_retry_that_leaves_the_run_stuck_falls_under_the_stuck_rule(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """Fails before the fix: the gate waited on the stalled retry until timeout-minutes and ended
    in an error, with the other rows measured and never compared."""
    emulated.emulator.generator = StallingRetry(emulated)
    started = emulated.time.now()
    result = gate_step(emulated, action_env, **{"stale-minutes": "1", "timeout-minutes": "20"})
    assert result.code == 1, result.summary  # the seeded regression, compared
    assert emulated.time.now() - started < 20 * 60
    run_id = result.outputs["run-id"]
    assert requests_to(emulated, "POST", r"/retry_failures$") == [f"/runs/{run_id}/retry_failures"]
    assert f"The progress of run {run_id} has not moved for 1 minute" in result.summary_text
    assert result.report is not None
    assert result.report["counts"]["unscored"] == 1


def test_a_retry_still_going_near_the_deadline_leaves_the_rows_compared_as_they_were(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """The retry may not cost the verdict: a retried row still pending as the deadline nears is
    given up on in time to compare the rows as they were. Fails before the fix: the gate waited on
    the retry to the deadline and ended in a timeout error, the run measured and never compared."""
    emulated.emulator.generator = StallingRetry(emulated)
    result = gate_step(emulated, action_env, **{"stale-minutes": "60", "timeout-minutes": "5"})
    assert result.code == 1, result.summary  # the seeded regression, compared
    run_id = result.outputs["run-id"]
    assert requests_to(emulated, "POST", r"/retry_failures$") == [f"/runs/{run_id}/retry_failures"]
    assert f"The retry of 1 failed row of run {run_id} was not waited on" in result.summary_text
    assert "s of timeout-minutes left" in result.summary_text
    assert result.report is not None
    assert result.report["counts"]["unscored"] == 1
