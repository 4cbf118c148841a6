"""The sign-off lookups of a push to the default branch through PyGithub, against the fake GitHub
over HTTP, checked against GitHub's OpenAPI description: the pull request merged as a commit, and
who added a label."""

from __future__ import annotations

import pytest

from ckaction.github import GitHubError, MergedPull, connect, label_added_by, merged_pull
from tests.fakes.github_api import Account, FakeGitHub
from tests.github.conftest import ALICE, REPO, WORKFLOW_TOKEN

SHA = "e" * 40
MARIA = Account("maria", 202)


def test_only_the_pull_request_merged_into_the_base_as_this_commit_counts(
    fake: FakeGitHub, api_url: str
) -> None:
    fake.add_merged_pull(REPO, 3, None, labels=("approved",))  # open, contains the commit
    fake.add_merged_pull(REPO, 4, SHA, base="release", labels=("approved",))
    fake.add_merged_pull(REPO, 5, SHA, labels=("approved", "docs"))
    github = connect(WORKFLOW_TOKEN, api_url)
    found = merged_pull(github, REPO, SHA, "main")
    assert found == MergedPull(5, ("approved", "docs"), f"https://github.com/{REPO}/pull/5")
    assert merged_pull(github, REPO, "9" * 40, "main") is None
    assert fake.calls() == [
        f"GET /repos/{REPO}/commits/{SHA}/pulls",
        f"GET /repos/{REPO}/commits/{'9' * 40}/pulls",
    ]


def test_who_added_a_label_is_the_last_to_add_it(fake: FakeGitHub, api_url: str) -> None:
    fake.add_pull(REPO, 8)
    fake.label(REPO, 8, "approved", ALICE)
    fake.label(REPO, 8, "approved", ALICE, event="unlabeled")
    fake.label(REPO, 8, "docs", ALICE)
    fake.label(REPO, 8, "approved", MARIA)
    github = connect(WORKFLOW_TOKEN, api_url)
    assert label_added_by(github, REPO, 8, "approved") == "maria"
    assert label_added_by(github, REPO, 8, "wontfix") is None


def test_a_pull_request_github_does_not_know_is_a_github_error(
    fake: FakeGitHub, api_url: str
) -> None:
    with pytest.raises(GitHubError) as caught:
        label_added_by(connect(WORKFLOW_TOKEN, api_url), REPO, 404, "approved")
    assert (caught.value.status, caught.value.message) == (404, "Not Found")
