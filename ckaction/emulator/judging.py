"""How the emulator produces responses and scores them: generator, judges, check evaluation.

A judge is any callable `JudgeCall -> Verdict`; a generator is `(prompt, row) -> str` and may raise
`GenerationError` to fail the row. The defaults are deterministic, so two runs of the same prompt on
the same dataset score identically unless a `NoisyJudge` is installed.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

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


def evaluate_check(config: Mapping[str, Any] | None, text: str) -> bool:
    """Evaluate a check metric's `check_config` against a response; unknown kinds pass.

    Supported kinds (config keys are a best guess at the engine's): contains / not_contains
    (`value`, `case_sensitive`), equals (`value`), regex (`pattern`), valid_json,
    json_path_equals (`path` dotted, `value`), length_bounds (`min`, `max`).
    """
    if not config:
        return True
    kind = str(config.get("kind") or config.get("type") or "")
    value = str(config.get("value", ""))
    if kind in ("contains", "not_contains"):
        haystack, needle = text, value
        if not config.get("case_sensitive", False):
            haystack, needle = haystack.lower(), needle.lower()
        found = needle in haystack
        return found if kind == "contains" else not found
    if kind == "equals":
        return text.strip() == value.strip()
    if kind == "regex":
        return re.search(str(config.get("pattern", "")), text) is not None
    if kind == "valid_json":
        try:
            json.loads(text)
        except ValueError:
            return False
        return True
    if kind == "json_path_equals":
        try:
            node: Any = json.loads(text)
        except ValueError:
            return False
        for part in str(config.get("path", "")).strip("$.").split("."):
            if not part:
                continue
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False
        return str(node) == value
    if kind == "length_bounds":
        low = int(config.get("min", 0) or 0)
        high = config.get("max")
        return len(text) >= low and (high is None or len(text) <= int(high))
    return True


def clamp_score(score: int) -> int:
    return max(1, min(5, int(score)))


def default_judge(call: JudgeCall) -> Verdict:
    """Deterministic: LLM-judge metrics score 3..5 from a hash of the response; checks evaluate."""
    if is_check(call.metric):
        passed = evaluate_check(call.metric.get("check_config"), call.response_text)
        return Verdict(None, passed, "Check passed." if passed else "Check failed.")
    digest = hashlib.sha256(f"{call.metric.get('name')}\x00{call.response_text}".encode()).digest()
    score = 3 + digest[0] % 3
    return Verdict(score, None, f"Deterministic emulator score {score}.")


ScriptedValue = int | bool | Verdict


class ScriptedJudge:
    """Scores exactly as scripted per (prompt_id, row_index, metric_name); defaults elsewhere.

    `prompt_id` is the run's prompt version row id (None for judge-only runs). A value is an int
    score for LLM-judge metrics, a bool for checks, or a full `Verdict` (e.g. `failed=True`).
    Unscripted LLM-judge metrics score `default` (or ask `fallback`); unscripted checks use
    `default_passed` when given, else evaluate the metric's `check_config`. `scores` is a plain
    dict and may be edited after construction.
    """

    def __init__(
        self,
        scores: Mapping[tuple[int | None, int, str], ScriptedValue] | None = None,
        *,
        default: int = 4,
        default_passed: bool | None = None,
        fallback: Judge | None = None,
    ) -> None:
        self.scores: dict[tuple[int | None, int, str], ScriptedValue] = dict(scores or {})
        self.default = default
        self.default_passed = default_passed
        self.fallback = fallback

    def __call__(self, call: JudgeCall) -> Verdict:
        prompt_id = call.run.get("prompt_id")
        key = (prompt_id, call.row_index, str(call.metric.get("name")))
        if key in self.scores:
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
