"""The verdict: pure functions from a comparison to per-row and per-metric results. No I/O.

Rules (the vendor's curl+jq gate, generalised):
* a row regresses when any LLM-judge metric's delta is strictly below the row tolerance, or any check
  metric went from pass to fail (`result_change == "broke"`);
* an LLM-judge metric regresses when its mean delta over paired rows is strictly below the average
  tolerance (checks regress only through `broke`);
* baseline cases the candidate lacks are `missing` and paired cases the candidate did not score are
  `unscored`: both are reported, neither fails the gate;
* a comparison with no paired score at all measured nothing, and is an error, never a pass; so is
  a metric the candidate was asked to score that more than `max_unscored` of the paired rows lack;
* deltas are computed from the two scores; a compare answer that contradicts itself (a delta the
  scores do not give, a baseline response listed twice, responses of neither run, a metric's kind)
  is refused, never silently fixed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from ckaction.errors import NothingMeasured, UntrustedComparison
from ckaction.models import CompareRow, Comparison, MetricCompare, ResponseFacts
from ckaction.signoff import SignOffs
from ckaction.stats import Interval, mean_interval, underpowered
from ckaction.wording import counted

RowStatus = Literal[
    "regressed",
    "confirmed",
    "flaky",
    "unassessable",
    "signed_off",
    "improved",
    "unchanged",
    "missing",
    "unscored",
]
FAILING_ROW: frozenset[str] = frozenset({"regressed", "confirmed", "unassessable"})
"""Row statuses that fail the gate: a regression, one confirmed by reruns (`confirm-runs`), and
one whose confirm runs failed (its original verdict kept). A `flaky` row does not fail it."""
AvgGate = Literal["band", "significant"]
Result = Literal["passed", "regressed", "error"]
_HIDDEN_COLUMNS = ("expected_output", "actual_output")
Severity = tuple[bool, Decimal]
"""How bad a regression is, for sorting: (has a delta, the delta); see `Cell.severity`."""
NO_REGRESSION: Severity = (True, Decimal(0))
DELTA_ROUNDING = Decimal("0.005")
"""The engine rounds a delta to 2 places: a sent delta within this of the scores' agrees with them."""
UNSHOWABLE_INPUT = "(this row's input is nested too deeply to show)"
ROWS_NAMED = 5
"""How many rows an error about the compare answer names before it says how many more."""


@dataclass(frozen=True)
class Tolerances:
    row: Decimal
    avg: Decimal
    avg_gate: AvgGate = "band"
    # The largest share of paired rows the candidate may leave unscored (failed generation or
    # judging) before the comparison counts as unmeasured rather than passed.
    max_unscored: Decimal = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Cell:
    """One metric on one row."""

    metric_id: int
    metric_name: str
    kind: str
    baseline: Decimal | None
    new: Decimal | None
    baseline_passed: bool | None
    new_passed: bool | None
    delta: Decimal | None
    change: str | None
    regressed: bool
    improved: bool
    rationale: str | None
    baseline_version: int | None
    new_version: int | None
    signed_off: str | None = None

    @property
    def unsigned_regression(self) -> bool:
        return self.regressed and self.signed_off is None

    @property
    def is_check(self) -> bool:
        return self.kind == "check"

    @property
    def severity(self) -> Severity:
        """Sorts worst first: a broken check (a regression without a delta) before any delta,
        then the most negative delta."""
        return (self.delta is not None, self.delta or Decimal(0))


ConfirmStatus = Literal["confirmed", "flaky", "unassessable"]


@dataclass(frozen=True, slots=True)
class MetricRecheck:
    """One regressed LLM-judge metric of a flagged row, as N reruns a side scored it."""

    metric_id: int
    metric_name: str
    runs: int
    baseline_scores: tuple[Decimal, ...]
    candidate_scores: tuple[Decimal, ...]

    @property
    def complete(self) -> bool:
        return len(self.baseline_scores) == self.runs == len(self.candidate_scores)

    @property
    def mean_delta(self) -> Decimal | None:
        """The mean of the candidate's scores minus the mean of the baseline's; None unless each
        side has all N."""
        if not self.complete or not self.runs:
            return None
        total = sum(self.candidate_scores, Decimal(0)) - sum(self.baseline_scores, Decimal(0))
        return total / self.runs


@dataclass(frozen=True, slots=True)
class RowConfirmation:
    status: ConfirmStatus
    metrics: tuple[MetricRecheck, ...]


UNASSESSABLE = RowConfirmation("unassessable", ())
"""A flagged row the confirm could not measure at all: it keeps its verdict."""


@dataclass(frozen=True, slots=True)
class RowResult:
    row_index: int | None
    baseline_response_id: int | None
    candidate_response_id: int | None
    input: str
    status: RowStatus
    cells: tuple[Cell, ...]
    confirmation: RowConfirmation | None = None  # set when confirm-runs re-tested the row
    # What the model said on each run: kept only for a row with a regressed cell (what a reviewer
    # opens first), None when the download did not carry the text.
    baseline_output: str | None = None
    candidate_output: str | None = None

    @property
    def failing(self) -> bool:
        return self.status in FAILING_ROW

    @property
    def has_outputs(self) -> bool:
        return self.baseline_output is not None or self.candidate_output is not None

    @property
    def regressed_cells(self) -> tuple[Cell, ...]:
        return tuple(cell for cell in self.cells if cell.regressed)

    @property
    def severity(self) -> Severity:
        """Its worst regressed cell's `Cell.severity`."""
        return min((cell.severity for cell in self.cells if cell.regressed), default=NO_REGRESSION)


@dataclass(frozen=True, slots=True)
class MetricResult:
    metric_id: int
    name: str
    kind: str
    pairs: int
    baseline_mean: Decimal | None
    new_mean: Decimal | None
    mean_delta: Decimal | None
    tolerance: Decimal | None
    regressed: bool
    rows_regressed: int
    broke: int = 0
    fixed: int = 0
    version_changed: bool = False
    interval: Interval | None = None
    underpowered: bool = False
    signed_off_rows: int = 0
    gated_mean_delta: Decimal | None = None
    avg_signed_off: str | None = None


@dataclass(frozen=True)
class Counts:
    compared: int = 0
    regressed: int = 0
    improved: int = 0
    unchanged: int = 0
    missing: int = 0
    unscored: int = 0
    new_cases: int = 0
    signed_off: int = 0
    flaky: int = 0


@dataclass(frozen=True)
class Evaluation:
    result: Result
    reasons: tuple[str, ...]
    rows: tuple[RowResult, ...]
    metrics: tuple[MetricResult, ...]
    counts: Counts

    @property
    def version_drift(self) -> tuple[str, ...]:
        """Metrics whose rubric version differs between the two runs, by name."""
        return tuple(sorted({m.name for m in self.metrics if m.version_changed}))

    @property
    def regressed_rows(self) -> list[RowResult]:
        """Rows that fail the gate (regressed, confirmed or unassessable), worst delta first."""
        rows = [row for row in self.rows if row.failing]
        return sorted(rows, key=lambda row: (row.severity, row.row_index or 0))


def display_input(input_data: str | None) -> str:
    """A row's input as a reader wants it: the CSV columns the prompt sees, answer keys left out."""
    if not input_data:
        return ""
    try:
        data = json.loads(input_data)
    except (json.JSONDecodeError, TypeError):
        return input_data
    except RecursionError:
        return UNSHOWABLE_INPUT
    if not isinstance(data, dict):
        return str(data)
    shown = {key: value for key, value in data.items() if key not in _HIDDEN_COLUMNS} or data
    if len(shown) == 1:
        return str(next(iter(shown.values())))
    return "; ".join(f"{key}: {value}" for key, value in shown.items())


def _delta(entry: MetricCompare) -> Decimal | None:
    """The delta the two scores give (candidate minus baseline); the engine's own is only checked."""
    if entry.left_score is not None and entry.right_score is not None:
        return entry.right_score - entry.left_score
    return None


def _named(rows: list[str]) -> str:
    shown = ", ".join(rows[:ROWS_NAMED])
    more = len(rows) - ROWS_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def comparison_problems(
    comparison: Comparison,
    *,
    baseline_responses: Mapping[int, ResponseFacts],
    candidate_responses: Mapping[int, ResponseFacts],
    metric_kinds: Mapping[int, str],
) -> list[str]:
    """Where a compare answer disagrees with itself or with the two runs' responses, naming the
    rows. Rows come only from the baseline, one per response: a baseline response listed twice is
    tampering, a candidate response listed twice is not (a dataset may repeat an input, and the
    engine pairs each baseline row with the first matching candidate row)."""
    found: dict[str, list[str]] = {}

    def note(problem: str, row: CompareRow) -> None:
        found.setdefault(problem, []).append(f"row {row.row_index}")

    seen: set[int] = set()
    for row in comparison.rows:
        left = row.left_response_id
        source = baseline_responses.get(left) if left is not None else None
        if left is not None and left in seen:
            note("a baseline response listed again", row)
        elif source is None:
            note("not a response of the baseline run", row)
        if left is not None:
            seen.add(left)
        if row.right_response_id is not None:
            paired = candidate_responses.get(row.right_response_id)
            if paired is None:
                note("paired with a response that is not the candidate run's", row)
            elif source is not None and paired.input_data != source.input_data:
                note("paired with a candidate response of another input", row)
        for entry in row.per_metric:
            kind = metric_kinds.get(entry.metric_id)
            if kind is not None and entry.kind != kind:
                note(f"metric {entry.metric_id} sent as `{entry.kind}`, it is `{kind}`", row)
            if entry.delta is not None:
                computed = _delta(entry)
                if computed is None or abs(entry.delta - computed) > DELTA_ROUNDING:
                    note(f"a delta the scores do not give (metric {entry.metric_id})", row)
    problems = [f"{problem}: {_named(rows)}" for problem, rows in found.items()]
    if len(comparison.rows) != len(baseline_responses):
        problems.append(
            f"{len(comparison.rows)} rows for the baseline run's {len(baseline_responses)} responses"
        )
    return problems


def _regresses(entry: MetricCompare, tolerances: Tolerances) -> bool:
    """A check that broke, or a score that fell below the row tolerance (before sign-offs)."""
    if entry.is_check:
        return entry.result_change == "broke"
    delta = _delta(entry)
    return delta is not None and delta < tolerances.row


@dataclass(frozen=True)
class RegressedResponses:
    """The responses of the rows that regressed (a score below the row tolerance or a broken
    check, before sign-offs), on each side: the rows whose outputs the report shows."""

    baseline: frozenset[int]
    candidate: frozenset[int]

    def __bool__(self) -> bool:
        return bool(self.baseline or self.candidate)


def regressed_responses(comparison: Comparison, tolerances: Tolerances) -> RegressedResponses:
    """Which responses regressed, read from the compare answer alone: known before the responses
    are downloaded, so only those rows' outputs need to be."""
    baseline: set[int] = set()
    candidate: set[int] = set()
    for row in comparison.rows:
        if any(_regresses(entry, tolerances) for entry in row.per_metric):
            if row.left_response_id is not None:
                baseline.add(row.left_response_id)
            if row.right_response_id is not None:
                candidate.add(row.right_response_id)
    return RegressedResponses(frozenset(baseline), frozenset(candidate))


def _cell(
    entry: MetricCompare,
    tolerances: Tolerances,
    rationale: str | None,
    *,
    input_text: str,
    signoffs: SignOffs | None,
) -> Cell:
    delta = None if entry.is_check else _delta(entry)
    regressed = _regresses(entry, tolerances)
    improved = entry.result_change == "fixed" if entry.is_check else delta is not None and delta > 0
    name = entry.metric_name or f"metric {entry.metric_id}"
    signed_off = None
    if regressed and signoffs is not None:
        signed_off = signoffs.covering(input_text, name, delta, entry.is_check)
    return Cell(
        metric_id=entry.metric_id,
        metric_name=name,
        kind=entry.kind,
        baseline=entry.left_score,
        new=entry.right_score,
        baseline_passed=entry.left_passed,
        new_passed=entry.right_passed,
        delta=delta,
        change=entry.result_change,
        regressed=regressed,
        improved=improved,
        rationale=rationale,
        baseline_version=entry.left_metric_version_id,
        new_version=entry.right_metric_version_id,
        signed_off=signed_off,
    )


def _measured(cell: Cell) -> bool:
    return cell.change is not None if cell.is_check else cell.delta is not None


def evaluate_row(
    row: CompareRow,
    tolerances: Tolerances,
    *,
    input_text: str,
    rationales: Mapping[int, str | None],
    signoffs: SignOffs | None = None,
) -> RowResult:
    cells = tuple(
        _cell(
            entry,
            tolerances,
            rationales.get(entry.metric_id),
            input_text=input_text,
            signoffs=signoffs,
        )
        for entry in row.per_metric
    )
    status: RowStatus
    if row.right_response_id is None:
        status = "missing"
    elif not any(_measured(cell) for cell in cells):
        status = "unscored"
    elif any(cell.unsigned_regression for cell in cells):
        status = "regressed"
    elif any(cell.regressed for cell in cells):
        status = "signed_off"
    elif any(cell.improved for cell in cells):
        status = "improved"
    else:
        status = "unchanged"
    return RowResult(
        row_index=row.row_index,
        baseline_response_id=row.left_response_id,
        candidate_response_id=row.right_response_id,
        input=input_text,
        status=status,
        cells=cells,
    )


def _mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def summarize_metrics(
    rows: Iterable[RowResult], tolerances: Tolerances, *, label: str | None = None
) -> list[MetricResult]:
    """Per-metric means and verdicts; a sign-off label also accepts an average regression."""
    grouped: dict[int, list[Cell]] = {}
    failing: dict[int, int] = {}  # unsigned regressions per metric on rows that fail the gate
    for row in rows:
        if row.status in ("missing",):
            continue
        for cell in row.cells:
            grouped.setdefault(cell.metric_id, []).append(cell)
            if cell.unsigned_regression and row.status != "flaky":
                failing[cell.metric_id] = failing.get(cell.metric_id, 0) + 1
    results: list[MetricResult] = []
    for metric_id, cells in grouped.items():
        first = cells[0]
        versions_differ = any(
            c.baseline_version is not None
            and c.new_version is not None
            and c.baseline_version != c.new_version
            for c in cells
        )
        rows_regressed = failing.get(metric_id, 0)
        if first.is_check:
            paired = [
                c for c in cells if c.baseline_passed is not None and c.new_passed is not None
            ]
            base_rate = _mean([Decimal(int(bool(c.baseline_passed))) for c in paired])
            new_rate = _mean([Decimal(int(bool(c.new_passed))) for c in paired])
            results.append(
                MetricResult(
                    metric_id=metric_id,
                    name=first.metric_name,
                    kind="check",
                    pairs=len(paired),
                    baseline_mean=base_rate,
                    new_mean=new_rate,
                    mean_delta=None
                    if base_rate is None or new_rate is None
                    else new_rate - base_rate,
                    tolerance=None,
                    regressed=rows_regressed > 0,
                    rows_regressed=rows_regressed,
                    broke=sum(1 for c in cells if c.change == "broke"),
                    fixed=sum(1 for c in cells if c.change == "fixed"),
                    version_changed=versions_differ,
                    signed_off_rows=sum(1 for c in cells if c.regressed and c.signed_off),
                )
            )
            continue
        paired = [c for c in cells if c.delta is not None]
        deltas = [c.delta for c in paired if c.delta is not None]
        mean_delta = _mean(deltas)
        # Signed-off rows are accepted drops: the average gate looks at the rest.
        gated = [c.delta for c in paired if c.delta is not None and c.signed_off is None]
        gated_mean = _mean(gated)
        interval = mean_interval(gated)
        below = gated_mean is not None and gated_mean < tolerances.avg
        if tolerances.avg_gate == "significant":
            regressed = below and interval is not None and interval.high < 0
        else:
            regressed = below
        avg_signed_off = label if regressed and label else None
        if avg_signed_off:
            regressed = False
        results.append(
            MetricResult(
                metric_id=metric_id,
                name=first.metric_name,
                kind=first.kind,
                pairs=len(paired),
                baseline_mean=_mean([c.baseline for c in paired if c.baseline is not None]),
                new_mean=_mean([c.new for c in paired if c.new is not None]),
                mean_delta=mean_delta,
                tolerance=tolerances.avg,
                regressed=regressed,
                rows_regressed=rows_regressed,
                version_changed=versions_differ,
                interval=interval,
                underpowered=underpowered(interval, tolerances.avg),
                signed_off_rows=sum(1 for c in cells if c.regressed and c.signed_off),
                gated_mean_delta=gated_mean,
                avg_signed_off=avg_signed_off,
            )
        )
    return results


def count_new_cases(
    baseline_responses: Iterable[ResponseFacts], candidate_responses: Iterable[ResponseFacts]
) -> int:
    """Cases only the candidate has. Compare pairs rows by exact input and never returns these,
    so they are counted from the two runs' responses."""
    baseline_inputs = {response.input_data for response in baseline_responses}
    return len({r.input_data for r in candidate_responses} - baseline_inputs)


def _lacks_score(cell: Cell, *, on_baseline: bool) -> bool:
    if cell.is_check:
        return (cell.baseline_passed if on_baseline else cell.new_passed) is None
    return (cell.baseline if on_baseline else cell.new) is None


@dataclass(frozen=True)
class Unscored:
    """Which run the unscored cells lack a score on: counts of rows on each side (a row may lack
    one on both), so an error names the run that failed, never the candidate by default."""

    baseline: int
    candidate: int
    baseline_run_id: int
    candidate_run_id: int

    @classmethod
    def of(cls, cells: Iterable[tuple[Cell, ...]], comparison: Comparison) -> Unscored:
        rows = [row for row in cells if not any(_measured(cell) for cell in row)]
        return cls(
            baseline=sum(1 for row in rows if any(_lacks_score(c, on_baseline=True) for c in row)),
            candidate=sum(
                1 for row in rows if any(_lacks_score(c, on_baseline=False) for c in row)
            ),
            baseline_run_id=comparison.left_run_id,
            candidate_run_id=comparison.right_run_id,
        )

    def where(self) -> str:
        """`9 lack a score on candidate run 12 and 1 on baseline run 4`."""
        parts = []
        if self.candidate:
            parts.append(f"{self.candidate} lack a score on candidate run {self.candidate_run_id}")
        if self.baseline:
            lack = "" if parts else "lack a score "
            parts.append(f"{self.baseline} {lack}on baseline run {self.baseline_run_id}")
        return " and ".join(parts)

    def runs_to_open(self) -> str:
        runs = [f"candidate run {self.candidate_run_id}"] if self.candidate else []
        runs += [f"baseline run {self.baseline_run_id}"] if self.baseline else []
        return " and ".join(runs) or "both runs"


def unmeasured_metric(
    metrics: Iterable[MetricResult],
    required_metrics: Collection[int] | None,
    paired: int,
    max_unscored: Decimal,
    *,
    rows: Sequence[RowResult],
    comparison: Comparison,
) -> None:
    """Raises NothingMeasured for the first required metric with no pair at all (every metric
    compared when None), or, among the metrics the candidate was asked to score, the first that
    more than `max_unscored` of the `paired` rows lack a score on either run; the message says
    which run lacks them."""
    pairs = {metric.metric_id: metric.pairs for metric in metrics}
    names = {metric.metric_id: metric.name for metric in metrics}
    paired_rows = [row for row in rows if row.status != "missing"]

    def unscored_on(metric_id: int) -> Unscored:
        cells = ((c,) for row in paired_rows for c in row.cells if c.metric_id == metric_id)
        return Unscored.of(cells, comparison)

    def hint(sides: Unscored) -> str:
        return (
            f"Check the reviews of {sides.runs_to_open()} for this metric (a judge outage, or no "
            "judge model) and re-run the gate; raise max-unscored only if some unjudged rows are "
            "expected."
        )

    for metric_id in pairs if required_metrics is None else required_metrics:
        name = names.get(metric_id, f"metric {metric_id}")
        scored = pairs.get(metric_id, 0)
        if scored == 0:
            sides = unscored_on(metric_id)
            raise NothingMeasured(
                f"{name}: no row has a score on both runs ({sides.where()}), so this metric "
                "was not measured.",
                hint=hint(sides),
            )
        unscored = paired - scored
        if required_metrics is not None and Decimal(unscored) > max_unscored * paired:
            sides = unscored_on(metric_id)
            raise NothingMeasured(
                f"{name}: {unscored} of {paired} paired rows ({Decimal(unscored) / paired:.0%}) "
                f"have no score on both runs ({sides.where()}), more than max-unscored "
                f"({max_unscored:.0%}), so this metric was not measured.",
                hint=hint(sides),
            )


def evaluate(
    comparison: Comparison,
    tolerances: Tolerances,
    *,
    baseline_responses: Mapping[int, ResponseFacts],
    candidate_responses: Mapping[int, ResponseFacts],
    signoffs: SignOffs | None = None,
    required_metrics: Collection[int] | None = None,
    metric_kinds: Mapping[int, str] | None = None,
) -> Evaluation:
    """Judge a comparison. Raises UntrustedComparison when the compare answer disagrees with
    itself or with the runs' responses (`comparison_problems`), and NothingMeasured when no paired
    row carries a score, when too many paired rows went unscored, or when more than
    `max_unscored` of the paired rows lack a score on a required metric (one the candidate run was
    asked to score): a gate never passes on what it did not measure."""
    problems = comparison_problems(
        comparison,
        baseline_responses=baseline_responses,
        candidate_responses=candidate_responses,
        metric_kinds=metric_kinds or {},
    )
    if problems:
        raise UntrustedComparison(
            f"The comparison of run {comparison.right_run_id} with baseline run "
            f"{comparison.left_run_id} does not add up: " + "; ".join(problems) + ".",
            hint="The gate decides only on numbers it can check. A proxy or an incompatible "
            "server may sit at api-url; re-run the gate, and report it if it persists.",
        )
    rows: list[RowResult] = []
    for row in comparison.rows:
        source = baseline_responses.get(row.left_response_id or -1)
        candidate = candidate_responses.get(row.right_response_id or -1)
        if source is None:
            source = candidate
        rationales = candidate.rationales if candidate is not None else {}
        text = display_input(source.input_data) if source else f"row {row.row_index}"
        result = evaluate_row(
            row, tolerances, input_text=text, rationales=rationales, signoffs=signoffs
        )
        if result.regressed_cells:
            before = baseline_responses.get(row.left_response_id or -1)
            result = replace(
                result,
                baseline_output=before.output if before else None,
                candidate_output=candidate.output if candidate else None,
            )
        rows.append(result)

    label = signoffs.label.describe() if signoffs and signoffs.label else None
    metrics = summarize_metrics(rows, tolerances, label=label)
    counts = count_rows(
        rows, new_cases=count_new_cases(baseline_responses.values(), candidate_responses.values())
    )
    if counts.compared == 0:
        raise NothingMeasured(
            f"No row of run {comparison.right_run_id} could be paired with a scored row of "
            f"baseline run {comparison.left_run_id} ({counts.missing} missing, "
            f"{counts.unscored} unscored).",
            hint="Check that the candidate ran on the baseline's dataset (rows pair by their exact "
            "input) and that its metrics were graded (an LLM judge needs judge-model).",
        )
    paired = counts.compared + counts.unscored
    if counts.unscored and Decimal(counts.unscored) > tolerances.max_unscored * paired:
        sides = Unscored.of((row.cells for row in rows if row.status == "unscored"), comparison)
        raise NothingMeasured(
            f"{counts.unscored} of {paired} paired rows were not scored ({sides.where()}; failed "
            f"to generate or to be judged): more than {tolerances.max_unscored * 100:.0f}%, so the "
            "rows that were compared cannot stand for the dataset.",
            hint=f"Open {sides.runs_to_open()} to see why rows failed, fix or retry it, and re-run "
            "the gate; raise max-unscored only if some failing rows are expected.",
        )
    unmeasured_metric(
        metrics,
        required_metrics,
        paired,
        tolerances.max_unscored,
        rows=rows,
        comparison=comparison,
    )
    return concluded(tuple(rows), tuple(metrics), counts, tolerances)


def count_rows(rows: Iterable[RowResult], *, new_cases: int) -> Counts:
    """How many rows have each status (`regressed` counts every row that fails the gate)."""
    statuses = [row.status for row in rows]
    return Counts(
        compared=sum(1 for s in statuses if s not in ("missing", "unscored")),
        signed_off=statuses.count("signed_off"),
        regressed=sum(1 for s in statuses if s in FAILING_ROW),
        improved=statuses.count("improved"),
        unchanged=statuses.count("unchanged"),
        missing=statuses.count("missing"),
        unscored=statuses.count("unscored"),
        new_cases=new_cases,
        flaky=statuses.count("flaky"),
    )


def concluded(
    rows: tuple[RowResult, ...],
    metrics: tuple[MetricResult, ...],
    counts: Counts,
    tolerances: Tolerances,
) -> Evaluation:
    """The verdict and its reasons from measured rows and metrics."""
    reasons: list[str] = []
    for metric in metrics:
        if metric.kind != "check" and metric.regressed and metric.gated_mean_delta is not None:
            how = (
                " and its whole 95% interval lies below zero"
                if tolerances.avg_gate == "significant"
                else ""
            )
            reasons.append(
                f"{metric.name}: mean delta {metric.gated_mean_delta:+.2f} is below the average "
                f"tolerance {tolerances.avg}{how}"
            )
    if counts.regressed:
        reasons.append(
            f"{counted(counts.regressed, 'row')} regressed (a delta below {tolerances.row} "
            "or a check that broke)"
        )
    return Evaluation(
        result="regressed" if reasons else "passed",
        reasons=tuple(reasons),
        rows=rows,
        metrics=metrics,
        counts=counts,
    )
