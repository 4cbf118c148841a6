"""A hostile or broken event payload is an `EventError` that names what was wrong (the step then
stops with exit 2: tests/integration/test_hostile_inputs.py), and a `workflow_run` PR of another
repository is not this repository's PR of the same number (issue 12)."""

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
from tests.factories import workflow_run

REPO = "acme/prompts"
DEEP = 100_000  # far past the JSON parser's recursion limit


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


def test_a_missing_field_is_named_as_missing():
    with pytest.raises(EventError) as caught:
        parse_event({"label": {"color": "red"}})
    assert "`label.name` is missing" in caught.value.message


def test_the_message_says_what_was_found_without_quoting_it():
    with pytest.raises(EventError) as caught:
        parse_event({"pull_request": {"head": "<img src=x>"}})
    message = caught.value.message
    assert "`pull_request.head` should be an object, not a string" in message
    assert "<img" not in message


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
