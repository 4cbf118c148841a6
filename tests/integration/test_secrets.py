"""No secret leaves the step, in any spelling: not in run links, the summary, the comment, the JSON
report, the outputs or the log (issue 12, "Secrets")."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from ckaction.emulator import Fault, Verdict
from tests.conftest import TOKEN
from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github
from tests.integration.helpers import GITHUB_TOKEN, REPO, api_root, run_action

# A token with the characters every escaping changes: a quote, a backslash, an underscore.
HOSTILE_TOKEN = 'ck_live"quoted\\slash-0123456789'
PASSWORD = "hunter2-s3cret-pw"
PR = 7
MAX_RATIONALE_SHOWN = 500  # beyond the longest cut the summary and the comment make of a rationale


def spellings(secret: str) -> list[str]:
    """The secret as a server or a writer may spell it: each must be absent from the output."""
    return [
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode()[:-4],
        secret.replace("\\", "\\\\").replace("_", "\\_"),  # escaped for Markdown
    ]


def gate_inputs(emulated, **inputs):
    return {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id), **inputs}


def test_a_password_in_web_url_is_an_input_error_and_reaches_no_run_link(emulated, action_env):
    web_url = f"https://ci:{PASSWORD}@ck.example/orgs/acme"
    result = run_action(emulated, action_env, gate_inputs(emulated, **{"web-url": web_url}))
    assert result.code == 2
    assert "Invalid input web-url" in result.stdout
    assert "user name or password" in result.summary_text
    assert PASSWORD not in result.everything
    assert emulated.emulator.requests == []  # refused before anything reached CompletionKit


def test_a_password_in_api_url_is_an_input_error_not_a_401(emulated, action_env):
    api_url = emulated.url.replace("http://", f"http://ci:{PASSWORD}@")
    result = run_action(emulated, action_env, gate_inputs(emulated, **{"api-url": api_url}))
    assert result.code == 2
    assert "Invalid input api-url" in result.stdout and "401" not in result.everything
    assert PASSWORD not in result.everything


def test_a_key_in_the_query_string_is_an_input_error(emulated, action_env):
    api_url = emulated.url + f"?api_key={PASSWORD}"
    result = run_action(emulated, action_env, gate_inputs(emulated, **{"api-url": api_url}))
    assert result.code == 2
    assert "query string" in result.summary_text
    assert PASSWORD not in result.everything


@pytest.fixture
def github():
    fake = FakeGitHub()
    fake.add_pull(REPO, PR)
    fake.add_token(GITHUB_TOKEN, ACTIONS_BOT, installation=True)
    with serve_github(fake) as url:
        yield fake, url


@pytest.mark.parametrize("over_http", [False, True], ids=["in-process", "over-http"])
def test_a_token_echoed_in_every_encoding_by_a_422_reaches_nothing(
    emulated, action_env, github, over_http
):
    fake, url = github
    emulated.emulator.token = HOSTILE_TOKEN
    fault = Fault("POST", r"/runs$", status=422, echo="authorization")
    emulated.emulator.faults.append(fault)
    pull = {"number": PR, "head": {"sha": "ab" * 20, "repo": {"full_name": REPO}}}
    inputs = gate_inputs(emulated, **{"api-token": HOSTILE_TOKEN, "github-token": GITHUB_TOKEN})
    with api_root(emulated, over_http=over_http) as root:
        result = run_action(
            emulated,
            action_env,
            {**inputs, "api-url": root},
            over_http=over_http,
            event="pull_request",
            payload={"pull_request": {**pull, "base": {"repo": {"full_name": REPO}}}},
            GITHUB_API_URL=url,
            GITHUB_REPOSITORY=REPO,
        )
    assert fault.hits == 1
    assert result.code == 2
    assert "422, CompletionKit refused the request" in result.summary_text
    assert "***" in result.report["error"]["message"]
    (comment,) = fake.comments_on(REPO, PR)
    assert "422" in comment.body and "***" in comment.body.replace("\\", "")
    written = result.everything.replace(f"::add-mask::{HOSTILE_TOKEN}", "") + comment.body
    for spelling in spellings(HOSTILE_TOKEN):
        assert spelling not in written, spelling


def test_a_token_in_row_text_is_redacted_before_any_cut(emulated, action_env):
    """The judge's rationale is shown cut to a limit: wherever the cut falls, and in whatever run
    of the gate, not even the token's first characters show."""
    scripted = emulated.emulator.judge
    first_characters = TOKEN[:6]
    padding = {"length": 0}

    def judge(call):
        verdict = scripted(call)
        rationale = "x" * padding["length"] + " Authorization: Bearer " + TOKEN
        return Verdict(verdict.score, verdict.passed, rationale)

    emulated.emulator.judge = judge
    emulated.emulator.rate_limit = None  # dozens of gates in a row
    # Steps shorter than the token, over every length a rationale is cut to.
    for padding["length"] in range(0, MAX_RATIONALE_SHOWN, len(TOKEN) // 2):
        result = run_action(emulated, action_env, gate_inputs(emulated, **{"reuse-runs": "false"}))
        assert result.code == 1
        written = result.everything.replace(f"::add-mask::{TOKEN}", "")
        assert first_characters not in written, padding
