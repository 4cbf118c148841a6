"""`post_comment` through PyGithub against the fake GitHub over real HTTP on 127.0.0.1.

Every exchange is also checked against GitHub's OpenAPI description (see the `fake` fixture)."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from ckaction.context import RunContext
from ckaction.github import PyGithubComments, connect, upsert
from ckaction.render import marker_for
from tests.fakes.github_api import ACTIONS_BOT, Account, FakeGitHub, serve_github
from tests.github.conftest import (
    ALICE,
    FORK_TOKEN,
    PR,
    RENOVATE,
    REPO,
    WORKFLOW_TOKEN,
    Log,
    body,
    make_settings,
    send,
)

LIST = f"GET /repos/{REPO}/issues/{PR}/comments"
CREATE = f"POST /repos/{REPO}/issues/{PR}/comments"


def post(text: str, context: RunContext, log: Log, **settings: str | None) -> str | None:
    comment_id = settings.get("comment_id")
    return send(body(text, comment_id), make_settings(**settings), context, log.runner)


def test_first_post_creates_the_comment(fake: FakeGitHub, context: RunContext, log: Log) -> None:
    url = post("first", context, log)
    (stored,) = fake.comments_on(REPO, PR)
    assert url == f"https://github.com/{REPO}/pull/{PR}#issuecomment-{stored.id}"
    assert stored.body == body("first") and stored.author == ACTIONS_BOT
    assert fake.calls() == ["GET /user", LIST, CREATE, LIST]  # re-listed: one comment kept
    assert log.warnings() == []
    assert f"Posted the PR comment {url}" in log.text


def test_second_post_edits_the_same_comment(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    first = post("first", context, log)
    second = post("second", context, log)
    (stored,) = fake.comments_on(REPO, PR)
    assert first == second and stored.body == body("second")
    assert fake.calls()[-1] == f"PATCH /repos/{REPO}/issues/comments/{stored.id}"


def test_same_body_sends_no_patch(fake: FakeGitHub, context: RunContext, log: Log) -> None:
    first = post("same", context, log)
    assert post("same", context, log) == first
    assert not any(call.startswith("PATCH") for call in fake.calls())
    assert "Unchanged: the PR comment" in log.text


def test_long_pr_our_comment_on_page_three_is_found_not_duplicated(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    for i in range(230):
        fake.add_comment(REPO, PR, f"comment {i}", ALICE)
    ours = fake.add_comment(REPO, PR, body("old"), ACTIONS_BOT)
    for i in range(20):
        fake.add_comment(REPO, PR, f"later {i}", ALICE)

    url = post("new", context, log)

    assert url is not None and url.endswith(f"#issuecomment-{ours.id}")
    assert len(fake.comments_on(REPO, PR)) == 251 and ours.body == body("new")
    lists = [e for e in fake.exchanges if e.operation == "issues/list-comments"]
    assert [e.query.get("page", ["1"])[0] for e in lists] == ["1", "2", "3"]
    assert lists[1].path.startswith("/repositories/")  # followed GitHub's Link, not a rebuilt URL


def test_75_comments_at_30_per_page_ours_on_page_three(fake: FakeGitHub, api_url: str) -> None:
    """The brief's case at GitHub's default page size (post_comment itself asks for 100)."""
    for i in range(75):
        fake.add_comment(REPO, PR, f"comment {i}", ALICE)
    ours = fake.add_comment(REPO, PR, body("old"), ACTIONS_BOT)
    api = PyGithubComments(connect(WORKFLOW_TOKEN, api_url, per_page=30), REPO, PR)

    outcome = upsert(api, body("new"), marker_for(None))

    assert outcome.action == "updated" and outcome.comment.id == ours.id
    assert len(fake.comments_on(REPO, PR)) == 76
    assert sum(e.operation == "issues/list-comments" for e in fake.exchanges) == 3


def test_two_comment_ids_keep_two_comments(fake: FakeGitHub, context: RunContext, log: Log) -> None:
    api_url = post("api v1", context, log, comment_id="api")
    web_url = post("web v1", context, log, comment_id="web")
    assert post("api v2", context, log, comment_id="api") == api_url
    assert post("web v2", context, log, comment_id="web") == web_url
    stored = fake.comments_on(REPO, PR)
    assert api_url != web_url and len(stored) == 2
    assert [c.body for c in stored] == [body("api v2", "api"), body("web v2", "web")]
    assert stored[0].body.startswith(marker_for("api") + "\n")


def test_another_bots_comment_with_our_marker_is_left_alone(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    theirs = fake.add_comment(REPO, PR, body("theirs"), RENOVATE)
    post("ours", context, log)
    assert theirs.body == body("theirs") and len(fake.comments_on(REPO, PR)) == 2


def test_read_only_token_warns_with_the_permission_advice(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    result = post("report", context, log, token=FORK_TOKEN)
    assert result is None
    assert fake.comments_on(REPO, PR) == []
    (warning,) = log.warnings()
    assert "Resource not accessible by integration" in warning
    assert "permissions: pull-requests: write" in warning
    assert "Pull requests from forks" in warning and "workflow_run" in warning
    assert "verdict is unaffected" in warning


def test_fork_pr_edit_forbidden_explains_the_fork_recipe(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    """A fork PR whose comment was posted by the workflow_run stage: the re-run's PATCH is 403."""
    existing = fake.add_comment(REPO, PR, body("from stage two"), ACTIONS_BOT)
    result = post("report", replace(context, is_fork=True), log, token=FORK_TOKEN)
    assert result is None and existing.body == body("from stage two")
    assert fake.calls()[-1] == f"PATCH /repos/{REPO}/issues/comments/{existing.id}"
    (warning,) = log.warnings()
    assert "comes from a fork" in warning and "workflow_run" in warning


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_warns_without_calling_github(
    fake: FakeGitHub, context: RunContext, log: Log, token: str | None
) -> None:
    settings = make_settings(token=None).model_copy(update={"github_token": None})
    if token is not None:
        settings = make_settings(token=token or None)
    assert send(body(), settings, context, log.runner) is None
    (warning,) = log.warnings()
    assert "No github-token" in warning
    assert fake.exchanges == []


def test_a_personal_access_token_edits_only_its_own_comment(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    fake.add_token("ghp_alicetoken0123456789", ALICE, installation=False)
    bots = fake.add_comment(REPO, PR, body("bot"), ACTIONS_BOT)
    alices = fake.add_comment(REPO, PR, body("alice v1"), ALICE)
    post("alice v2", context, log, token="ghp_alicetoken0123456789")
    assert alices.body == body("alice v2") and bots.body == body("bot")
    assert fake.exchanges[0].status == 200  # GET /user answered for a user's token


def test_an_app_token_warns_that_its_comment_will_not_be_found_again(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    fake.add_token("ghs_apptoken0123456789", Account("acme-ci[bot]", 555, "Bot"), installation=True)
    url = post("report", context, log, token="ghs_apptoken0123456789")
    assert url is not None
    (warning,) = log.warnings()
    assert "acme-ci[bot]" in warning and "next run will post a new comment" in warning


def test_a_minimized_comment_of_ours_is_replaced(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    hidden = fake.add_comment(REPO, PR, body("old"), ACTIONS_BOT, minimized_reason="outdated")
    url = post("new", context, log)
    assert hidden.body == body("old") and len(fake.comments_on(REPO, PR)) == 2
    assert url is not None and not url.endswith(f"-{hidden.id}")
    assert fake.calls() == ["GET /user", LIST, CREATE, LIST]  # no re-fetch of listed comments


def test_rejected_token_warns(fake: FakeGitHub, context: RunContext, log: Log) -> None:
    assert post("report", context, log, token="ghp_revoked0123456789") is None
    (warning,) = log.warnings()
    assert "401 (Bad credentials)" in warning
    assert fake.calls() == ["GET /user"]


def test_unknown_pull_request_warns_404(fake: FakeGitHub, context: RunContext, log: Log) -> None:
    assert post("report", replace(context, pr_number=404), log) is None
    (warning,) = log.warnings()
    assert "404 (Not Found)" in warning and f"{REPO}#404" in warning


def test_network_error_warns(context: RunContext, log: Log) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert post("report", replace(context, api_url=closed), log) is None
    (warning,) = log.warnings()
    assert f"Could not talk to GitHub at {closed}" in warning and "ConnectionError" in warning


def test_too_long_body_is_not_sent(fake: FakeGitHub, context: RunContext, log: Log) -> None:
    assert post("x" * 65_600, context, log) is None
    (warning,) = log.warnings()
    assert "65,536" in warning
    assert fake.exchanges == []


def test_body_without_its_marker_is_not_sent(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    settings = make_settings(comment_id="api")
    assert send(body("x"), settings, context, log.runner) is None  # marker of no id
    assert "lost its marker" in log.warnings()[0]
    assert fake.exchanges == []


def test_github_enterprise_server_api_prefix(log: Log) -> None:
    ghes = FakeGitHub(prefix="/api/v3", html_root="https://ghes.example.com")
    ghes.add_pull(REPO, PR)
    ghes.add_token(WORKFLOW_TOKEN, ACTIONS_BOT, installation=True)
    with serve_github(ghes) as url:
        context = RunContext(repository=REPO, pr_number=PR, api_url=url)
        assert url.endswith("/api/v3")
        posted = post("first", context, log)
        assert post("second", context, log) == posted
    assert posted is not None and posted.startswith("https://ghes.example.com/")
    assert len(ghes.comments_on(REPO, PR)) == 1


@pytest.mark.parametrize("token", [FORK_TOKEN, "ghp_revoked0123456789", WORKFLOW_TOKEN])
def test_the_token_never_reaches_the_log(
    fake: FakeGitHub, context: RunContext, log: Log, token: str
) -> None:
    post("report", context, log, token=token)
    post("report", replace(context, pr_number=404), log, token=token)
    assert log.text and token not in log.text


def test_a_real_rendered_comment_is_posted_and_found_again(
    fake: FakeGitHub, context: RunContext, log: Log
) -> None:
    """The seam with ckaction.render: its marker line is the one the upsert looks for."""
    from ckaction.render import render_comment
    from ckaction.report import Report, tolerances_of

    report = Report(result="error", tolerances=tolerances_of(None))
    settings = make_settings(comment_id="api")
    first = send(render_comment(report, "api"), settings, context, log.runner)
    passed = Report(result="passed", tolerances=report.tolerances)
    second = send(render_comment(passed, "api"), settings, context, log.runner)
    assert first is not None and first == second
    assert len(fake.comments_on(REPO, PR)) == 1 and log.warnings() == []
