"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github
from tests.github.contract import check_exchange
from tests.integration.helpers import BASE_INPUTS, GITHUB_TOKEN, REPO


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    """The fake GitHub over HTTP with pull request 12 of `REPO` and the job's token; a module
    that needs another pull request or checks defines its own."""
    fake = FakeGitHub()
    fake.add_pull(REPO, 12)
    fake.add_token(GITHUB_TOKEN, ACTIONS_BOT, installation=True)
    with serve_github(fake) as url:
        yield fake, url


@pytest.fixture
def checked_github() -> Iterator[tuple[FakeGitHub, str]]:
    """The fake GitHub over HTTP knowing the token of `BASE_INPUTS`, every exchange checked against
    GitHub's OpenAPI description (no violation may be left at the end)."""
    fake = FakeGitHub()
    fake.checkers.append(check_exchange)
    fake.add_token(BASE_INPUTS["github-token"], ACTIONS_BOT, installation=True)
    with serve_github(fake) as url:
        yield fake, url
    assert fake.violations == []
