"""The fake GitHub's own semantics over HTTP (pagination, auth, errors), each exchange contract-checked
by the `fake` fixture: what the integration tests lean on is itself pinned down here."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.fakes.github_api import ACTIONS_BOT, NOT_ACCESSIBLE, FakeGitHub
from tests.github.conftest import ALICE, FORK_TOKEN, PR, REPO, WORKFLOW_TOKEN

COMMENTS = f"/repos/{REPO}/issues/{PR}/comments"


def call(
    url: str, method: str = "GET", token: str = WORKFLOW_TOKEN, payload: Any = None
) -> tuple[int, dict[str, str], Any]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


def links(headers: dict[str, str]) -> dict[str, str]:
    """rel → URL from an RFC 5988 Link header."""
    result = {}
    for part in headers.get("Link", "").split(", "):
        if part:
            url, rel = part.split("; ")
            result[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return result


@pytest.fixture
def seventy_five(fake: FakeGitHub) -> None:
    for i in range(75):
        fake.add_comment(REPO, PR, f"comment {i}", ALICE)


@pytest.mark.usefixtures("seventy_five")
def test_default_page_size_is_30_with_links_in_githubs_order(api_url: str) -> None:
    status, headers, page1 = call(api_url + COMMENTS)
    assert status == 200 and len(page1) == 30
    assert list(links(headers)) == ["next", "last"]
    status, headers, page2 = call(links(headers)["next"])
    assert list(links(headers)) == ["prev", "next", "last", "first"]
    status, headers, page3 = call(links(headers)["last"])
    assert list(links(headers)) == ["prev", "first"] and len(page3) == 15
    ids = [c["id"] for c in page1 + page2 + page3]
    assert ids == sorted(ids) and len(set(ids)) == 75


@pytest.mark.usefixtures("seventy_five")
def test_per_page_is_capped_at_100(api_url: str) -> None:
    status, headers, items = call(api_url + COMMENTS + "?per_page=500")
    assert status == 200 and len(items) == 75 and "Link" not in headers


def test_get_user_is_forbidden_for_installation_tokens(fake: FakeGitHub, api_url: str) -> None:
    status, _, error = call(api_url + "/user")
    assert status == 403 and error["message"] == NOT_ACCESSIBLE
    fake.add_token("ghp_alice0123456789", ALICE, installation=False)
    status, _, user = call(api_url + "/user", token="ghp_alice0123456789")
    assert status == 200 and user["login"] == "alice"


def test_unknown_tokens_get_401(api_url: str) -> None:
    status, _, error = call(api_url + "/user", token="ghp_nobody0123456789")
    assert status == 401 and error["message"] == "Bad credentials"


def test_read_only_tokens_cannot_write(fake: FakeGitHub, api_url: str) -> None:
    status, _, error = call(api_url + COMMENTS, "POST", FORK_TOKEN, {"body": "hi"})
    assert status == 403 and error["message"] == NOT_ACCESSIBLE
    assert fake.comments_on(REPO, PR) == []


def test_create_then_update(fake: FakeGitHub, api_url: str) -> None:
    status, headers, created = call(api_url + COMMENTS, "POST", payload={"body": "v1"})
    assert status == 201 and headers["Location"] == created["url"]
    assert created["user"]["login"] == ACTIONS_BOT.login and created["user"]["type"] == "Bot"
    status, _, updated = call(created["url"], "PATCH", payload={"body": "v2"})
    assert status == 200 and updated["id"] == created["id"] and updated["body"] == "v2"
    assert updated["updated_at"] > created["updated_at"]


def test_too_long_body_is_422(api_url: str) -> None:
    status, _, error = call(api_url + COMMENTS, "POST", payload={"body": "x" * 65_537})
    assert status == 422 and "too long" in error["errors"][0]["message"]


def test_unknown_pull_request_is_404(api_url: str) -> None:
    status, _, error = call(api_url + f"/repos/{REPO}/issues/999/comments")
    assert status == 404 and error["message"] == "Not Found"
