"""A hostile or broken event payload stops the step with exit 2 and names what was wrong; it never
crashes with a traceback (exit 1 means "regressed"), and a `workflow_run` never aims the comment at
this repository's PR of the same number as another repository's PR (issue 12)."""

from __future__ import annotations

import json

import pytest

from ckaction.context import (
    MAX_EVENT_BYTES,
    EventError,
    context_from_env,
    load_event,
    parse_event,
    pr_facts,
)
from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github
from tests.integration.helpers import run_action

REPO = "acme/prompts"
GITHUB_TOKEN = "ghs_workflowtoken0123456789"
DEEP = 100_000


def api_repo(slug: str) -> dict:
    """A repository as workflow_run's pull_requests list it: id, API URL and name only."""
    return {"id": 1, "url": f"https://api.github.com/repos/{slug}", "name": slug.split("/")[1]}


def workflow_run(base: str, number: int = 12) -> dict:
    pull = {
        "number": number,
        "head": {"ref": "fix", "sha": "ab" * 20, "repo": api_repo(base)},
        "base": {"ref": "main", "sha": "cd" * 20, "repo": api_repo(base)},
    }
    return {"action": "completed", "workflow_run": {"pull_requests": [pull]}}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"pull_request": {"number": 3, "head": "main"}}, "pull_request.head"),
        ({"pull_request": [{"number": 3}]}, "pull_request"),
        ({"pull_request": {"number": "3"}}, "pull_request.number"),
        ({"pull_request": {"number": 3, "labels": [{"name": 7}]}}, "pull_request.labels[0].name"),
        ({"pull_request": {"number": 3, "head": {"repo": []}}}, "pull_request.head.repo"),
        ({"workflow_run": {"pull_requests": {"number": 3}}}, "workflow_run.pull_requests"),
        ({"issue": {"number": True, "pull_request": {}}}, "issue.number"),
        ({"sender": "maria"}, "sender"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(payload, field):
    with pytest.raises(EventError) as caught:
        parse_event(payload)
    assert f"`{field}`" in caught.value.message


def test_the_message_says_what_was_found_without_quoting_it():
    with pytest.raises(EventError) as caught:
        parse_event({"pull_request": {"head": "<img src=x>"}})
    assert "got a string" in caught.value.message and "<img" not in caught.value.message


def write(tmp_path, content: bytes) -> str:
    path = tmp_path / "event.json"
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"pull_request": {"title": "caf\xe9"}}', "not UTF-8"),
        (b"[" * DEEP + b"]" * DEEP, "nests too deep"),
        (b'{"a": ' * DEEP + b"1" + b"}" * DEEP, "nests too deep"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"pull_request": ', "not valid JSON"),
    ],
)
def test_unreadable_payloads_are_event_errors(tmp_path, content, says):
    with pytest.raises(EventError) as caught:
        load_event(write(tmp_path, content))
    assert says in caught.value.message


def test_a_payload_larger_than_github_sends_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "event.json"
    with path.open("wb") as file:
        file.write(b'{"x": "')
        file.seek(MAX_EVENT_BYTES)
        file.write(b'"}')
    with pytest.raises(EventError) as caught:
        load_event(str(path))
    assert "larger than 25 MB" in caught.value.message


def test_a_workflow_run_pr_from_another_repository_is_not_this_repositorys_pr():
    assert pr_facts("workflow_run", parse_event(workflow_run("someone/prompts")), REPO)[0] is None
    assert pr_facts("workflow_run", parse_event(workflow_run("Acme/Prompts")), REPO)[0] == 12
    no_base = {"workflow_run": {"pull_requests": [{"number": 12}]}}
    assert pr_facts("workflow_run", parse_event(no_base), REPO)[0] is None


def test_a_head_sha_that_is_not_a_string_does_not_become_the_commit(tmp_path):
    path = write(tmp_path, json.dumps({"pull_request": {"number": 4, "head": {"sha": 7}}}).encode())
    context = context_from_env(
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": path, "GITHUB_SHA": "a" * 40}
    )
    assert context.sha == "a" * 40 and context.pr_number is None
    assert context.event_error is not None


# -- the whole step, in process against the emulator ---------------------------------------------


def gate(emulated, action_env, payload=None, **extra):
    inputs = {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    return run_action(emulated, action_env, inputs, event="pull_request", payload=payload, **extra)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"pull_request": {"number": 3, "head": "main"}}, "pull_request.head"),
        ({"pull_request": {"number": 3, "labels": {"name": "x"}}}, "pull_request.labels"),
    ],
)
def test_a_malformed_event_is_an_exit_2_report_naming_the_field(
    emulated, action_env, payload, field
):
    result = gate(emulated, action_env, payload)
    assert result.code == 2, result.summary_text
    assert "Unreadable event payload" in result.summary_text
    assert f"{field}" in result.summary_text
    assert "Traceback" not in result.everything and "bug" not in result.everything
    assert result.outputs["result"] == "error" and result.report["result"] == "error"
    assert emulated.emulator.requests == []  # nothing measured on a payload we could not read


def test_an_event_file_of_invalid_utf8_is_an_exit_2_report(emulated, action_env, tmp_path):
    path = write(tmp_path, b'{"pull_request": {"number": 3, "title": "\xff"}}')
    result = gate(emulated, action_env, GITHUB_EVENT_PATH=path)
    assert result.code == 2
    assert "The event payload is not UTF-8 text" in result.summary_text


@pytest.fixture
def github(monkeypatch):
    fake = FakeGitHub()
    fake.add_pull(REPO, 12)
    fake.add_token(GITHUB_TOKEN, ACTIONS_BOT, installation=True)
    monkeypatch.setattr("ckaction.github.REQUEST_SPACING_SECONDS", 0.0)
    monkeypatch.setattr("ckaction.github.RETRY_BACKOFF_SECONDS", 0.0)
    with serve_github(fake) as url:
        yield fake, url


@pytest.mark.parametrize(("base", "commented"), [("someone/prompts", False), (REPO, True)])
def test_workflow_run_comments_only_on_a_pr_of_this_repository(
    emulated, action_env, github, base, commented
):
    fake, url = github
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "prompt-id": str(emulated.ids.prompt_v2_id),
            "github-token": GITHUB_TOKEN,
        },
        event="workflow_run",
        payload=workflow_run(base),
        GITHUB_API_URL=url,
        GITHUB_REPOSITORY=REPO,
    )
    assert result.code == 1
    posted = [call for call in fake.calls() if call.startswith("POST")]
    assert bool(posted) is commented, posted
    assert ("comment-url" in result.outputs) is commented
