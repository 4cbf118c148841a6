"""Fixtures for the PR comment: the fake GitHub API (contract-checked), settings, context, runner."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ckaction.cli import github_for
from ckaction.context import RunContext
from ckaction.gha import Runner
from ckaction.github import post_comment
from ckaction.inputs import Settings
from ckaction.redact import Redactor
from ckaction.render import marker_for
from tests.fakes.github_api import ACTIONS_BOT, Account, FakeGitHub, serve_github
from tests.github.contract import check_exchange

REPO = "acme/prompts"
PR = 7
WORKFLOW_TOKEN = "ghs_workflowtoken0123456789"  # GITHUB_TOKEN of a pull request from this repo
FORK_TOKEN = "ghs_forktoken0123456789abcdef"  # GITHUB_TOKEN of a fork PR: read-only
ALICE = Account("alice", 101)
RENOVATE = Account("renovate[bot]", 29139614, "Bot")


def body(text: str = "All good.", comment_id: str | None = None) -> str:
    """A rendered comment as `render_comment` writes it: the marker line first."""
    return f"{marker_for(comment_id)}\n## ckaction\n\n{text}\n"


@dataclass
class Log:
    """The runner and what it printed."""

    runner: Runner
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def warnings(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.startswith("::warning")]


@pytest.fixture
def log() -> Log:
    stream = io.StringIO()
    return Log(Runner({"GITHUB_ACTIONS": "true"}, redact=Redactor(), stream=stream), stream)


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    """The fake GitHub, seeded with a pull request and a workflow token; every exchange it serves
    is checked against GitHub's OpenAPI description, and a test fails on any disagreement."""
    github = FakeGitHub()
    github.checkers.append(check_exchange)
    github.add_pull(REPO, PR)
    github.add_token(WORKFLOW_TOKEN, ACTIONS_BOT, installation=True)
    github.add_token(FORK_TOKEN, ACTIONS_BOT, installation=True, can_write=False)
    yield github
    assert github.violations == [], "the fake GitHub disagreed with GitHub's OpenAPI description"


@pytest.fixture
def api_url(fake: FakeGitHub) -> Iterator[str]:
    with serve_github(fake) as url:
        yield url


def make_settings(token: str | None = WORKFLOW_TOKEN, comment_id: str | None = None) -> Settings:
    raw = {"api_token": "ck-test-token-0123456789", "org": "acme", "prompt_id": "1"}
    if token is not None:
        raw["github_token"] = token
    if comment_id is not None:
        raw["comment_id"] = comment_id
    return Settings.parse(raw)


@pytest.fixture
def context(api_url: str) -> RunContext:
    return RunContext(event_name="pull_request", repository=REPO, pr_number=PR, api_url=api_url)


def send(text: str, settings: Settings, context: RunContext, runner: Runner) -> str | None:
    """`post_comment` with the GitHub client the composition root would build for these settings."""
    return post_comment(text, settings, context, runner, github_for(settings, context))
