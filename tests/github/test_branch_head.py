"""The branch head publish reads (`GET /repos/{o}/{r}/git/ref/heads/{branch}`) through PyGithub,
against the fake GitHub over HTTP, checked against GitHub's OpenAPI description."""

from __future__ import annotations

import pytest

from ckaction.github import GitHubError, branch_head, connect
from tests.fakes.github_api import FakeGitHub
from tests.github.conftest import REPO, WORKFLOW_TOKEN


def test_the_head_of_a_branch_is_read_from_its_ref(fake: FakeGitHub, api_url: str) -> None:
    fake.set_branch(REPO, "release/2026", "d" * 40)
    assert branch_head(connect(WORKFLOW_TOKEN, api_url), REPO, "release/2026") == "d" * 40
    assert fake.calls() == [f"GET /repos/{REPO}/git/ref/heads/release/2026"]


def test_an_unknown_branch_is_a_github_error(fake: FakeGitHub, api_url: str) -> None:
    with pytest.raises(GitHubError) as caught:
        branch_head(connect(WORKFLOW_TOKEN, api_url), REPO, "gone")
    assert (caught.value.status, caught.value.message) == (404, "Not Found")


def test_the_contract_catches_a_ref_that_is_no_commit_sha(fake: FakeGitHub, api_url: str) -> None:
    fake.set_branch(REPO, "main", "abc")  # GitHub's SHA is 40 hex digits
    branch_head(connect(WORKFLOW_TOKEN, api_url), REPO, "main")
    assert len(fake.violations) == 1 and "response" in fake.violations[0]
    fake.violations.clear()  # the fixture fails a test that leaves any
