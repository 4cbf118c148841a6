"""The gate on a pull request, end to end: emulator for CompletionKit, the fake GitHub for comments."""

from __future__ import annotations

import pytest

from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github
from tests.github.contract import check_exchange
from tests.integration.helpers import run_action

REPO = "acme/prompts"
TOKEN = "ghs_workflowtoken0123456789"
READ_ONLY = "ghs_forktoken0123456789abcdef"


@pytest.fixture
def github():
    fake = FakeGitHub()
    fake.checkers.append(check_exchange)
    fake.add_pull(REPO, 12)
    fake.add_token(TOKEN, ACTIONS_BOT, installation=True)
    fake.add_token(READ_ONLY, ACTIONS_BOT, installation=True, can_write=False)
    with serve_github(fake) as url:
        yield fake, url
    assert fake.violations == []


def payload(sha: str) -> dict:
    return {
        "action": "synchronize",
        "pull_request": {
            "number": 12,
            "labels": [],
            "head": {"sha": sha, "repo": {"full_name": REPO}},
            "base": {"repo": {"full_name": REPO}},
        },
    }


def gate(emulated, action_env, url, token, sha, **inputs):
    return run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "prompt-id": str(emulated.ids.prompt_v2_id),
            "github-token": token,
            **inputs,
        },
        event="pull_request",
        payload=payload(sha),
        GITHUB_API_URL=url,
        GITHUB_REPOSITORY=REPO,
    )


def test_one_sticky_comment_per_pr_edited_on_every_push(emulated, action_env, github):
    fake, url = github
    first = gate(emulated, action_env, url, TOKEN, "a" * 40)
    assert first.code == 1, first.stdout
    comments = fake.comments_on(REPO, 12)
    assert len(comments) == 1
    assert comments[0].body.startswith("<!-- ckaction-report -->")
    assert "Regressed rows" in comments[0].body
    assert first.outputs["comment-url"].endswith(f"#issuecomment-{comments[0].id}")
    emulated.emulator.judge.scores.clear()  # the next push fixes the regression
    second = gate(emulated, action_env, url, TOKEN, "b" * 40)
    assert second.code == 0, second.stdout
    comments = fake.comments_on(REPO, 12)
    assert len(comments) == 1
    assert "passed" in comments[0].body and "Regressed rows" not in comments[0].body
    patches = [c for c in fake.calls() if c.startswith("PATCH")]
    assert len(patches) == 1


def test_separate_comment_ids_keep_separate_comments(emulated, action_env, github):
    fake, url = github
    gate(emulated, action_env, url, TOKEN, "a" * 40, **{"comment-id": "smoke"})
    gate(emulated, action_env, url, TOKEN, "a" * 40, **{"comment-id": "full"})
    bodies = sorted(c.body.splitlines()[0] for c in fake.comments_on(REPO, 12))
    assert bodies == ["<!-- ckaction-report:full -->", "<!-- ckaction-report:smoke -->"]


def test_a_read_only_token_warns_and_keeps_the_verdict(emulated, action_env, github):
    fake, url = github
    result = gate(emulated, action_env, url, READ_ONLY, "a" * 40)
    assert result.code == 1
    assert result.outputs["result"] == "regressed"
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert any("pull-requests: write" in line for line in warnings)
    assert "Regressed rows" in result.summary
    assert fake.comments_on(REPO, 12) == []
    assert READ_ONLY not in result.everything.replace(f"::add-mask::{READ_ONLY}", "")


def test_comment_false_posts_nothing(emulated, action_env, github):
    fake, url = github
    result = gate(emulated, action_env, url, TOKEN, "a" * 40, comment="false")
    assert result.code == 1 and "Regressed rows" in result.summary
    assert fake.calls() == []


def test_a_secret_echoed_by_the_judge_never_reaches_the_comment(emulated, action_env, github):
    from ckaction.emulator import Verdict
    from tests.conftest import TOKEN as CK_TOKEN

    fake, url = github
    scripted = emulated.emulator.judge

    def judge(call):
        verdict = scripted(call)
        return Verdict(verdict.score, verdict.passed, f"echo Bearer {CK_TOKEN} and {TOKEN}")

    emulated.emulator.judge = judge
    gate(emulated, action_env, url, TOKEN, "c" * 40)
    (comment,) = fake.comments_on(REPO, 12)
    assert CK_TOKEN not in comment.body and TOKEN not in comment.body
    assert "***" in comment.body.replace("\\", "")  # redacted as read, then escaped as Markdown
