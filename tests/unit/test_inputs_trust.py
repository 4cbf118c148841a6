"""Inputs that would leak a secret, fail the wrong way or point out of the workspace are input
errors that name the input and say why (issue 12); the whole step with them is in
tests/integration/test_hostile_inputs.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ckaction.errors import InputError
from ckaction.inputs import MAX_NAME_CHARS, MAX_PATH_CHARS, Settings

BASE = {"api_token": "ck-secret-token", "org": "acme", "prompt_id": "7"}


def problems(**raw: str) -> dict[str, str]:
    with pytest.raises(InputError) as caught:
        Settings.parse({**BASE, **raw})
    return caught.value.problems


@pytest.mark.parametrize("field", ["api_url", "web_url"])
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://ci:hunter2-pw@ck.example/orgs/acme", "user name or password"),
        ("https://hunter2-pw@ck.example/orgs/acme", "user name or password"),
        ("https://ck.example/orgs/acme?api_key=hunter2-pw", "query string"),
        ("https://ck.example/orgs/acme#hunter2-pw", "query string"),
    ],
)
def test_urls_with_credentials_or_keys_are_refused_without_echoing_them(field, url, says):
    problem = problems(**{field: url})[field.replace("_", "-")]
    assert says in problem and "hunter2" not in problem


def test_a_plain_url_is_kept():
    settings = Settings.parse({**BASE, "api_url": "https://ck.example/orgs/acme/api/v1/"})
    assert settings.api_root == "https://ck.example/orgs/acme/api/v1"


@pytest.mark.parametrize("field", ["api_token", "github_token"])
@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("abc1234", "too short"),
        ("TRUE", "placeholder"),
        ("NuLl", "placeholder"),
        ("Off", "placeholder"),
        ("12345678901234", "placeholder"),
        ("ck-first-line\nck-second-line", "one line"),
        ("ck-tok\u2014en-0123456789", "printable ASCII"),
        ("ck-token\u200b0123456789", "printable ASCII"),
    ],
)
def test_unsafe_tokens_are_input_errors_that_say_why(field, token, says):
    problem = problems(**{field: token})[field.replace("_", "-")]
    assert says in problem
    assert token not in problem


def test_the_errors_name_the_service_whose_tokens_are_longer():
    assert "a real CompletionKit token is longer" in problems(api_token="short")["api-token"]
    assert "a real GitHub token is longer" in problems(github_token="short")["github-token"]


def test_an_eight_character_token_is_fine():
    assert Settings.parse({**BASE, "api_token": "tok-1234"}).token == "tok-1234"


@pytest.mark.parametrize("field", ["row_tolerance", "avg_tolerance"])
@pytest.mark.parametrize("value", ["1", "0.5", "-5.01", "-1e400", "1e400", "NaN", "-Infinity"])
def test_tolerances_outside_minus_five_to_zero_are_input_errors(field, value):
    assert field.replace("_", "-") in problems(**{field: value})


@pytest.mark.parametrize("value", ["0", "-5", "-0.2", "-1E+0"])
def test_tolerances_within_the_range_are_kept(value):
    settings = Settings.parse({**BASE, "row_tolerance": value, "avg_tolerance": value})
    assert settings.row_tolerance == settings.avg_tolerance == Decimal(value)


@pytest.mark.parametrize("field", ["report_path", "signoffs_file"])
@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/etc/passwd", "relative"),
        ("C:\\Windows\\report.json", "relative"),
        ("\\\\server\\share\\report.json", "relative"),
        ("../outside.json", "inside the workspace"),
        ("reports/../../outside.json", "inside the workspace"),
        ("reports\\..\\..\\outside.json", "inside the workspace"),
        ("a" * (MAX_PATH_CHARS + 1), f"at most {MAX_PATH_CHARS}"),
        ("reports/" + "a" * (MAX_NAME_CHARS + 1), f"over {MAX_NAME_CHARS} characters"),
        ("report\0.json", "NUL"),
    ],
)
def test_paths_that_leave_the_workspace_by_their_spelling_are_input_errors(field, path, says):
    assert says in problems(**{field: path})[field.replace("_", "-")]


def test_relative_paths_inside_the_workspace_are_kept():
    settings = Settings.parse({**BASE, "report_path": "out/r.json", "signoffs_file": "a/b.yml"})
    assert (settings.report_path, settings.signoffs_file) == ("out/r.json", "a/b.yml")
