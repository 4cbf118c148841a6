"""The client survives what the engine (or whatever sits at api-url) really does: listings that never
end, an engine too old for the gate, retries and waits that must end inside the step, a body that
never finishes arriving, an outage while a paid run is polled, a list filter that is ignored, and
scores missing on the baseline's side. Each test failed before the fix it pins."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from ckaction import api
from ckaction.api import CompletionKitClient, RetryPolicy, build_http_client
from ckaction.clock import Clock, Deadline
from ckaction.emulator import Emulator, EmulatorServer, Fault, GenerationError, Verdict, serve
from ckaction.errors import (
    EngineTooOld,
    NotFound,
    ServerError,
    TooManyPages,
    UncertainOutcome,
)
from ckaction.flow import GATE_TAG
from tests.conftest import FAKE_EPOCH, TOKEN, Emulated
from tests.integration.helpers import gate_step, run_action, statuses

STEP_SECONDS = 600.0
DRIP_SECONDS = 0.05  # between two bytes of a dripping answer: a run's JSON takes a minute
REQUEST_SECONDS = 0.5  # the whole answer's bound in the drip tests (real seconds)
POLL = r"/runs/\d+$"


@pytest.fixture
def served(emulated: Emulated) -> Iterator[EmulatorServer]:
    with serve(emulated.emulator) as server:
        yield server


@pytest.fixture
def client_for(emulated: Emulated) -> Iterator[Callable[..., CompletionKitClient]]:
    """Makes the gate's client for an API root, sleeping on the fake clock and, unless `clock`
    says otherwise, timed by it; every one is closed after the test."""
    opened: list[httpx.Client] = []

    def make(
        url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        seconds: float = STEP_SECONDS,
        clock: Clock = emulated.time.now,
        **policy: float,
    ) -> CompletionKitClient:
        http = build_http_client(url, TOKEN, transport=transport)
        opened.append(http)
        return CompletionKitClient(
            http,
            sleep=emulated.time.sleep,
            deadline=Deadline.after(seconds, clock),
            retry=RetryPolicy(**policy),
        )

    yield make
    for http in opened:
        http.close()


def gate_runs(emulated: Emulated, count: int) -> None:
    """`count` runs of the candidate carrying the gate's tag, none of them this commit's."""
    ids = emulated.ids
    body = {
        "prompt_id": ids.prompt_v2_id,
        "dataset_id": ids.dataset_id,
        "tag_names": [GATE_TAG],
        "name": "ckaction gate another commit",
    }
    emu = emulated.emulator
    for _ in range(count):
        emu.create_run(body)


def listed_requests(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "GET" and r.path == "/runs")


# -- paging ---------------------------------------------------------------------------------------


def test_a_server_that_ignores_offset_and_sends_no_headers_is_read_once(
    emulated, served, client_for
):
    emu = emulated.emulator
    gate_runs(emulated, 600)
    emu.ignores_offset, emu.drops_paging_headers = True, True
    runs = list(client_for(served.url).list_runs(prompt_id=emulated.ids.prompt_v2_id))
    assert len(runs) == len({run.id for run in runs}) == api.PAGE_LIMIT  # the page it repeats
    assert listed_requests(emu) == 2  # the second page repeated the first: the listing stopped


def test_a_server_that_ignores_offset_gives_no_run_twice(emulated, served, client_for):
    emu = emulated.emulator
    gate_runs(emulated, 1200)
    emu.ignores_offset = True  # X-Total-Count says 1200, X-Offset says 0 whatever was asked
    runs = list(client_for(served.url).list_runs(prompt_id=emulated.ids.prompt_v2_id))
    assert len(runs) == len({run.id for run in runs}) == api.PAGE_LIMIT
    assert listed_requests(emu) == 2


def test_a_listing_without_end_is_an_error_naming_the_endpoint(
    emulated, served, client_for, monkeypatch
):
    emu = emulated.emulator
    gate_runs(emulated, 2 * api.PAGE_LIMIT + 1)
    emu.drops_paging_headers = True  # honest pages, but nothing says where they end
    monkeypatch.setattr(api, "MAX_PAGES", 2)  # two full pages stand for 200 here
    with pytest.raises(TooManyPages, match=r"GET /runs: more than 2 pages of 500"):
        list(client_for(served.url).list_runs())


def test_a_gate_against_a_listing_that_never_ends_finishes_with_its_report(
    emulated, action_env, served
):
    """Before: looking for this commit's run among 600 gate runs, the gate asked for page after
    page of the same 500 for ever, past timeout-minutes, with no summary."""
    emu = emulated.emulator
    gate_runs(emulated, 600)
    emu.ignores_offset, emu.drops_paging_headers = True, True
    result = gate_step(emulated, action_env, over_http=True, **{"api-url": served.url})
    assert result.code == 1, result.summary_text  # the seeded candidate's one regression
    assert "regressed" in result.summary_text


# -- old engines ----------------------------------------------------------------------------------


def test_an_old_engine_stops_the_gate_before_it_pays_for_a_run(emulated, action_env, served):
    emu = emulated.emulator
    emu.old_engine = True
    result = gate_step(emulated, action_env, over_http=True, **{"api-url": served.url})
    assert result.code == 2
    assert "CompletionKit too old" in result.summary_text
    assert f"the gate needs {api.OLDEST_ENGINE} or newer" in result.summary_text
    assert statuses(emu, "HEAD", r"/compare$") == [404]
    assert statuses(emu, "POST", r"/runs$") == []  # nothing was created, nothing was paid


def test_an_old_engine_stops_a_prompt_files_gate_before_it_writes_anything(
    emulated, action_env, served
):
    emu = emulated.emulator
    emu.old_engine = True
    prompt_file = action_env.workspace / "prompts" / "support-reply.yml"
    prompt_file.parent.mkdir(parents=True, exist_ok=True)
    prompt_file.write_text(
        "prompt: Support reply\nllm_model: gpt-4o-mini\ntemplate: |\n  Be terse: {{customer_message}}"
        " {{order_number}}\n",
        encoding="utf-8",
    )
    result = run_action(
        emulated,
        action_env,
        {"api-url": served.url, "prompt-files": "prompts/*.yml", "comment": "false"},
        over_http=True,
    )
    assert result.code == 2
    assert "Prompt gate error: CompletionKit too old" in result.summary_text
    assert f"needs {api.OLDEST_ENGINE} or newer" in result.summary_text
    assert statuses(emu, "POST", r"/(runs|prompts)$") == []  # no scratch prompt, no run


def test_a_rerun_answered_404_by_an_old_engine_names_the_version_needed(
    emulated, served, client_for
):
    emulated.emulator.old_engine = True
    with pytest.raises(EngineTooOld, match=rf"`rerun` endpoint .* needs {api.OLDEST_ENGINE}"):
        client_for(served.url).rerun(emulated.ids.baseline_run_id)


@pytest.mark.parametrize("endpoint", ["regrade", "retry_failures"])
def test_regrade_and_retry_answered_404_by_an_old_engine_name_the_version_needed(
    emulated, served, client_for, endpoint
):
    """The other 0.7.0 endpoints read as rerun does (fails before: a bare 404, "Not Found")."""
    emulated.emulator.old_engine = True
    with pytest.raises(EngineTooOld, match=rf"`{endpoint}` endpoint .* needs {api.OLDEST_ENGINE}"):
        getattr(client_for(served.url), endpoint)(emulated.ids.baseline_run_id)


def test_a_rerun_of_a_run_that_does_not_exist_is_still_not_found(served, client_for):
    with pytest.raises(NotFound, match="Record not found"):
        client_for(served.url).rerun(999_999)


def test_tags_an_old_engine_drops_are_an_error(emulated, served, client_for):
    emulated.emulator.old_engine = True
    ids = emulated.ids
    body = {"prompt_id": ids.prompt_v2_id, "dataset_id": ids.dataset_id, "tag_names": [GATE_TAG]}
    with pytest.raises(EngineTooOld, match=f"dropped the tags {GATE_TAG}"):
        client_for(served.url).create_run(body)


# -- retries and deadlines ------------------------------------------------------------------------


@pytest.mark.parametrize(("step_seconds", "retry_after"), [(6.0, "120"), (20.0, "8")])
def test_retries_end_before_the_budget_whatever_retry_after_says(
    emulated, client_for, step_seconds, retry_after
):
    """Before: a 6 s budget took 121 s under `Retry-After: 120`; a 20 s one ended 29 s late."""
    emu = emulated.emulator
    emu.faults.append(
        Fault("GET", POLL, status=503, headers={"Retry-After": retry_after}, times=100)
    )
    client = client_for(emulated.url, transport=emulated.transport, seconds=step_seconds)
    with pytest.raises(ServerError):
        client.get_run(emulated.ids.baseline_run_id)
    assert emulated.time.now() - FAKE_EPOCH <= step_seconds
    assert all(wait <= step_seconds for wait in emulated.time.slept)


@pytest.mark.real_clock
def test_a_read_whose_body_drips_is_cut_and_sent_again(emulated, served, client_for):
    """Before: every byte came within the read timeout, so the read took as long as the server
    liked (a minute here)."""
    run_id = emulated.ids.baseline_run_id
    drip = Fault("GET", rf"/runs/{run_id}$", status=None, drip=DRIP_SECONDS)
    emulated.emulator.faults.append(drip)
    client = client_for(served.url, clock=time.monotonic, request_seconds=REQUEST_SECONDS)
    assert client.get_run(run_id).id == run_id  # the second answer, whole
    assert drip.hits == 1
    assert len(emulated.time.slept) == 1  # one retry, after one backoff


@pytest.mark.real_clock
def test_a_write_whose_answer_drips_is_uncertain(emulated, served, client_for):
    ids = emulated.ids
    emulated.emulator.faults.append(Fault("POST", r"/runs$", status=None, drip=DRIP_SECONDS))
    client = client_for(served.url, clock=time.monotonic, request_seconds=REQUEST_SECONDS)
    body = {"prompt_id": ids.prompt_v2_id, "dataset_id": ids.dataset_id}
    with pytest.raises(UncertainOutcome, match="the answer took more than"):
        client.create_run(body)
    assert emulated.time.slept == []  # a write that may have landed is never sent blindly again


def test_a_500_on_a_status_poll_is_retried(emulated, action_env):
    emulated.emulator.faults.append(Fault("GET", POLL, status=500))
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary_text
    assert statuses(emulated.emulator, "GET", POLL)[:2] == [500, 200]


def test_ten_seconds_of_503s_on_the_polls_do_not_end_a_paid_runs_gate(emulated, action_env):
    random.seed(4)  # the jitter: the old random backoff gave up inside the outage with this seed
    emu = emulated.emulator
    emu.run_duration = 60.0
    outage = Fault("GET", POLL, status=503, times=10_000, during=(FAKE_EPOCH + 10, FAKE_EPOCH + 20))
    emu.faults.append(outage)
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary_text
    assert outage.hits >= 2  # the polls did meet the outage
    assert statuses(emu, "POST", r"/generate$") == [202]  # one paid run, seen to its end


# -- the baseline ---------------------------------------------------------------------------------


def test_a_baseline_of_another_prompt_is_never_taken_whatever_the_filter_returned(
    emulated, action_env
):
    emu, ids = emulated.emulator, emulated.ids
    other = emu.add_prompt("Refund triage", "Triage: {{customer_message}}", "gpt-4o-mini")
    emu.add_completed_run(other["id"], ids.dataset_id, ids.metric_ids)  # newer, scored
    emu.ignores_filters = True  # `prompt_id` and `status` are not applied
    result = gate_step(emulated, action_env)
    assert result.outputs["baseline-run-id"] == str(ids.baseline_run_id)
    assert result.code == 1, result.summary_text


def test_rows_unscored_on_the_baseline_are_blamed_on_the_baseline(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    scripted = emu.judge

    def baseline_judge_outage(call):
        if call.prompt.get("id") == ids.prompt_v1_id and call.row_index != 0:
            return Verdict(score=None, passed=None, feedback="judge provider 503", failed=True)
        return scripted(call)

    emu.judge = baseline_judge_outage
    baseline = emu.add_completed_run(
        ids.prompt_v1_id, ids.dataset_id, ids.metric_ids, judge_model=ids.judge_model
    )
    emu.judge = scripted
    result = gate_step(emulated, action_env)
    assert result.code == 2
    assert result.outputs["baseline-run-id"] == str(baseline["id"])
    assert f"9 lack a score on baseline run {baseline['id']}" in result.summary_text
    assert "on candidate run" not in result.summary_text


def test_rows_that_failed_on_the_candidate_are_blamed_on_the_candidate(emulated, action_env):
    def generator(prompt, row):
        if prompt.get("id") == emulated.ids.prompt_v2_id and row["order_number"] != "10482":
            raise GenerationError("provider timeout")
        return "Your order #10482 is on its way."

    emulated.emulator.generator = generator
    result = gate_step(emulated, action_env)
    run_id = result.outputs["run-id"]
    assert result.code == 2
    assert f"9 lack a score on candidate run {run_id}" in result.summary_text
    assert "on baseline run" not in result.summary_text
