"""Hostile inputs and events, the whole step in process against the emulator: each ends as a
clean error report (exit 2, the input or event field named) or a refused write, never a traceback,
a failed connection or a comment on the wrong pull request (issue 12)."""

from __future__ import annotations

import pytest

from tests.factories import workflow_run
from tests.integration.helpers import GITHUB_TOKEN, REPO, gate_step, run_action


@pytest.mark.parametrize(
    ("token", "says"),
    [("ck-first-line\nck-second-line", "one line"), ("ck-tök-0123456789", "printable ASCII")],
)
def test_a_multi_line_or_non_ascii_token_is_an_input_error_not_a_failed_connection(
    emulated, action_env, token, says
):
    result = gate_step(emulated, action_env, **{"api-token": token})
    assert result.code == 2
    assert "Invalid input api-token" in result.stdout and says in result.summary_text
    assert "bug" not in result.everything and "connect" not in result.everything
    assert emulated.emulator.requests == []


@pytest.mark.parametrize("tolerance", ["1", "1e400"])
def test_a_tolerance_out_of_range_is_an_input_error_with_a_report(emulated, action_env, tolerance):
    result = gate_step(emulated, action_env, **{"row-tolerance": tolerance})
    assert result.code == 2
    assert "Invalid input row-tolerance" in result.stdout
    assert "between -5 and 0" in result.summary_text
    assert result.outputs["result"] == "error" and result.report["result"] == "error"


@pytest.mark.parametrize("name", ["signoffs-file", "report-path"])
def test_an_over_long_path_is_an_input_error_not_a_bug(emulated, action_env, name):
    result = gate_step(emulated, action_env, **{name: "a" * 300 + "/signoffs.yml"})
    assert result.code == 2
    assert f"Invalid input {name}" in result.stdout
    assert "bug" not in result.everything and "OSError" not in result.everything


def test_a_report_path_through_a_symlink_out_of_the_workspace_is_not_written(
    emulated, action_env, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    action_env.workspace.mkdir(parents=True, exist_ok=True)
    (action_env.workspace / "out").symlink_to(outside)
    result = gate_step(emulated, action_env, **{"report-path": "out/report.json"})
    assert result.code == 1  # delivery never changes the verdict
    assert list(outside.iterdir()) == []
    assert "leads out of the workspace" in result.stdout
    assert result.outputs["report"] == ""


def test_a_signoffs_file_through_a_symlink_out_of_the_workspace_is_an_input_error(
    emulated, action_env, tmp_path
):
    secret = tmp_path / "elsewhere.yml"
    secret.write_text("- metric: Accuracy\n  reason: not from this PR\n")
    action_env.workspace.mkdir(parents=True, exist_ok=True)
    (action_env.workspace / "signoffs.yml").symlink_to(secret)
    result = gate_step(emulated, action_env, **{"signoffs-file": "signoffs.yml"})
    assert result.code == 2
    assert "Invalid input signoffs-file" in result.stdout
    assert "leads out of the workspace" in result.summary_text


def gate_on_event(emulated, action_env, payload=None, **extra):
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
    result = gate_on_event(emulated, action_env, payload)
    assert result.code == 2, result.summary_text
    assert "Unreadable event payload" in result.summary_text
    assert f"{field}" in result.summary_text
    assert "Traceback" not in result.everything and "bug" not in result.everything
    assert result.outputs["result"] == "error" and result.report["result"] == "error"
    assert emulated.emulator.requests == []  # nothing measured on a payload we could not read


def test_an_event_file_of_invalid_utf8_is_an_exit_2_report(emulated, action_env, tmp_path):
    path = tmp_path / "event.json"
    path.write_bytes(b'{"pull_request": {"number": 3, "title": "\xff"}}')
    result = gate_on_event(emulated, action_env, GITHUB_EVENT_PATH=str(path))
    assert result.code == 2
    assert "The event payload is not UTF-8 text" in result.summary_text


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
