"""`command: calibrate`: measure the judge's noise floor by rerunning the baseline unchanged.

Each rerun is tagged `ckaction-calibrate` in place of the flow tags it copied from the baseline (the
owner's own tags kept: `runtags.derived_tags`), so it never becomes a baseline itself; a rerun whose
tags cannot be replaced is deleted and calibrate stops (`runtags.retag_rerun`); a rerun whose answer
was lost and that lands late is retagged once the reruns are done (`Reruns.retag_late_copies`).

Each rerun scores the same prompt on the same dataset with the same settings, so every delta
against the baseline is noise. From those deltas the command recommends tolerances an unchanged
prompt passes, with a margin, and lists the flaky rows: those whose score moved most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from ckaction.api import CompletionKitClient
from ckaction.decide import display_input
from ckaction.errors import ConfigurationError, RunFailed
from ckaction.flow import Gate
from ckaction.models import Comparison, Run
from ckaction.report import Report, RunRef
from ckaction.rerun import Reruns
from ckaction.runtags import CALIBRATE_TAG
from ckaction.stats import mean_interval
from ckaction.wording import counted

ROW_MARGIN = Decimal("0.5")
AVG_MARGIN = Decimal("0.05")
FLAKY_ROWS_SHOWN = 10
INPUT_FIELDS = ("id", "input_data")
"""All that calibrate reads of the baseline's responses: the flaky rows are named by input."""


@dataclass
class MetricNoise:
    name: str
    row_deltas: list[Decimal] = field(default_factory=list)
    mean_deltas: list[Decimal] = field(default_factory=list)

    @property
    def worst_row_delta(self) -> Decimal:
        return min(self.row_deltas, default=Decimal(0))

    @property
    def worst_mean_delta(self) -> Decimal:
        return min(self.mean_deltas, default=Decimal(0))

    @property
    def standard_error(self) -> float:
        """Standard error of a mean delta between two identical runs, from the row deltas."""
        interval = mean_interval(self.row_deltas)
        return 0.0 if interval is None else interval.standard_error


def _floor(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_FLOOR)


def recommend(noise: dict[int, MetricNoise]) -> tuple[Decimal, Decimal]:
    """(row tolerance, avg tolerance) that every observed identical rerun passes, with margins.

    Row: below the worst row delta seen, by half a point (scores move in whole points).
    Average: below both the worst mean delta seen and 2.5 standard errors of the mean, by 0.05.
    """
    if not noise:
        raise ConfigurationError(
            "No LLM-judge metric was compared, so there is no noise to measure."
        )
    worst_row = min(m.worst_row_delta for m in noise.values())
    row = min(worst_row, Decimal(0)) - ROW_MARGIN
    floors = [
        min(m.worst_mean_delta, Decimal(str(-2.5 * m.standard_error))) for m in noise.values()
    ]
    avg = _floor(min(floors) - AVG_MARGIN, "0.01")
    return _floor(row, "0.1"), avg


def collect(
    comparison: Comparison, noise: dict[int, MetricNoise], moved: dict[int, Decimal]
) -> None:
    per_metric: dict[int, list[Decimal]] = {}
    for row in comparison.rows:
        for entry in row.per_metric:
            if entry.kind == "check" or entry.delta is None:
                continue
            metric = noise.setdefault(
                entry.metric_id, MetricNoise(entry.metric_name or str(entry.metric_id))
            )
            metric.row_deltas.append(entry.delta)
            per_metric.setdefault(entry.metric_id, []).append(entry.delta)
            if row.left_response_id is not None:
                key = row.left_response_id
                moved[key] = max(moved.get(key, Decimal(0)), abs(entry.delta))
    for metric_id, deltas in per_metric.items():
        noise[metric_id].mean_deltas.append(sum(deltas, Decimal(0)) / len(deltas))


def read_runs(client: CompletionKitClient, runs: list[Run]) -> list[Run]:
    """The reruns as they are now, from one listing of their prompt's runs (newest first, so the
    reruns are on its first page); any the listing does not show are read one by one."""
    wanted = {run.id for run in runs}
    found: dict[int, Run] = {}
    prompt_ids = {run.prompt_id for run in runs}
    if len(prompt_ids) == 1 and (prompt_id := prompt_ids.pop()) is not None:
        for listed in client.list_runs(prompt_id=prompt_id):
            if listed.id in wanted:
                found[listed.id] = listed
                if len(found) == len(wanted):
                    break
    return [found.get(run.id) or client.get_run(run.id) for run in runs]


def calibrate(gate: Gate) -> Report:
    settings, client = gate.settings, gate.client
    baseline = gate.chosen_baseline()
    gate.learn(baseline=RunRef(baseline.id, gate.run_url(baseline.id), baseline.name))
    if not baseline.has_scores:
        raise ConfigurationError(f"Run {baseline.id} has no scores to calibrate against.")
    with gate.log.group(
        f"Rerunning baseline run {baseline.id} {counted(settings.calibration_runs, 'time')}"
    ):
        reruns = Reruns.of(gate, CALIBRATE_TAG)
        started: list[Run] = []
        for _ in range(settings.calibration_runs):
            started.append(reruns.rerun(baseline, taken=[run.id for run in started]))
        for run in started:
            gate.log.info(f"Rerun {run.id} started")
    finished = gate.wait_all(started, lambda: read_runs(client, started))
    reruns.retag_late_copies(taken=[run.id for run in started])
    noise: dict[int, MetricNoise] = {}
    moved: dict[int, Decimal] = {}
    rerun_ids: list[int] = []
    for run in finished:
        if run.status == "failed":
            raise RunFailed(
                f"Calibration rerun {run.id} failed: {run.failure_summary or 'no reason given'}"
            )
        rerun_ids.append(run.id)
        collect(client.compare(baseline.id, run.id), noise, moved)
    row_tol, avg_tol = recommend(noise)
    inputs = {
        r.id: display_input(r.input_data) for r in client.responses(baseline.id, INPUT_FIELDS)
    }
    flaky = sorted(((delta, rid) for rid, delta in moved.items() if delta > 0), reverse=True)
    calibration = {
        "reruns": rerun_ids,
        "metrics": [
            {
                "metric": m.name,
                "pairs": len(m.row_deltas),
                "worst_row_delta": float(m.worst_row_delta),
                "rows_moved": sum(1 for d in m.row_deltas if d != 0),
                "mean_deltas": [float(d) for d in m.mean_deltas],
                "standard_error": round(m.standard_error, 4),
            }
            for m in noise.values()
        ],
        "flaky_rows": [
            {"input": inputs.get(rid, f"response {rid}"), "max_abs_delta": float(delta)}
            for delta, rid in flaky[:FLAKY_ROWS_SHOWN]
        ],
        "recommended_row_tolerance": float(row_tol),
        "recommended_avg_tolerance": float(avg_tol),
    }
    done: list[str] = []
    for m in noise.values():
        spread = ", ".join(f"{d:+.3f}" for d in m.mean_deltas)
        done.append(
            f"{m.name}: across {counted(len(m.mean_deltas), 'identical rerun')}, mean deltas {spread}; "
            f"worst row delta {m.worst_row_delta:+.1f}; "
            f"{sum(1 for d in m.row_deltas if d != 0)} of {len(m.row_deltas)} row scores moved."
        )
    if flaky:
        done.append(
            "Flakiest rows (largest move between identical runs): "
            + "; ".join(
                f"{inputs.get(rid, f'response {rid}')[:60]} ({delta:+.0f})"
                for delta, rid in flaky[:FLAKY_ROWS_SHOWN]
            )
        )
    done.append(
        f"Recommended: row-tolerance {row_tol}, avg-tolerance {avg_tol} "
        "(an unchanged prompt passes both, with a margin)."
    )
    gate.log.info(done[-1])
    facts = gate.learn(
        calibration=calibration,
        done=tuple(done),
        outputs={
            "recommended-row-tolerance": str(row_tol),
            "recommended-avg-tolerance": str(avg_tol),
            "baseline-run-id": str(baseline.id),
        },
    )
    return Report(result="passed", tolerances=gate.tolerances, facts=facts)
