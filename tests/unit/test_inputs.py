from decimal import Decimal

import pytest

from ckaction.errors import InputError
from ckaction.inputs import Settings, normalize_key, parse_metric_ids, raw_inputs_from_env

BASE = {"api_token": "ck-secret-token", "org": "acme", "prompt_id": "7"}


def test_runner_env_names_with_hyphens_are_normalized_and_empty_values_dropped():
    env = {
        "INPUT_API-TOKEN": " ck-secret-token ",
        "INPUT_PROMPT-ID": "7",
        "INPUT_BASELINE-RUN-ID": "",
        "INPUT_ORG": "acme",
        "PATH": "/bin",
    }
    raw = raw_inputs_from_env(env)
    assert raw == {"api_token": "ck-secret-token", "prompt_id": "7", "org": "acme"}
    settings = Settings.parse(raw)
    assert settings.prompt_id == 7
    assert settings.baseline_run_id is None
    assert settings.api_root == "https://completionkit.com/orgs/acme/api/v1"


@pytest.mark.parametrize("key", ["INPUT_PROMPT-ID", "prompt-id", "PROMPT_ID", "input_prompt-id"])
def test_normalize_key(key):
    assert normalize_key(key) == "prompt_id"


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("1,2,3", (1, 2, 3)),
        ("1 2 3", (1, 2, 3)),
        ("[1, 2, 3]", (1, 2, 3)),
        ("3\n1", (3, 1)),
        ("1, 1, 2", (1, 2)),
    ],
)
def test_metric_ids_forms(text, ids):
    assert parse_metric_ids(text) == ids


@pytest.mark.parametrize("text", ["a,b", "[1, 'x']", "[", "0", "-1", "{}", "1.5"])
def test_metric_ids_rejects(text):
    with pytest.raises(ValueError):
        parse_metric_ids(text)


def test_defaults_match_the_seed():
    settings = Settings.parse(BASE)
    assert settings.row_tolerance == Decimal("-1.0")
    assert settings.avg_tolerance == Decimal("-0.2")
    assert settings.timeout_minutes == 30
    assert settings.fail_on_regression is True
    assert settings.command == "gate"


def test_every_problem_is_named_by_its_action_yml_id():
    raw = {
        **BASE,
        "prompt_id": "abc",
        "row_tolerance": "lots",
        "metric_ids": "1,x",
        "fail_on_regression": "yes",
        "timeout_minutes": "soon",
        "org": "not a slug!",
    }
    with pytest.raises(InputError) as caught:
        Settings.parse(raw)
    problems = caught.value.problems
    assert set(problems) == {
        "prompt-id",
        "row-tolerance",
        "metric-ids",
        "fail-on-regression",
        "timeout-minutes",
        "org",
    }
    assert "abc" in problems["prompt-id"]
    assert "true or false" in problems["fail-on-regression"]


def test_required_inputs_are_enforced_in_code():
    with pytest.raises(InputError) as caught:
        Settings.parse({})
    assert set(caught.value.problems) == {"api-token", "org", "prompt-id"}


def test_api_url_replaces_org_and_web_root_is_inferred():
    settings = Settings.parse(
        {"api_token": "ck-secret", "api_url": "http://127.0.0.1:9/orgs/x/api/v1/", "prompt_id": "1"}
    )
    assert settings.api_root == "http://127.0.0.1:9/orgs/x/api/v1"
    assert settings.web_root == "http://127.0.0.1:9/orgs/x"


def test_decimal_timeout_and_bounds():
    assert Settings.parse({**BASE, "timeout_minutes": "0.5"}).timeout_seconds == 30
    with pytest.raises(InputError) as caught:
        Settings.parse({**BASE, "timeout_minutes": "0"})
    assert "timeout-minutes" in caught.value.problems
    with pytest.raises(InputError):
        Settings.parse({**BASE, "row_tolerance": "nan"})


def test_token_never_appears_in_errors_or_repr():
    raw = {**BASE, "api_token": "ck-super-secret-value", "prompt_id": "x"}
    with pytest.raises(InputError) as caught:
        Settings.parse(raw)
    assert "ck-super-secret-value" not in str(caught.value)
    settings = Settings.parse(BASE)
    assert "ck-secret-token" not in repr(settings)


@pytest.mark.parametrize("value", ["gate", "publish", "rebaseline", "GATE"])
def test_commands(value):
    raw = {**BASE, "command": value, "baseline_run_id": "3"}
    assert Settings.parse(raw).command == value.lower()


def test_unknown_command():
    with pytest.raises(InputError) as caught:
        Settings.parse({**BASE, "command": "deploy"})
    assert "command" in caught.value.problems


def test_invalid_and_missing_inputs_are_reported_together():
    with pytest.raises(InputError) as caught:
        Settings.parse({"org": "acme", "row_tolerance": "x"})
    assert set(caught.value.problems) == {"api-token", "prompt-id", "row-tolerance"}


def test_rebaseline_and_calibrate_need_a_baseline_or_a_prompt():
    for command in ("rebaseline", "calibrate"):
        with pytest.raises(InputError) as caught:
            Settings.parse({"api_token": "tok-1234", "org": "a", "command": command})
        # Named by prompt-id, the input most users give; the sentence names the alternatives.
        assert "baseline-run-id" in caught.value.problems["prompt-id"]
