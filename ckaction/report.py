"""The report: everything one gate found, in one object that the renderer, the outputs and the JSON
file all read. Built by the flow; holds no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ckaction import __version__
from ckaction.decide import Cell, Counts, Evaluation, MetricResult, Result, RowResult, Tolerances


@dataclass(frozen=True)
class ErrorInfo:
    title: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class RunRef:
    id: int
    url: str
    name: str | None = None


@dataclass
class Report:
    """The outcome of one gate. `evaluation` is None when the gate stopped before comparing."""

    result: Result
    tolerances: Tolerances
    candidate: RunRef | None = None
    baseline: RunRef | None = None
    prompt_id: int | None = None
    prompt_label: str | None = None
    baseline_prompt_id: int | None = None
    dataset_id: int | None = None
    judge_model: str | None = None
    evaluation: Evaluation | None = None
    error: ErrorInfo | None = None
    not_like_for_like: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workflow_run_url: str | None = None
    comment_id: str | None = None
    reused_run: bool = False
    avg_score: Decimal | None = None
    command: str = "gate"
    signoffs_used: list[str] = field(default_factory=list)
    signoffs_expired: list[str] = field(default_factory=list)
    signoffs_rejected: list[str] = field(default_factory=list)
    calibration: dict[str, Any] | None = None
    extra_outputs: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.result == "passed"

    @property
    def counts(self) -> Counts:
        return self.evaluation.counts if self.evaluation else Counts()

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.evaluation.reasons if self.evaluation else ()

    def to_dict(self) -> dict[str, Any]:
        evaluation = self.evaluation
        return {
            "schema": "ckaction-report/1",
            "ckaction_version": __version__,
            "command": self.command,
            "result": self.result,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "error": _plain(self.error.__dict__) if self.error else None,
            "candidate_run": _plain(self.candidate.__dict__) if self.candidate else None,
            "baseline_run": _plain(self.baseline.__dict__) if self.baseline else None,
            "reused_run": self.reused_run,
            "prompt_id": self.prompt_id,
            "baseline_prompt_id": self.baseline_prompt_id,
            "dataset_id": self.dataset_id,
            "judge_model": self.judge_model,
            "avg_score": _num(self.avg_score),
            "tolerances": {"row": _num(self.tolerances.row), "avg": _num(self.tolerances.avg)},
            "not_like_for_like": list(self.not_like_for_like),
            "notes": list(self.notes),
            "done": list(self.done),
            "signoffs": {
                "used": list(self.signoffs_used),
                "expired": list(self.signoffs_expired),
                "rejected": list(self.signoffs_rejected),
            },
            "calibration": self.calibration,
            "outputs": dict(self.extra_outputs),
            "workflow_run_url": self.workflow_run_url,
            "counts": dict(self.counts.__dict__),
            "metrics": [_metric(m) for m in evaluation.metrics] if evaluation else [],
            "rows": [_row(r) for r in evaluation.rows] if evaluation else [],
        }

    def to_json(self) -> str:
        # Compact: indentation forces json's pure-Python encoder, 3x slower on 10,000 rows.
        return json.dumps(
            self.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {key: _num(v) if isinstance(v, Decimal) else v for key, v in data.items()}


def _metric(metric: MetricResult) -> dict[str, Any]:
    return {
        "metric_id": metric.metric_id,
        "name": metric.name,
        "kind": metric.kind,
        "pairs": metric.pairs,
        "baseline_mean": _num(metric.baseline_mean),
        "new_mean": _num(metric.new_mean),
        "mean_delta": _num(metric.mean_delta),
        "tolerance": _num(metric.tolerance),
        "regressed": metric.regressed,
        "rows_regressed": metric.rows_regressed,
        "broke": metric.broke,
        "fixed": metric.fixed,
        "version_changed": metric.version_changed,
        "signed_off_rows": metric.signed_off_rows,
        "gated_mean_delta": _num(metric.gated_mean_delta),
        "ci95": None
        if metric.interval is None
        else {"low": metric.interval.low, "high": metric.interval.high, "n": metric.interval.n},
        "underpowered": metric.underpowered,
    }


def _cell(cell: Cell) -> dict[str, Any]:
    return {
        "metric_id": cell.metric_id,
        "metric": cell.metric_name,
        "kind": cell.kind,
        "baseline": _num(cell.baseline),
        "new": _num(cell.new),
        "baseline_passed": cell.baseline_passed,
        "new_passed": cell.new_passed,
        "delta": _num(cell.delta),
        "result_change": cell.change,
        "regressed": cell.regressed,
        "signed_off": cell.signed_off,
        "rationale": cell.rationale,
    }


def _row(row: RowResult) -> dict[str, Any]:
    return {
        "row_index": row.row_index,
        "status": row.status,
        "input": row.input,
        "baseline_response_id": row.baseline_response_id,
        "candidate_response_id": row.candidate_response_id,
        "metrics": [_cell(c) for c in row.cells],
    }
