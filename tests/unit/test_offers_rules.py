"""The pure rules behind what the engine offers a gate: which responses regressed before they are
downloaded, which rebaseline method applies, and which run is a copy a lost rerun made."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ckaction.commands import rebaseline_method
from ckaction.decide import Tolerances, regressed_responses
from ckaction.errors import ConfigurationError, InputError
from ckaction.inputs import Settings
from ckaction.models import Run
from ckaction.rerun import is_copy_of
from tests.factories import check, comparison, judge, row

TOLERANCES = Tolerances(row=Decimal("-1.0"), avg=Decimal("-0.2"))


def test_regressed_responses_are_the_rows_below_the_row_tolerance_or_with_a_broken_check() -> None:
    compared = comparison(
        row(0, judge(1, 4, 4), check(3, True, True)),
        row(1, judge(1, 4, 3), check(3, True, True)),  # -1.0: at the tolerance, not below
        row(2, judge(1, 4, 2), check(3, True, True)),
        row(3, judge(1, 4, 4), check(3, True, False)),
        row(4, judge(1, 4, None), check(3, False, True)),
        row(5, judge(1, 1, 4), missing=True),
    )
    regressed = regressed_responses(compared, TOLERANCES)
    assert regressed.baseline == {1002, 1003}
    assert regressed.candidate == {2002, 2003}
    assert regressed


def test_no_regressed_response_is_false() -> None:
    regressed = regressed_responses(comparison(row(0, judge(1, 3, 4))), TOLERANCES)
    assert not regressed and regressed.baseline == regressed.candidate == frozenset()


def baseline_run(**fields: Any) -> Run:
    return Run.model_validate(
        {
            "id": 7,
            "status": "completed",
            "prompt_id": 1,
            "dataset_id": 2,
            "judge_model": "gpt-4o",
            "temperature": 0.2,
            "metric_ids": [3, 4],
            "tags": [{"id": 1, "name": "ckaction-baseline"}],
            **fields,
        }
    )


def settings(**inputs: str) -> Settings:
    return Settings.parse(
        {
            "api_token": "tok-12345678",
            "api_url": "https://ck.test/api/v1",
            "command": "rebaseline",
            "baseline_run_id": "7",
            **inputs,
        }
    )


@pytest.mark.parametrize(
    ("inputs", "method"),
    [
        ({}, "rerun"),
        ({"judge_model": "gpt-4o"}, "rerun"),
        ({"judge_model": "gpt-4o", "temperature": "0.2"}, "rerun"),
        ({"judge_model": "gpt-4.1"}, "new-run"),
        ({"temperature": "0.7"}, "new-run"),
        ({"rebaseline_method": "new-run"}, "new-run"),
        ({"rebaseline_method": "Regrade"}, "regrade"),
        ({"rebaseline_method": "regrade", "judge_model": "gpt-4o"}, "regrade"),
        ({"rebaseline_method": "rerun"}, "rerun"),
    ],
)
def test_rebaseline_method(inputs: dict[str, str], method: str) -> None:
    assert rebaseline_method(settings(**inputs), baseline_run()) == method


@pytest.mark.parametrize(
    ("inputs", "run", "says"),
    [
        ({"rebaseline_method": "regrade", "judge_model": "gpt-4.1"}, {}, "keeps run 7's"),
        ({"rebaseline_method": "rerun", "temperature": "1"}, {}, "temperature 1"),
        ({"rebaseline_method": "regrade"}, {"tags": []}, "only runs it made as baselines"),
        (
            {"rebaseline_method": "regrade"},
            {"tags": [{"id": 1, "name": "ckaction-baseline"}, {"id": 2, "name": "ckaction-gate"}]},
            "never a gate run",
        ),
        (
            {"rebaseline_method": "regrade"},
            {"name": "ckaction gate 0123abcd cfg-1"},
            "never a gate run",
        ),
    ],
)
def test_rebaseline_method_refusals(inputs: dict[str, str], run: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        rebaseline_method(settings(**inputs), baseline_run(**run))


def test_invalid_rebaseline_method_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"`rebaseline-method`: Input should be 'rerun'"):
        settings(rebaseline_method="fresh")


@pytest.mark.parametrize(
    ("copy", "is_copy"),
    [
        ({"id": 9}, True),
        ({"id": 9, "metric_ids": [4, 3]}, True),
        ({"id": 9, "max_tokens": None}, True),  # an engine that does not copy max_tokens
        ({"id": 9, "temperature": 0.7}, False),
        ({"id": 9, "judge_model": "gpt-4.1"}, False),
        ({"id": 9, "dataset_id": 5}, False),
        ({"id": 9, "metric_ids": [3]}, False),
        ({"id": 9, "max_tokens": 64}, False),
    ],
)
def test_is_copy_of(copy: dict[str, Any], is_copy: bool) -> None:
    old = baseline_run(max_tokens=256)
    assert is_copy_of(baseline_run(**{"max_tokens": 256, **copy}), old) is is_copy
