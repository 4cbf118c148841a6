"""Accepted stays accepted (issue 14): on a push to the default branch the event carries no label, so
the gate looks up the pull request merged as the pushed commit and honours its sign-off label, says
which pull request it came from and who added the label; with prompt files the same push then
publishes. In process (the emulator's transport and clock), GitHub faked over HTTP and checked
against its OpenAPI description."""

from __future__ import annotations

import json

import pytest

from ckaction.emulator.seed import TEMPLATE_V2
from tests.conftest import ActionEnv, Emulated
from tests.fakes.github_api import Account, FakeGitHub
from tests.integration.helpers import Result, run_action
from tests.integration.test_prompt_files_gate import content_judge, write

REPO = "acme/prompts"
LABEL = "prompt-regression-approved"
MERGED = "c" * 40
MARIA = Account("maria", 202)


@pytest.fixture
def emu(emulated: Emulated) -> Emulated:
    emulated.emulator.judge = content_judge  # the terse template (v2) drops Accuracy on one row
    return emulated


def push_step(
    emu: Emulated, env: ActionEnv, api_url: str, inputs: dict[str, str], *, branch: str = "main"
) -> Result:
    payload = {
        "after": MERGED,
        "ref": f"refs/heads/{branch}",
        "repository": {"full_name": REPO, "default_branch": "main"},
    }
    return run_action(
        emu,
        env,
        {"api-url": emu.url, "comment": "false", **inputs},
        event="push",
        payload=payload,
        GITHUB_REF=f"refs/heads/{branch}",
        GITHUB_API_URL=api_url,
    )


def test_a_merged_pull_requests_label_keeps_main_green_and_lets_publish_run(
    emu: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    fake, url = checked_github
    fake.add_merged_pull(REPO, 12, MERGED, labels=("docs", LABEL), labeled_by=MARIA)
    fake.set_branch(REPO, "main", MERGED)
    write(action_env, "prompts/support-reply.yml", TEMPLATE_V2)

    gated = push_step(emu, action_env, url, {"prompt-files": "prompts/*.yml"})
    assert gated.code == 0, gated.stdout
    assert gated.outputs["result"] == "passed" and gated.outputs["signed-off"] == "1"
    assert f"Sign-off label `{LABEL}` taken from pull request #\u200b12, merged as this commit" in (
        gated.summary_text
    )
    assert f"label `{LABEL}` added by @\u200bmaria on pull request #\u200b12" in gated.summary_text
    assert fake.calls() == [
        f"GET /repos/{REPO}/commits/{MERGED}/pulls",
        f"GET /repos/{REPO}/issues/12/events",
    ]

    published = push_step(
        emu, action_env, url, {"command": "publish", "prompt-files": "prompts/*.yml"}
    )
    assert published.code == 0, published.stdout
    assert emu.emulator.get_prompt(emu.ids.family_key)["template"].rstrip() == TEMPLATE_V2
    results = json.loads(published.outputs["results"])
    assert results["prompts/support-reply.yml"]["result"] == "passed"


def test_a_direct_push_has_no_pull_request_and_its_regression_fails(
    emu: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    fake, url = checked_github
    fake.add_merged_pull(REPO, 13, None, labels=(LABEL,))  # open: it only contains the commit
    fake.add_merged_pull(REPO, 14, "d" * 40, labels=(LABEL,))  # merged as another commit
    result = push_step(emu, action_env, url, {"prompt-id": str(emu.ids.prompt_v2_id)})
    assert result.code == 1 and result.outputs["signed-off"] == "0"
    assert "taken from pull request" not in result.summary_text
    assert fake.calls() == [f"GET /repos/{REPO}/commits/{MERGED}/pulls"]


def test_a_push_to_another_branch_looks_nothing_up(
    emu: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    fake, url = checked_github
    fake.add_merged_pull(REPO, 12, MERGED, labels=(LABEL,), base="release")
    result = push_step(
        emu, action_env, url, {"prompt-id": str(emu.ids.prompt_v2_id)}, branch="release"
    )
    assert result.code == 1 and result.outputs["signed-off"] == "0"
    assert fake.calls() == []


def test_a_lookup_github_refuses_is_a_warning_and_the_label_does_not_apply(
    emu: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    fake, url = checked_github
    fake.tokens.clear()  # GitHub answers 401 Bad credentials
    fake.add_merged_pull(REPO, 12, MERGED, labels=(LABEL,))
    result = push_step(emu, action_env, url, {"prompt-id": str(emu.ids.prompt_v2_id)})
    assert result.code == 1 and result.outputs["signed-off"] == "0"
    warning = f"Could not look up the sign-off label `{LABEL}` on GitHub (401: Bad credentials)"
    assert warning in result.summary_text
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert any("Could not look up the sign-off label" in line for line in annotations)
    assert result.report is not None and result.report["warnings"][0].startswith(warning)


def test_on_a_later_push_to_the_pull_request_who_added_the_label_comes_from_its_events(
    emu: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    fake, url = checked_github
    fake.add_merged_pull(REPO, 12, None, labels=(LABEL,), labeled_by=MARIA)
    pull = {
        "number": 12,
        "labels": [{"name": LABEL}],
        "head": {"sha": "a" * 40, "repo": {"full_name": REPO}},
        "base": {"repo": {"full_name": REPO}},
    }
    result = run_action(
        emu,
        action_env,
        {"api-url": emu.url, "comment": "false", "prompt-id": str(emu.ids.prompt_v2_id)},
        event="pull_request",
        payload={"action": "synchronize", "pull_request": pull},
        GITHUB_API_URL=url,
    )
    assert result.code == 0, result.stdout
    assert f"label `{LABEL}` added by @\u200bmaria (while the label stays" in result.summary_text
    assert fake.calls() == [f"GET /repos/{REPO}/issues/12/events"]


def test_a_signoffs_file_set_to_a_missing_path_warns_and_the_default_does_not(
    emu: Emulated, action_env: ActionEnv
) -> None:
    inputs = {"api-url": emu.url, "comment": "false", "prompt-id": str(emu.ids.prompt_v1_id)}
    named = run_action(emu, action_env, {**inputs, "signoffs-file": "ci/signoffs.yml"})
    assert named.code == 0, named.stdout
    assert "> [!WARNING]\n> No sign-off file at ci/signoffs.yml" in named.summary
    assert any(
        line.startswith("::warning") and "No sign-off file at ci/signoffs.yml" in line
        for line in named.stdout.splitlines()
    )
    default = run_action(emu, action_env, inputs)
    assert default.code == 0 and "No sign-off file" not in default.summary
