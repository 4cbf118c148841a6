"""The report: what a command found, as immutable values. `Facts` accumulate as a command learns them
(each step returns a new value), and the `Report` is built once from them and the `Evaluation` (or
the error). Renderer, outputs and the JSON file all read it; delivery adds nothing to it. No I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ckaction import __version__
from ckaction.decide import (
    Cell,
    Counts,
    Evaluation,
    MetricResult,
    Result,
    RowConfirmation,
    RowResult,
    Tolerances,
)
from ckaction.flaky import ConfirmFacts

if TYPE_CHECKING:
    from ckaction.inputs import Settings

JSON_SCHEMA = "ckaction-report/2"
FileResult = Literal["passed", "regressed", "error", "unchanged", "new"]
FILE_RESULT_RANK: Mapping[str, int] = {"error": 2, "regressed": 1}  # the rest count as passed


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


@dataclass(frozen=True)
class Drift:
    """One prompt file checked by `drift`: what differs from its live version (nothing, the model,
    the template, or the prompt is not live at all: `live_id` None)."""

    path: str
    prompt: str
    live_id: int | None
    live_version: int | None
    differs: tuple[str, ...]


@dataclass(frozen=True)
class FileOutcome:
    """One prompt file of a step (`prompt-files`): what the gate or publish did with it.

    `report` is that file's own report (a gate's, with its evaluation; or the error that stopped
    it); `result` adds `unchanged` (the file equals the live prompt: nothing measured, nothing
    paid) and `new` (a prompt that does not exist yet, scored on its own) to a report's three."""

    path: str  # workspace-relative, POSIX
    prompt: str  # what the file's `prompt:` names
    result: FileResult
    report: Report
    candidate_prompt_id: int | None = None

    def entry(self) -> dict[str, Any]:
        """This file's entry in the `results` output."""
        facts = self.report.facts
        return {
            "result": self.result,
            "run-id": facts.candidate.id if facts.candidate else None,
            "baseline-run-id": facts.baseline.id if facts.baseline else None,
            "candidate-prompt-id": self.candidate_prompt_id,
            "regressions": self.report.counts.regressed,
        }


def step_result(files: tuple[FileOutcome, ...]) -> Result:
    """The step's verdict over its files: the worst (`error` > `regressed` > the rest)."""
    worst = max((FILE_RESULT_RANK.get(f.result, 0) for f in files), default=0)
    return ("passed", "regressed", "error")[worst]


@dataclass(frozen=True)
class Facts:
    """What a command learned on its way, so a report (an error part-way included) names it all.

        `outputs` are the step outputs the command produced beyond the gate's (publish's version number,
        calibrate's recommended tolerances...); `done` says what it did, one sentence each; `warnings` what
    it could not do as asked (each also an annotation); a gate's
        `evaluation` is the last thing it learns (an error after it, a stale baseline, keeps it)."""

    command: str = "gate"
    workflow_run_url: str | None = None
    prompt_id: int | None = None
    prompt_label: str | None = None
    baseline_prompt_id: int | None = None
    dataset_id: int | None = None
    judge_model: str | None = None
    baseline: RunRef | None = None
    candidate: RunRef | None = None
    reused_run: bool = False
    avg_score: Decimal | None = None
    not_like_for_like: tuple[str, ...] = ()
    rebaseline_judge: str | None = None  # the candidate's judge, when the baseline's differs
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # worth an annotation: what the step could not do as asked
    signoffs_expired: tuple[str, ...] = ()
    signoffs_rejected: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    outputs: Mapping[str, str] = field(default_factory=dict)
    calibration: Mapping[str, Any] | None = None
    drift: tuple[Drift, ...] = ()
    files: tuple[FileOutcome, ...] = ()
    confirmation: ConfirmFacts | None = None
    evaluation: Evaluation | None = None


def rebaseline_command(facts: Facts) -> str:
    """The command that captures a fresh baseline under today's conditions. After a judge-model
    change that is a run with the new judge: a plain rerun would copy the old one."""
    run = str(facts.baseline.id) if facts.baseline else "<baseline-run-id>"
    judge = f" --judge-model {facts.rebaseline_judge}" if facts.rebaseline_judge else ""
    return f"ckaction rebaseline --baseline-run-id {run}{judge}"


def tolerances_of(settings: Settings | None) -> Tolerances:
    """The one place tolerances are built: from the settings, or their defaults when the inputs
    did not validate (an error report still states what a gate would have applied)."""
    if settings is None:
        from ckaction.inputs import Settings

        fields = Settings.model_fields
        return Tolerances(
            row=fields["row_tolerance"].default,
            avg=fields["avg_tolerance"].default,
            avg_gate=fields["avg_gate"].default,
            max_unscored=fields["max_unscored"].default,
        )
    return Tolerances(
        row=settings.row_tolerance,
        avg=settings.avg_tolerance,
        avg_gate=settings.avg_gate,
        max_unscored=settings.max_unscored,
    )


@dataclass(frozen=True)
class Report:
    """The outcome of one command, built once from its facts and, when it stopped, the error."""

    result: Result
    tolerances: Tolerances
    facts: Facts = field(default_factory=Facts)
    error: ErrorInfo | None = None

    @property
    def command(self) -> str:
        return self.facts.command

    @property
    def evaluation(self) -> Evaluation | None:
        """None when a gate stopped before comparing, and for the other commands."""
        return self.facts.evaluation

    @property
    def rebaseline_command(self) -> str:
        return rebaseline_command(self.facts)

    @property
    def passed(self) -> bool:
        return self.result == "passed"

    @property
    def counts(self) -> Counts:
        return self.evaluation.counts if self.evaluation else Counts()

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.evaluation.reasons if self.evaluation else ()

    @property
    def signoffs_used(self) -> tuple[str, ...]:
        """The sign-offs that accepted a regression (of a row or of a metric's mean)."""
        evaluation = self.evaluation
        if evaluation is None:
            return ()
        used = {cell.signed_off for row in evaluation.rows for cell in row.cells if cell.signed_off}
        used |= {m.avg_signed_off for m in evaluation.metrics if m.avg_signed_off}
        return tuple(sorted(used))

    def outputs(self) -> dict[str, str]:
        """The step outputs this report sets (delivery adds `report` and `comment-url`)."""
        facts = self.facts
        outputs = {
            "result": self.result,
            "passed": "true" if self.passed else "false",
            "run-id": str(facts.candidate.id) if facts.candidate else "",
            "baseline-run-id": str(facts.baseline.id) if facts.baseline else "",
            "regressions": str(self.counts.regressed),
            "signed-off": str(self.counts.signed_off),
            "avg-score": "" if facts.avg_score is None else f"{facts.avg_score}",
            "prompt-id": "" if facts.prompt_id is None else str(facts.prompt_id),
        }
        if facts.files:
            outputs.update(self._files_outputs())
        outputs.update(facts.outputs)
        return outputs

    def _files_outputs(self) -> dict[str, str]:
        """With `prompt-files`: `results` keyed by file; totals; the single-run outputs only when
        exactly one file was gated (unchanged files do not count)."""
        files = self.facts.files
        gated = [f for f in files if f.result != "unchanged" and f.report.facts.candidate]
        one = gated[0] if len(gated) == 1 else None
        facts = one.report.facts if one else None
        results = {f.path: f.entry() for f in files}
        return {
            "results": json.dumps(results, ensure_ascii=False, sort_keys=True),
            "regressions": str(sum(f.report.counts.regressed for f in files)),
            "signed-off": str(sum(f.report.counts.signed_off for f in files)),
            "run-id": str(facts.candidate.id) if facts and facts.candidate else "",
            "baseline-run-id": str(facts.baseline.id) if facts and facts.baseline else "",
            "prompt-id": str(one.candidate_prompt_id) if one and one.candidate_prompt_id else "",
            "avg-score": "" if facts is None or facts.avg_score is None else f"{facts.avg_score}",
        }

    def to_dict(
        self, outputs: Mapping[str, str], delivered: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The JSON report: the verdict, with the outputs as written and what delivery did."""
        facts, evaluation = self.facts, self.evaluation
        return {
            "schema": JSON_SCHEMA,
            "ckaction_version": __version__,
            "command": facts.command,
            "result": self.result,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "error": _plain(self.error.__dict__) if self.error else None,
            "candidate_run": _plain(facts.candidate.__dict__) if facts.candidate else None,
            "baseline_run": _plain(facts.baseline.__dict__) if facts.baseline else None,
            "reused_run": facts.reused_run,
            "prompt_id": facts.prompt_id,
            "baseline_prompt_id": facts.baseline_prompt_id,
            "dataset_id": facts.dataset_id,
            "judge_model": facts.judge_model,
            "avg_score": _num(facts.avg_score),
            "tolerances": {
                "row": _num(self.tolerances.row),
                "avg": _num(self.tolerances.avg),
                "avg_gate": self.tolerances.avg_gate,
                "max_unscored": _num(self.tolerances.max_unscored),
            },
            "not_like_for_like": list(facts.not_like_for_like),
            "rebaseline_command": rebaseline_command(facts) if facts.not_like_for_like else None,
            "notes": list(facts.notes),
            "warnings": list(facts.warnings),
            "done": list(facts.done),
            "signoffs": {
                "used": list(self.signoffs_used),
                "expired": list(facts.signoffs_expired),
                "rejected": list(facts.signoffs_rejected),
            },
            "calibration": None if facts.calibration is None else dict(facts.calibration),
            "drift": [_plain({**d.__dict__, "differs": list(d.differs)}) for d in facts.drift],
            "files": [_file(f) for f in facts.files],
            "confirm": _confirm(facts.confirmation),
            "outputs": dict(outputs),
            "delivered": dict(delivered or {}),
            "workflow_run_url": facts.workflow_run_url,
            "counts": dict(self.counts.__dict__),
            "metrics": [_metric(m) for m in evaluation.metrics] if evaluation else [],
            "rows": [_row(r) for r in evaluation.rows] if evaluation else [],
        }

    def to_json(
        self, outputs: Mapping[str, str], delivered: Mapping[str, Any] | None = None
    ) -> str:
        # Compact: indentation forces json's pure-Python encoder, 3x slower on 10,000 rows.
        return json.dumps(
            self.to_dict(outputs, delivered),
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
        )


def _file(outcome: FileOutcome) -> dict[str, Any]:
    """A file's entry in the JSON report: its `results` entry and its own report, whole."""
    return {
        "path": outcome.path,
        "prompt": outcome.prompt,
        **outcome.entry(),
        "report": outcome.report.to_dict(outcome.report.outputs()),
    }


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
        "baseline_output": row.baseline_output,
        "candidate_output": row.candidate_output,
        "metrics": [_cell(c) for c in row.cells],
        "confirm": _row_confirmation(row.confirmation),
    }


def _confirm(facts: ConfirmFacts | None) -> dict[str, Any] | None:
    """What `confirm-runs` did: its cost, what it made, or why it did not run."""
    if facts is None:
        return None
    return {
        "runs": facts.runs,
        "flagged_rows": facts.flagged,
        "cost": facts.cost,
        "skipped": facts.skipped,
        "dataset_id": facts.dataset_id,
        "run_ids": list(facts.run_ids),
        "problem": facts.problem,
        "reused": facts.reused,
    }


def _row_confirmation(confirmation: RowConfirmation | None) -> dict[str, Any] | None:
    if confirmation is None:
        return None
    return {
        "status": confirmation.status,
        "metrics": [
            {
                "metric_id": recheck.metric_id,
                "metric": recheck.metric_name,
                "baseline_scores": [float(score) for score in recheck.baseline_scores],
                "candidate_scores": [float(score) for score in recheck.candidate_scores],
                "mean_delta": _num(recheck.mean_delta),
            }
            for recheck in confirmation.metrics
        ],
    }
