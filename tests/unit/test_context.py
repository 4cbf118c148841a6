import pytest

from ckaction.context import ci_commit, context_from_env, parse_event, pr_facts

REPO = "acme/prompts"


def pull(number=5, head=REPO, labels=()):
    return {
        "number": number,
        "labels": [{"name": n} for n in labels],
        "head": {"sha": "f" * 40, "repo": {"full_name": head}},
        "base": {"repo": {"full_name": REPO}},
    }


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        ("pull_request", {"pull_request": pull(5)}, (5, False, ())),
        ("pull_request", {"pull_request": pull(6, head="someone/prompts")}, (6, True, ())),
        ("pull_request_target", {"pull_request": pull(7, labels=("x",))}, (7, False, ("x",))),
        ("issue_comment", {"issue": {"number": 8, "pull_request": {"url": "u"}}}, (8, False, ())),
        ("issue_comment", {"issue": {"number": 9}}, (None, False, ())),
        ("push", {"after": "abc"}, (None, False, ())),
        ("schedule", {}, (None, False, ())),
        ("workflow_dispatch", {"inputs": {}}, (None, False, ())),
        ("workflow_run", {"workflow_run": {"pull_requests": []}}, (None, False, ())),
        ("workflow_run", {"workflow_run": {"pull_requests": [pull(3)]}}, (3, False, ())),
    ],
)
def test_pr_number_by_event(event, payload, expected):
    assert pr_facts(event, parse_event(payload), REPO) == expected


def test_context_prefers_the_pr_head_sha_and_builds_the_run_url(tmp_path):
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 4, "head": {"sha": "' + "a" * 40 + '"}}}')
    context = context_from_env(
        {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_SHA": "m" * 40,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_RUN_ID": "99",
            "GITHUB_SERVER_URL": "https://ghe.example",
        }
    )
    assert context.sha == "a" * 40
    assert context.pr_number == 4
    assert context.workflow_run_url == "https://ghe.example/acme/prompts/actions/runs/99"


def test_a_missing_event_file_means_no_pr_and_a_broken_one_is_an_error(tmp_path):
    broken = tmp_path / "event.json"
    broken.write_text("{not json")
    absent = context_from_env(
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(tmp_path / "absent.json")}
    )
    assert absent.pr_number is None and absent.event_error is None
    context = context_from_env(
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(broken)}
    )
    assert context.pr_number is None
    assert context.event_error is not None and "not valid JSON" in context.event_error.message


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "variable",
    ["CI_COMMIT_SHA", "BUILDKITE_COMMIT", "CIRCLE_SHA1", "GIT_COMMIT", "BUILD_SOURCEVERSION"],
)
def test_outside_github_the_commit_is_the_cis_own(variable, tmp_path):
    context = context_from_env({variable: SHA, "GITHUB_WORKSPACE": str(tmp_path)})
    assert context.sha == SHA


def test_githubs_commit_wins_and_a_value_that_is_no_sha_is_skipped(tmp_path):
    assert ci_commit({"GITHUB_SHA": "a" * 40, "CI_COMMIT_SHA": SHA}) == "a" * 40
    # Buildkite names `HEAD` before its checkout resolves it: the next CI variable is used.
    assert ci_commit({"BUILDKITE_COMMIT": "HEAD", "CIRCLE_SHA1": SHA}) == SHA
    assert ci_commit({"BUILDKITE_COMMIT": "HEAD"}) is None
    assert ci_commit({}) is None
