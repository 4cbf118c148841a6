"""The OpenAPI cut is complete and valid, and the contract check really rejects what GitHub would
not send: without these, a passing integration test would prove nothing about the real API."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from ckaction.context import RunContext
from tests.fakes.cut_openapi import OPERATIONS, cut, refs
from tests.fakes.github_api import ACTIONS_BOT, Exchange, FakeGitHub
from tests.github.conftest import PR, REPO, Log, body, make_settings, send
from tests.github.contract import check_exchange, spec


def test_the_cut_holds_exactly_our_operations() -> None:
    operations = {
        (path, method): operation["operationId"]
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
    }
    assert operations == OPERATIONS


def test_every_reference_in_the_cut_resolves() -> None:
    for ref in refs(spec()):
        _, section, kind, name = ref.split("/", 3)
        assert section == "components" and name in spec()["components"][kind], ref


def test_the_cut_is_a_valid_openapi_description() -> None:
    validate(spec())


@pytest.mark.skipif(
    not os.environ.get("CKACTION_OPENAPI_SOURCE"),
    reason="set CKACTION_OPENAPI_SOURCE to an api.github.com.json from npm @octokit/openapi "
    "(.ci/run does)",
)
def test_the_cut_matches_the_published_description() -> None:
    """No network in tests: `.ci/run` npm-packs the pinned `@octokit/openapi` (cut_openapi.VERSION)
    and points the variable at its package/generated/api.github.com.json. A failure means: rerun
    tests/fakes/cut_openapi.py."""
    full = json.loads(Path(os.environ["CKACTION_OPENAPI_SOURCE"]).read_text(encoding="utf-8"))
    assert cut(full) == spec()


# -- the check rejects what GitHub would not send ------------------------------------------------


def served(fake: FakeGitHub, method: str, path: str, payload: Any = None) -> Exchange:
    headers = {"Authorization": "token ghs_workflowtoken0123456789"}
    data = b"" if payload is None else json.dumps(payload).encode()
    if data:
        headers["Content-Type"] = "application/json"
    return fake.serve(method, path, headers, data, "http://127.0.0.1:1")


def with_body(exchange: Exchange, payload: Any) -> Exchange:
    return replace(exchange, response_body=json.dumps(payload).encode())


@pytest.fixture
def listing(fake: FakeGitHub) -> Exchange:
    fake.add_comment(REPO, PR, body(), ACTIONS_BOT)
    exchange = served(fake, "GET", f"/repos/{REPO}/issues/{PR}/comments?per_page=100")
    assert check_exchange(exchange) == []
    return exchange


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda c: {**c, "id": str(c["id"])}, "is not of type 'integer'"),
        (lambda c: {k: v for k, v in c.items() if k != "user"}, "'user' is a required property"),
        (lambda c: {**c, "created_at": "yesterday"}, "is not a 'date-time'"),
        (lambda c: {**c, "author_association": "FRIEND"}, "is not one of"),
        (lambda c: {**c, "user": {**c["user"], "site_admin": "no"}}, "is not of type 'boolean'"),
    ],
)
def test_a_wrongly_shaped_comment_is_rejected(
    listing: Exchange, change: Any, complaint: str
) -> None:
    (comment,) = listing.json()
    problems = check_exchange(with_body(listing, [change(comment)]))
    assert problems and complaint in problems[0]


def test_an_object_where_github_sends_a_list_is_rejected(listing: Exchange) -> None:
    assert check_exchange(with_body(listing, listing.json()[0]))


def test_an_undocumented_status_is_rejected(listing: Exchange) -> None:
    problems = check_exchange(replace(listing, status=201))
    assert problems and "Unknown response http status: 201" in problems[0]


def test_an_unknown_route_is_rejected(fake: FakeGitHub) -> None:
    exchange = served(fake, "GET", f"/repos/{REPO}/pulls/{PR}")
    assert exchange.status == 404 and check_exchange(exchange)
    assert fake.violations  # the fixture's checker saw it too
    fake.violations.clear()


def test_a_create_request_without_body_is_rejected(fake: FakeGitHub) -> None:
    exchange = served(fake, "POST", f"/repos/{REPO}/issues/{PR}/comments", {"text": "hi"})
    assert exchange.status == 422
    assert any("'body' is a required property" in p for p in check_exchange(exchange))
    assert fake.violations  # the fixture's checker saw it too
    fake.violations.clear()


def test_an_allowed_undocumented_error_still_needs_githubs_error_shape(fake: FakeGitHub) -> None:
    fake.add_token("ghs_ro0123456789", ACTIONS_BOT, installation=True, can_write=False)
    existing = fake.add_comment(REPO, PR, body(), ACTIONS_BOT)
    exchange = fake.serve(
        "PATCH",
        f"/repos/{REPO}/issues/comments/{existing.id}",
        {"Authorization": "token ghs_ro0123456789", "Content-Type": "application/json"},
        b'{"body": "x"}',
        "http://127.0.0.1:1",
    )
    assert exchange.status == 403 and check_exchange(exchange) == []
    assert check_exchange(with_body(exchange, {"message": 403}))


def test_link_aliases_are_checked_as_the_documented_operation(fake: FakeGitHub) -> None:
    for i in range(3):
        fake.add_comment(REPO, PR, f"c{i}", ACTIONS_BOT)
    repo_id = fake.repo_ids[REPO]
    exchange = served(
        fake, "GET", f"/repositories/{repo_id}/issues/{PR}/comments?per_page=2&page=2"
    )
    assert exchange.status == 200 and len(exchange.json()) == 1
    assert check_exchange(exchange) == []
    assert check_exchange(with_body(exchange, [{"id": "nope"}]))


def test_a_drifting_fake_fails_the_integration_tests_too(
    fake: FakeGitHub, context: RunContext, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture's checker sees real exchanges: sabotage the fake's representation of a comment
    and the violations pile up (then clear them, or this test's teardown would fail)."""
    original = fake._comment_json

    def drifted(*args: Any) -> dict[str, Any]:
        data = original(*args)
        data["id"] = str(data["id"])
        return data

    monkeypatch.setattr(fake, "_comment_json", drifted)
    send(body(), make_settings(), context, log.runner)
    assert any("create-comment" not in v and "POST" in v for v in fake.violations)
    fake.violations.clear()
