"""Typed views of CompletionKit's JSON, as the REST API v1 serializes it.

Every model ignores fields it does not know, so a newer engine does not break the gate. Scores arrive
as decimal strings ("4.0") or numbers; both parse to `Decimal` so means and deltas stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_SCORE_CACHE: dict[tuple[type, Any], Decimal] = {}
_SCORE_CACHE_LIMIT = 4096  # judges score on a small scale: a few distinct values cover a whole run


SCORE_LIMIT = Decimal(
    1000
)  # scores are 1..5, deltas -4..4, rates 0..1: far beyond is a bad payload


def _parse_score(value: Any) -> Decimal | None:
    # Fast path: the same few scores ("4.0", -1.0, ...) arrive hundreds of thousands of times on a
    # large comparison; parse each once and share the (immutable) Decimal.
    key = (type(value), value)
    try:
        return _SCORE_CACHE[key]
    except (KeyError, TypeError):
        pass
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a score cannot be a boolean")
    if isinstance(value, int | float | str | Decimal):
        try:
            score = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {str(value)[:40]!r}") from exc
        if not score.is_finite() or abs(score) > SCORE_LIMIT:
            raise ValueError(f"not a plausible score: {str(value)[:40]!r}")
        if len(_SCORE_CACHE) < _SCORE_CACHE_LIMIT:
            _SCORE_CACHE[key] = score
        return score
    raise ValueError(f"unexpected score type {type(value).__name__}")


Score = Annotated[Decimal | None, BeforeValidator(_parse_score)]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Tag(ApiModel):
    name: str


class Counts(ApiModel):
    done: int = 0
    total: int = 0
    failed: int = 0


class Progress(ApiModel):
    generated: Counts = Counts()
    judged: Counts = Counts()


class Run(ApiModel):
    id: int
    name: str | None = None
    status: str
    prompt_id: int | None = None
    dataset_id: int | None = None
    judge_model: str | None = None
    temperature: float | None = None
    judge_temperature: float | None = None
    max_tokens: int | None = None
    expected_column: str | None = None
    output_column: str | None = None
    avg_score: Score = None
    check_pass_rate: Score = None
    metric_ids: list[int] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    progress: Progress | None = None
    progress_total: int | None = None
    responses_count: int | None = None
    failure_summary: str | None = None
    error_message: str | None = None
    failed_response_ids: list[int] = Field(default_factory=list)
    temperature_ignored: bool | None = None
    judge_temperature_ignored: bool | None = None
    created_at: str | None = None

    @property
    def tag_names(self) -> list[str]:
        return [tag.name for tag in self.tags]

    @property
    def is_terminal(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def has_scores(self) -> bool:
        """True when the engine graded anything: an LLM score or a check result."""
        judged_total = self.progress.judged.total if self.progress else None
        if judged_total == 0:
            return False
        return self.avg_score is not None or self.check_pass_rate is not None


class Prompt(ApiModel):
    id: int
    name: str = ""
    description: str | None = None
    template: str | None = None
    family_key: str | None = None
    version_number: int | None = None
    current: bool = False
    llm_model: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def tag_names(self) -> list[str]:
        return [tag.name for tag in self.tags]


class Dataset(ApiModel):
    id: int
    name: str = ""
    csv_data: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    created_at: str | None = None

    @property
    def tag_names(self) -> list[str]:
        return [tag.name for tag in self.tags]


class Metric(ApiModel):
    id: int
    name: str = ""
    metric_type: str = "llm_judge"

    @property
    def is_llm_judge(self) -> bool:
        return self.metric_type != "check"


class Review(ApiModel):
    metric_id: int | None = None
    metric_name: str | None = None
    metric_version_id: int | None = None
    ai_score: Score = None
    passed: bool | None = None
    ai_feedback: str | None = None
    status: str | None = None


class Response(ApiModel):
    id: int
    input_data: str | None = None
    response_text: str | None = None
    status: str | None = None
    row_index: int | None = None
    reviews: list[Review] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """What the verdict needs of a response: its input, the judge's rationale per metric and,
    for a row that regressed, its output (`response_text`).

    Responses are fetched for every row of both runs; keeping only these facts (instead of the
    whole response with its reviews) keeps a 10,000-row gate's memory small.
    """

    input_data: str | None
    rationales: dict[int, str | None]
    output: str | None = None

    @classmethod
    def of(cls, response: Response, *, keep_output: bool = False) -> ResponseFacts:
        return cls(
            input_data=response.input_data,
            rationales={
                review.metric_id: review.ai_feedback
                for review in response.reviews
                if review.metric_id is not None
            },
            output=response.response_text if keep_output else None,
        )


class MetricCompare(ApiModel):
    metric_id: int
    metric_name: str | None = None
    kind: str = "llm_judge"
    left_score: Score = None
    right_score: Score = None
    left_passed: bool | None = None
    right_passed: bool | None = None
    left_metric_version_id: int | None = None
    right_metric_version_id: int | None = None
    delta: Score = None
    result_change: str | None = None

    @property
    def is_check(self) -> bool:
        return self.kind == "check"


class CompareRow(ApiModel):
    left_response_id: int | None = None
    right_response_id: int | None = None
    row_index: int | None = None
    per_metric: list[MetricCompare] = Field(default_factory=list)


class Comparison(ApiModel):
    left_run_id: int
    right_run_id: int
    metric_ids: list[int] = Field(default_factory=list)
    rows: list[CompareRow] = Field(default_factory=list)
