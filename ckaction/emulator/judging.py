"""How the emulator produces responses and scores them: generator, judges, check evaluation.

A judge is any callable `JudgeCall -> Verdict`; a generator is `(prompt, row) -> str` and may raise
`GenerationError` to fail the row. The defaults are deterministic, so two runs of the same prompt on
the same dataset score identically unless a `NoisyJudge` is installed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ckaction.emulator.checks import CheckedRow, UnknownCheckKind, run_check

JsonDict = dict[str, Any]

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True)
class JudgeCall:
    """Everything a judge sees for one (response, metric) pair."""

    prompt: JsonDict  # the prompt version as serialized by the API; {} for judge-only runs
    row: dict[str, str]  # the dataset row (CSV columns to values)
    row_index: int  # 0-based position of the row in the dataset
    metric: JsonDict  # the metric as serialized by the API
    metric_version_id: int
    response_text: str
    run: JsonDict  # the run's settings: id, name, prompt_id, dataset_id, judge_model, ...
    input_data: str | None = None  # the row as the engine stores it (`records.input_data_json`)
    expected_output: str | None = None  # the row's answer key (`expected_column`)


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: `score` 1..5 for LLM-judge metrics, `passed` for checks."""

    score: int | None
    passed: bool | None
    feedback: str
    failed: bool = False


class GenerationError(Exception):
    """Raised by a generator to fail one row; becomes the response's `error` object."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = "openai",
        status: int | None = None,
        error_class: str = "CompletionKit::GenerationError",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.error_class = error_class


Judge = Callable[[JudgeCall], Verdict]
Generator = Callable[[JsonDict, dict[str, str]], str]


def template_variables(template: str) -> list[str]:
    """The `{{var}}` names of a template, unique, in order of first use."""
    seen: list[str] = []
    for name in _VARIABLE.findall(template):
        if name not in seen:
            seen.append(name)
    return seen


def render_template(template: str, row: Mapping[str, str]) -> str:
    """Replace each `{{var}}` with the row's value (empty when the column is absent)."""
    return _VARIABLE.sub(lambda match: str(row.get(match.group(1), "")), template)


def default_generator(prompt: JsonDict, row: dict[str, str]) -> str:
    """The response is the prompt template rendered with the row."""
    return render_template(str(prompt.get("template", "")), row)


def is_check(metric: Mapping[str, Any]) -> bool:
    return metric.get("metric_type") == "check"


def check_verdict(call: JudgeCall) -> Verdict:
    """The engine's `CheckReviewJob`: the check's own detail as feedback; a kind it does not
    know fails the review (`checks.py`), so a check never passes unevaluated."""
    row = CheckedRow(call.response_text, call.input_data, call.expected_output)
    try:
        result = run_check(call.metric.get("check_config"), row)
    except UnknownCheckKind as exc:
        return Verdict(None, None, str(exc), failed=True)
    return Verdict(None, result.passed, result.detail)


def clamp_score(score: int) -> int:
    return max(1, min(5, int(score)))


def default_judge(call: JudgeCall) -> Verdict:
    """Deterministic: LLM-judge metrics score 3..5 from a hash of the response; checks evaluate."""
    if is_check(call.metric):
        return check_verdict(call)
    digest = hashlib.sha256(f"{call.metric.get('name')}\x00{call.response_text}".encode()).digest()
    score = 3 + digest[0] % 3
    return Verdict(score, None, f"Deterministic emulator score {score}.")


ScriptedValue = int | bool | Verdict


class ScriptedJudge:
    """Scores exactly as scripted per (prompt_id, row, metric_name); defaults elsewhere.

    `prompt_id` is the run's prompt version row id (None for judge-only runs). The row is its
    0-based position (an int), or a value the row holds (a str, such as an order number): a
    script by content follows the row into any dataset, as a real judge would (confirm-runs
    re-runs flagged rows in a dataset of their own); a script by position wins. A value is an int
    score for LLM-judge metrics, a bool for checks, or a full `Verdict` (e.g. `failed=True`).
    Unscripted LLM-judge metrics score `default` (or ask `fallback`); unscripted checks use
    `default_passed` when given, else evaluate the metric's `check_config`. `scores` is a plain
    dict and may be edited after construction.
    """

    def __init__(
        self,
        scores: Mapping[tuple[int | None, int | str, str], ScriptedValue] | None = None,
        *,
        default: int = 4,
        default_passed: bool | None = None,
        fallback: Judge | None = None,
    ) -> None:
        self.scores: dict[tuple[int | None, int | str, str], ScriptedValue] = dict(scores or {})
        self.default = default
        self.default_passed = default_passed
        self.fallback = fallback

    def __call__(self, call: JudgeCall) -> Verdict:
        prompt_id = call.run.get("prompt_id")
        metric = str(call.metric.get("name"))
        rows: list[int | str] = [call.row_index, *call.row.values()]
        key = next(
            (k for row in rows if (k := (prompt_id, row, metric)) in self.scores),
            None,
        )
        if key is not None:
            value = self.scores[key]
            if isinstance(value, Verdict):
                return value
            if is_check(call.metric):
                return Verdict(None, bool(value), f"Scripted check result {bool(value)}.")
            if isinstance(value, bool):
                raise TypeError(f"scripted value for LLM-judge metric {key} must be an int")
            return Verdict(clamp_score(value), None, f"Scripted score {clamp_score(value)}.")
        if self.fallback is not None:
            return self.fallback(call)
        if is_check(call.metric):
            if self.default_passed is not None:
                return Verdict(None, self.default_passed, "Default check result.")
            return default_judge(call)
        return Verdict(clamp_score(self.default), None, f"Default score {self.default}.")


class NoisyJudge:
    """Wraps a judge and adds seeded integer noise in [-spread, spread] to LLM-judge scores.

    The noise is drawn per (seed, run id, row index, metric name), so two runs of the same prompt
    differ a little while each run is reproducible. `probability` is the chance a score is
    perturbed at all. Checks and failed verdicts pass through unchanged.
    """

    def __init__(
        self, base: Judge, spread: int = 1, seed: int = 0, *, probability: float = 1.0
    ) -> None:
        self.base = base
        self.spread = spread
        self.seed = seed
        self.probability = probability

    def __call__(self, call: JudgeCall) -> Verdict:
        verdict = self.base(call)
        if verdict.failed or verdict.score is None:
            return verdict
        rng = random.Random(
            f"{self.seed}:{call.run.get('id')}:{call.row_index}:{call.metric.get('name')}"
        )
        if rng.random() >= self.probability:
            return verdict
        noisy = clamp_score(verdict.score + rng.randint(-self.spread, self.spread))
        return replace(verdict, score=noisy)
