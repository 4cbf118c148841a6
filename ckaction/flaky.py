"""Pure: confirm before failing (`confirm-runs`). Which rows a confirm re-tests, the dataset they
are re-tested on, each row's verdict from its N scores a side, and the evaluation with those
verdicts applied. No I/O (`confirm.py` runs the reruns).

* Only a gate that would fail on row regressions alone is confirmed: an average regression already
  averages the judge's noise, and a broken check is decided by the output, not by a judge's mood,
  so either fails the gate as it is.
* A flagged row is judged, per LLM-judge metric it regressed on, on the mean of its N candidate
  scores minus the mean of its N baseline scores against the row tolerance: still below it on any
  metric, `confirmed`; at or above it on every one, `flaky` (listed, not failing); a score missing
  on either side (a confirm run failed, a row was not judged), `unassessable`: the row keeps its
  original verdict and fails the gate.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from ckaction.decide import (
    ConfirmStatus,
    Evaluation,
    MetricRecheck,
    RowConfirmation,
    RowResult,
    Tolerances,
    concluded,
    count_rows,
    summarize_metrics,
)
from ckaction.wording import counted

SIDES = 2
"""A confirm runs both prompts, the baseline's and the candidate's, N times each."""


@dataclass(frozen=True)
class ConfirmFacts:
    """What a confirm did, for the report: how many rows and runs, what it cost, what it made,
    or why it did not run (`skipped`)."""

    runs: int
    flagged: int
    cost: int
    skipped: str | None = None
    dataset_id: int | None = None
    run_ids: tuple[int, ...] = ()
    problem: str | None = None  # why the rows are unassessable, when the runs failed
    reused: bool = False  # the runs of an earlier confirm of the same measurement: nothing paid

    @property
    def cost_line(self) -> str:
        if self.reused:
            return (
                "Reusing the confirm runs of an earlier job for "
                f"{counted(self.flagged, 'flagged row')} (dataset {self.dataset_id}: "
                f"{counted(self.runs, 'run')} each of the baseline's and the candidate's prompt, on "
                "the same rows, runs and settings), no new evaluation is paid for."
            )
        return (
            f"Confirming {counted(self.flagged, 'flagged row')} before failing: "
            f"{counted(self.runs, 'run')} each of the baseline's and the candidate's prompt, "
            f"{counted(self.cost, 'more row evaluation')} (2 × {self.runs} × {self.flagged})."
        )


Scores = Mapping[int, Sequence[Decimal]]
"""One row's scores on one side of the confirm: by metric id, one per rerun that scored it."""


def cost(rows: int, runs: int) -> int:
    """Row evaluations a confirm pays for: both prompts, N times, on every flagged row."""
    return SIDES * runs * rows


def skip_reason(evaluation: Evaluation) -> str | None:
    """Why an evaluation with flagged rows is not confirmed (None: they are). Only a gate that
    would fail on LLM-judge row regressions alone is."""
    averages = [m.name for m in evaluation.metrics if m.kind != "check" and m.regressed]
    if averages:
        return (
            f"the mean of {', '.join(averages)} regressed too, and a mean already averages the "
            "judge's noise"
        )
    if any(
        cell.is_check and cell.unsigned_regression
        for row in flagged_rows(evaluation)
        for cell in row.cells
    ):
        return "a check broke, and a check is decided by the output, not by the judge"
    return None


def flagged_rows(evaluation: Evaluation) -> tuple[RowResult, ...]:
    """The rows a confirm re-tests: every row that fails the gate, worst first."""
    return tuple(row for row in evaluation.regressed_rows if row.status == "regressed")


def row_of(input_data: str | None) -> dict[str, str] | None:
    """The dataset row a response's `input_data` encodes (the engine writes the CSV row as a JSON
    object: `row.to_json` in `Run#start!`, `app/models/completion_kit/run.rb`); None when it is not
    one (no dataset, or a server that sent something else)."""
    try:
        data = json.loads(input_data) if input_data else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not data:
        return None
    if not all(isinstance(v, str | int | float) or v is None for v in data.values()):
        return None
    return {str(key): "" if value is None else str(value) for key, value in data.items()}


def confirm_csv(rows: Sequence[Mapping[str, str]]) -> str:
    """The `csv_data` of a dataset of these rows, in order. The engine parses it with Ruby's
    `CSV.parse(csv_data, headers: true)` (`CsvProcessor.process_self`,
    `app/services/completion_kit/csv_processor.rb`): the first line is the header, and every field
    is quoted here so that commas, quotes, newlines and empty values come back as they were."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return buffer.getvalue()


def judge_row(
    row: RowResult, baseline: Scores, candidate: Scores, *, runs: int, tolerance: Decimal
) -> RowConfirmation:
    """A flagged row's verdict from its confirm scores (see the module docstring)."""
    rechecks = tuple(
        MetricRecheck(
            metric_id=cell.metric_id,
            metric_name=cell.metric_name,
            runs=runs,
            baseline_scores=tuple(baseline.get(cell.metric_id, ())),
            candidate_scores=tuple(candidate.get(cell.metric_id, ())),
        )
        for cell in row.regressed_cells
        if cell.unsigned_regression and not cell.is_check
    )
    deltas = [recheck.mean_delta for recheck in rechecks]
    status: ConfirmStatus
    if any(delta is not None and delta < tolerance for delta in deltas):
        status = "confirmed"
    elif rechecks and all(delta is not None for delta in deltas):
        status = "flaky"
    else:
        status = "unassessable"
    return RowConfirmation(status, rechecks)


def with_confirmations(
    evaluation: Evaluation,
    confirmations: Mapping[int, RowConfirmation],
    tolerances: Tolerances,
    *,
    label: str | None = None,
) -> Evaluation:
    """The evaluation with each confirmed row's status (keyed by its baseline response id) and
    the counts, metric verdicts, reasons and result that follow; `label` is the sign-off label
    the evaluation was made with."""
    rows = tuple(
        replace(row, status=confirmation.status, confirmation=confirmation)
        if row.baseline_response_id is not None
        and (confirmation := confirmations.get(row.baseline_response_id)) is not None
        else row
        for row in evaluation.rows
    )
    metrics = tuple(summarize_metrics(rows, tolerances, label=label))
    counts = count_rows(rows, new_cases=evaluation.counts.new_cases)
    return concluded(rows, metrics, counts, tolerances)
