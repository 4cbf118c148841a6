"""Scratch candidates over the emulator in process: found by content, never by name alone."""

from __future__ import annotations

import httpx
import pytest

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.candidates import (
    CANDIDATE_TAG,
    PASSED_TAG,
    find_candidate,
    is_candidate,
    obtain_candidate,
    passed_runs,
)
from ckaction.emulator import Emulator, EmulatorTransport, Fault
from ckaction.errors import UncertainOutcome
from ckaction.promptfile import candidate_name, content_of

TOKEN = "ck-test-token-candidates"
ROOT = "http://emulator.test/orgs/acme/api/v1"
CONTENT = content_of("gpt-4o-mini", "Answer {{question}} kindly.\r\n\n")


@pytest.fixture
def emu() -> Emulator:
    return Emulator(token=TOKEN, org="acme")


@pytest.fixture
def ck(emu: Emulator):
    http = build_http_client(
        ROOT, TOKEN, transport=EmulatorTransport(emu), timeout=httpx.Timeout(5)
    )
    yield CompletionKitClient(http, sleep=lambda _: None)
    http.close()


def test_a_candidate_is_created_once_and_found_again_by_its_content(emu, ck):
    created, new = obtain_candidate(ck, "Support reply", CONTENT, "desc")
    again, new_again = obtain_candidate(ck, "Support reply", CONTENT, "desc")
    assert (new, new_again) == (True, False) and again.id == created.id
    assert created.name == candidate_name("Support reply", CONTENT)
    assert created.template == CONTENT.template and is_candidate(created)
    assert created.name.startswith("Support reply [ckaction candidate ")


def test_other_content_is_another_candidate(emu, ck):
    first, _ = obtain_candidate(ck, "Support reply", CONTENT, None)
    other = content_of("gpt-4.1", CONTENT.template)
    second, new = obtain_candidate(ck, "Support reply", other, None)
    assert new and second.id != first.id


def test_the_name_alone_or_the_tag_alone_is_no_candidate(emu, ck):
    name = candidate_name("Support reply", CONTENT)
    emu.add_prompt(name, CONTENT.template, CONTENT.llm_model)  # the name, no tag
    emu.add_prompt("Support reply", CONTENT.template, CONTENT.llm_model, tag_names=[CANDIDATE_TAG])
    assert find_candidate(ck, "Support reply", CONTENT) is None


def test_a_candidate_edited_by_hand_is_not_this_contents_any_more(emu, ck):
    created, _ = obtain_candidate(ck, "Support reply", CONTENT, None)
    emu.update_prompt(created.id, {"template": "Something else {{question}}"})  # in place: no runs
    assert find_candidate(ck, "Support reply", CONTENT) is None


def test_a_create_whose_answer_was_lost_is_looked_up_not_sent_twice(emu, ck):
    emu.faults.append(Fault(method="POST", path=r"/prompts$", status=502, after_processing=True))
    created, new = obtain_candidate(ck, "Support reply", CONTENT, None)
    assert not new and find_candidate(ck, "Support reply", CONTENT).id == created.id
    assert sum(1 for r in emu.requests if r.method == "POST" and r.path == "/prompts") == 1


def test_a_create_that_never_landed_stays_an_error(emu, ck):
    emu.faults.append(Fault(method="POST", path=r"/prompts$", status=502))
    with pytest.raises(UncertainOutcome):
        obtain_candidate(ck, "Support reply", CONTENT, None)


def test_only_completed_scored_runs_tagged_passed_count(emu, ck):
    created, _ = obtain_candidate(ck, "Support reply", CONTENT, None)
    dataset = emu.add_dataset("d", [{"question": "q", "expected_output": "a"}])
    metric = emu.add_metric("Quality", "llm_judge", "Rate quality.")
    passed = emu.add_completed_run(
        created.id, dataset["id"], [metric["id"]], tag_names=[PASSED_TAG]
    )
    emu.add_completed_run(created.id, dataset["id"], [metric["id"]])  # never passed a gate
    assert [run.id for run in passed_runs(ck, created)] == [passed["id"]]
