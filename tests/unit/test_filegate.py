"""The prompt-files gate's pure parts: which settings a file runs with, the wait handing each run
over as soon as it is seen finished, and the request budget every step shares."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ckaction.budget import BURST, PER_SECOND, RequestBudget
from ckaction.emulator.pace import row_times
from ckaction.flow import RunSpec, reuse_differences, wait_for_runs
from ckaction.inputs import Settings
from ckaction.models import Run
from ckaction.promptfile import EvalDefaults, PromptFile, settings_for
from tests.conftest import FakeTime
from tests.unit.test_polling import Simulation

ENGINE_LIMIT_A_MINUTE = 120


def prompt_file(**eval_keys: object) -> PromptFile:
    return PromptFile(
        path="prompts/p.yml",
        prompt="P",
        llm_model="gpt-4o-mini",
        template="Hi {{name}}",
        eval=EvalDefaults.model_validate(eval_keys) if eval_keys else None,
    )


def test_an_input_the_step_sets_wins_and_the_files_eval_fills_in_the_rest() -> None:
    step = Settings.parse(
        {"api_token": "tok-1234", "org": "acme", "prompt_files": "p.yml", "dataset_id": "7"}
    )
    file = prompt_file(**{"dataset-id": 12, "metric-ids": [1, 2], "judge-model": "gpt-4.1"})
    merged = settings_for(step, file)
    assert merged.dataset_id == 7
    assert merged.metric_ids == (1, 2) and merged.judge_model == "gpt-4.1"
    assert settings_for(step, prompt_file()) is step


def test_a_tolerance_input_left_at_its_default_yields_to_the_files_eval() -> None:
    # The runner passes every input's default as if the step had set it.
    raw = {"api_token": "tok-1234", "org": "acme", "prompt_files": "p.yml", "row_tolerance": "-1.0"}
    file = prompt_file(**{"row-tolerance": -2.5, "avg-tolerance": -0.5})
    merged = settings_for(Settings.parse(raw), file)
    assert (merged.row_tolerance, merged.avg_tolerance) == (Decimal("-2.5"), Decimal("-0.5"))
    raw["row_tolerance"] = "-0.5"
    assert settings_for(Settings.parse(raw), file).row_tolerance == Decimal("-0.5")


def test_each_run_is_handed_over_once_as_soon_as_it_is_seen_finished() -> None:
    simulation = Simulation([row_times(4, 20.0, 0.0), row_times(4, 200.0, 0.0)])
    handed: list[tuple[int, float]] = []
    seen = wait_for_runs(
        simulation.seen(),
        simulation.read,
        clock=lambda: simulation.now,
        sleep=simulation.sleep,
        deadline=3600.0,
        say=lambda _: None,
        on_finished=lambda run: handed.append((run.id, simulation.now)),
    )
    assert [run.status for run in seen] == ["completed", "completed"]
    assert [run_id for run_id, _ in handed] == [1, 2]
    assert handed[0][1] < 200.0  # the fast run was handed over long before the slow one ended


@given(st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=400))
def test_no_minute_holds_more_requests_than_the_budget_allows(gaps: list[float]) -> None:
    time = FakeTime(start=0.0)
    budget, sent = RequestBudget(time.now, time.sleep), []
    for gap in gaps:
        time.sleep(gap)
        budget.spend()
        sent.append(time.now())
    most = max(sum(1 for t in sent if start <= t < start + 60) for start in sent)
    assert most <= BURST + 60 * PER_SECOND < ENGINE_LIMIT_A_MINUTE


def test_a_small_step_never_waits_for_the_budget() -> None:
    time = FakeTime(start=0.0)
    budget = RequestBudget(time.now, time.sleep)
    for _ in range(BURST):
        budget.spend()
    assert time.slept == []
    budget.spend()
    assert time.slept == [1 / PER_SECOND]


def test_a_reused_run_must_match_the_plan_but_may_carry_the_engines_default_temperature() -> None:
    spec = RunSpec(5, 7, (1, 2), "gpt-4.1", None, None, None, None)
    run = Run.model_validate(
        {"id": 9, "status": "completed", "prompt_id": 5, "dataset_id": 7, "metric_ids": [2, 1],
         "judge_model": "gpt-4.1", "temperature": 0.7}
    )  # fmt: skip
    assert reuse_differences(run, spec) == []
    assert reuse_differences(run, replace(spec, temperature=0.2)) == [
        "temperature: run 0.7, plan 0.2"
    ]
    assert reuse_differences(run, replace(spec, judge_model="gpt-4o")) == [
        "judge model: run gpt-4.1, plan gpt-4o"
    ]
