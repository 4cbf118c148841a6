"""Records and helpers of the emulator's in-memory model: rows as the engine stores them, plus
the small pieces of Rails behaviour (to_i, rounding, decimal strings, paging) the API exposes."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ckaction.emulator.judging import JsonDict

Query = Mapping[str, Sequence[str]]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


# -- helpers --------------------------------------------------------------------------------------


def iso_now() -> str:
    """Wall-clock UTC time, ISO-8601 with milliseconds: 2026-07-30T12:34:56.789Z."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def ruby_to_i(value: str | None) -> int:
    """Ruby's String#to_i: leading integer, else 0."""
    if value is None:
        return 0
    match = re.match(r"\s*([+-]?\d+)", value)
    return int(match.group(1)) if match else 0


# ActiveSupport's JSON encoder (`escape_html_entities_in_json`, on in every Rails app, and the JS
# line separators) escapes these after the JSON gem has encoded the string.
_RAILS_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def input_data_json(row: Mapping[str, str | None]) -> str | None:
    """A response's `input_data` as the engine stores it: `row.empty? ? nil : row.to_json`
    (completion-kit `app/models/completion_kit/run.rb` `start!`, 0.28.x): compact JSON, non-ASCII
    kept, `<`, `>`, `&`, U+2028 and U+2029 escaped as ActiveSupport does."""
    if not row:
        return None
    encoded = json.dumps(dict(row), ensure_ascii=False, separators=(",", ":"))
    return encoded.translate(_RAILS_JSON_ESCAPES)


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def decimal_round(value: Decimal, places: int) -> float:
    """Half-up rounding like Ruby, returned as a float (JSON number)."""
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def score_string(value: Decimal | None) -> str | None:
    """A decimal(4,1) column as Rails serializes it: "4.0"."""
    return None if value is None else f"{value:.1f}"


def mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def first(query: Query, key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def parse_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """First row is the header; blank lines are skipped; short rows are padded with ""."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] = []
    rows: list[dict[str, str]] = []
    for record in reader:
        if not header:
            if any(cell.strip() for cell in record):
                header = [cell.strip() for cell in record]
            continue
        if not any(cell.strip() for cell in record):
            continue
        padded = [*record, *[""] * (len(header) - len(record))]
        rows.append(dict(zip(header, padded, strict=False)))
    return header, rows


def build_csv(rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[str]]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(str(key))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(col) is None else str(row.get(col)) for col in columns])
    return buffer.getvalue(), columns


class ApiError(Exception):
    """An API error: HTTP status plus the canonical `{"error": ..., "details": ...}` body."""

    def __init__(
        self, status: int, error: str, details: Mapping[str, list[str]] | None = None
    ) -> None:
        super().__init__(f"{status}: {error}" + (f" {dict(details)}" if details else ""))
        self.status = status
        self.error = error
        self.details = dict(details) if details else None

    @property
    def body(self) -> JsonDict:
        body: JsonDict = {"error": self.error}
        if self.details:
            body["details"] = self.details
        return body


def not_found() -> ApiError:
    return ApiError(404, "Record not found")


def validation_failed(details: Mapping[str, list[str]]) -> ApiError:
    return ApiError(422, "Validation failed", details)


@dataclass(frozen=True)
class Page:
    """One page of an index endpoint, with the effective paging values for the headers."""

    items: list[JsonDict]
    total: int
    limit: int
    offset: int


def paginate(items: Sequence[JsonDict], query: Query) -> Page:
    raw_limit = first(query, "limit")
    limit = ruby_to_i(raw_limit) if raw_limit is not None else DEFAULT_LIMIT
    if limit <= 0:
        limit = DEFAULT_LIMIT
    limit = min(limit, MAX_LIMIT)
    offset = max(0, ruby_to_i(first(query, "offset")))
    return Page(list(items[offset : offset + limit]), len(items), limit, offset)


class Errors:
    """Collects validation messages keyed by field."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.details.setdefault(key, []).append(message)

    def raise_if_any(self) -> None:
        if self.details:
            raise validation_failed(self.details)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_ident(value: int | str) -> int | None:
    return value if isinstance(value, int) else as_int(value) if value.isdigit() else None


# -- records ----------------------------------------------------------------------------------------


@dataclass
class TagRec:
    id: int
    name: str
    color: str
    created_at: str
    updated_at: str

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class MetricRec:
    id: int
    name: str
    key: str
    metric_type: str
    instruction: str | None
    rubric_bands: list[JsonDict] | None
    check_config: JsonDict | None
    tag_ids: list[int]
    created_at: str
    updated_at: str
    versions: list[int]

    @property
    def current_version_id(self) -> int:
        return self.versions[-1]

    @property
    def is_check(self) -> bool:
        return self.metric_type == "check"


@dataclass
class DatasetRec:
    id: int
    name: str
    csv_data: str
    columns: list[str]
    rows: list[dict[str, str]]
    tag_ids: list[int]
    created_at: str
    updated_at: str


@dataclass
class PromptRec:
    id: int
    name: str
    description: str | None
    template: str
    llm_model: str
    family_key: str
    version_number: int
    current: bool
    tag_ids: list[int]
    created_at: str
    updated_at: str


@dataclass
class ReviewRec:
    id: int
    response_id: int
    metric_id: int | None
    metric_version_id: int | None
    metric_name: str
    score: Decimal | None
    passed: bool | None
    feedback: str | None
    status: str  # final status once judge_at is reached: succeeded | failed
    error: JsonDict | None
    attempts: int
    judge_at: float
    pending_status: str = "pending"  # shown before judge_at: pending | retrying
    regraded: bool = False  # a regrade's review: no metric version until it is judged


@dataclass
class ResponseRec:
    id: int
    run_id: int
    row_index: int
    row: dict[str, str]
    input_data: str | None
    expected_output: str | None
    created_at: str
    status: str  # final status once gen_at is reached: succeeded | failed
    response_text: str | None
    error: JsonDict | None
    attempts: int
    landed_at: float
    gen_at: float
    pending_status: str = "pending"
    reviews: list[ReviewRec] = field(default_factory=list)


@dataclass
class RunRec:
    id: int
    name: str
    status: str
    prompt_id: int | None
    dataset_id: int | None
    judge_model: str | None
    temperature: float | None
    output_column: str | None
    expected_column: str | None
    max_tokens: int | None
    judge_temperature: float | None
    metric_ids: list[int]
    tag_ids: list[int]
    created_at: str
    updated_at: str
    failure_summary: str | None = None
    error_message: str | None = None
    ends_at: float | None = None
    responses: list[ResponseRec] = field(default_factory=list)
