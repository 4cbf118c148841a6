"""Confirm before failing (`confirm-runs`): the I/O. A dataset of just the flagged rows, N runs of
the baseline's prompt and N of the candidate's on it (each with its own run's settings), one wait
for all of them, their scores read back; the verdicts are `flaky.py`'s.

Everything it makes is tagged `ckaction-confirm` and named `ckaction confirm …`, so baseline
resolution skips it and `cleanup` removes it after `keep-days`. The names also say what is measured
(`measurement`: the baseline and candidate runs and N), so a re-run of the job, or a second job on
the commit, reuses an earlier confirm of the same measurement instead of paying for it again
(`Confirmer.earlier`): its dataset holds exactly these rows, and every one of its 2 × N runs has the
name, prompt, metrics and settings it would be made with, and completed. Two jobs that confirm at
the same moment each find none and both pay (the confirm is not worth a claim protocol); a later
job reuses the newest complete one. Whatever goes wrong on the way (a refused write, a failed run,
the step's deadline) leaves the flagged rows `unassessable`: they keep their verdict, and the gate
fails on them as it would have without confirming. Nothing is made once the deadline has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ckaction.decide import UNASSESSABLE, Evaluation, RowConfirmation, RowResult, Tolerances
from ckaction.errors import CkError
from ckaction.flaky import (
    ConfirmFacts,
    confirm_csv,
    cost,
    flagged_rows,
    judge_row,
    row_of,
    skip_reason,
    with_confirmations,
)
from ckaction.flow import StepTools, wait_for_runs
from ckaction.models import Dataset, Run
from ckaction.runtags import CONFIRM_NAME_PREFIX, CONFIRM_TAG

SETTINGS_COPIED = (
    "judge_model",
    "temperature",
    "judge_temperature",
    "max_tokens",
    "expected_column",
)
"""What a confirm run takes from the run it re-tests, besides its prompt and metrics."""
SIDE_NAMES = ("baseline", "candidate")
"""The two sides of a confirm, in the order of its runs: the baseline's prompt, the candidate's."""


class Confirmer:
    """Re-tests a gate's flagged rows N times a side (`runs`, at least 1; see the module
    docstring) with the collaborators it is given; built by `commands.confirmer_for`, used by
    `flow.Gate` and, for the whole step, `filegate.FileGate`."""

    def __init__(self, tools: StepTools, *, runs: int, max_rows: int) -> None:
        self.client = tools.client
        self.runs = runs
        self.max_rows = max_rows
        self.log = tools.log
        self.clock = tools.clock
        self.sleep = tools.sleep
        self.deadline = tools.deadline

    def confirm(
        self,
        evaluation: Evaluation,
        *,
        baseline: Run,
        candidate: Run,
        inputs: Mapping[int, str | None],
        tolerances: Tolerances,
        label: str | None,
        mark: str,
        flagged_in_step: int = 0,
    ) -> tuple[Evaluation, ConfirmFacts | None]:
        """The evaluation with its flagged rows re-tested, and what that did (None when there was
        nothing to confirm). `inputs` are the baseline's `input_data` by response id; `mark` names
        what the confirm makes; `flagged_in_step` counts the flagged rows of every prompt file of
        the step, which `confirm-max-rows` caps together."""
        flagged = flagged_rows(evaluation)
        if not flagged:
            return evaluation, None
        facts = ConfirmFacts(self.runs, len(flagged), cost(len(flagged), self.runs))
        reason = skip_reason(evaluation)
        in_step = max(len(flagged), flagged_in_step)
        if reason is None and in_step > self.max_rows:
            reason = (
                f"{in_step} rows were flagged, more than confirm-max-rows "
                f"({self.max_rows}): that is a real regression, so the gate fails without "
                "confirming"
            )
        if reason is None and self.deadline.passed:
            reason = (
                "the step's timeout-minutes had run out, so no confirm run could be read; the "
                "flagged rows keep their verdict"
            )
        if reason is not None:
            self.log.info(f"Not confirming the flagged rows: {reason}.")
            return evaluation, ConfirmFacts(facts.runs, facts.flagged, 0, skipped=reason)
        with self.log.group("Confirming the flagged rows"):
            confirmations, facts = self._measure(
                flagged, (baseline, candidate), inputs, facts, mark, tolerances.row
            )
            for row in flagged:
                status = confirmations[_key(row)].status
                self.log.info(f"row {row.row_index}: {status}")
        return with_confirmations(evaluation, confirmations, tolerances, label=label), facts

    def _measure(
        self,
        flagged: Sequence[RowResult],
        sources: tuple[Run, Run],
        inputs: Mapping[int, str | None],
        facts: ConfirmFacts,
        mark: str,
        tolerance: Decimal,
    ) -> tuple[dict[int, RowConfirmation], ConfirmFacts]:
        """Each flagged row's verdict; a row whose input cannot be rebuilt, and every row when the
        confirm runs cannot be made or read, is unassessable."""
        verdicts = {_key(row): UNASSESSABLE for row in flagged}
        rebuilt = [(row, row_of(inputs.get(_key(row)))) for row in flagged]
        tested = [(row, data) for row, data in rebuilt if data is not None]
        if not tested:
            return verdicts, replace(facts, problem="no flagged row's input could be rebuilt")
        csv_data = confirm_csv([data for _, data in tested])
        try:
            earlier = self.earlier(sources, csv_data)
            if earlier is not None:
                dataset, finished = earlier
                facts = replace(
                    facts,
                    cost=0,
                    reused=True,
                    dataset_id=dataset.id,
                    run_ids=tuple(run.id for run in finished),
                )
                self.log.info(facts.cost_line)
            else:
                self.log.info(facts.cost_line)
                dataset = self.client.create_dataset(
                    f"{CONFIRM_NAME_PREFIX}{mark} [{measurement(sources, self.runs)}]",
                    csv_data,
                    tag_names=[CONFIRM_TAG],
                )
                facts = replace(facts, dataset_id=dataset.id)
                started = [
                    run
                    for source, side in zip(sources, SIDE_NAMES, strict=True)
                    for run in self._start_runs(source, dataset, side)
                ]
                facts = replace(facts, run_ids=tuple(run.id for run in started))
                finished = self._wait(started, dataset.id)
            incomplete = [
                f"run {run.id} {run.status}" for run in finished if run.status != "completed"
            ]
            if incomplete:
                facts = replace(
                    facts,
                    problem=f"not every confirm run completed ({', '.join(incomplete)})",
                )
            scores = [
                self._scores(finished[: self.runs]),
                self._scores(finished[self.runs :]),
            ]
        except CkError as exc:
            self.log.warning(
                f"The confirm runs could not be completed ({exc.message}); the flagged rows keep "
                "their verdict.",
                title="Confirm failed",
            )
            return verdicts, replace(facts, problem=exc.message)
        for index, (row, _) in enumerate(tested):
            verdicts[_key(row)] = judge_row(
                row,
                scores[0].get(index, {}),
                scores[1].get(index, {}),
                runs=self.runs,
                tolerance=tolerance,
            )
        return verdicts, facts

    def earlier(self, sources: tuple[Run, Run], csv_data: str) -> tuple[Dataset, list[Run]] | None:
        """An earlier confirm of the same measurement, complete, to reuse: its dataset (tagged,
        named for this baseline, candidate and N, holding exactly `csv_data`) and its runs, the
        baseline's N then the candidate's N, each named, made and finished as this confirm's
        would be (`_is_run_of`). None when there is none (the newest complete one wins). The
        engine lists each dataset with its `csv_data` (`Dataset#as_json`,
        `app/models/completion_kit/dataset.rb`; `DatasetsController#index` renders the same), so
        the rows are compared without another request."""
        named = f"[{measurement(sources, self.runs)}]"
        for dataset in self.client.list_datasets(**{"tag[]": CONFIRM_TAG}):
            if (
                CONFIRM_TAG not in dataset.tag_names
                or not dataset.name.startswith(CONFIRM_NAME_PREFIX)
                or not dataset.name.endswith(named)
                or dataset.csv_data != csv_data
            ):
                continue
            listed = {
                run.name: run
                for run in self.client.list_runs(dataset_id=dataset.id, **{"tag[]": CONFIRM_TAG})
                if run.dataset_id == dataset.id and CONFIRM_TAG in run.tag_names
            }
            wanted = [
                (source, run_name(dataset, side, number, self.runs))
                for source, side in zip(sources, SIDE_NAMES, strict=True)
                for number in range(1, self.runs + 1)
            ]
            verified = [
                run
                for source, name in wanted
                if (run := listed.get(name)) is not None
                and run.status == "completed"
                and _is_run_of(run, source)
            ]
            if len(verified) == len(wanted):
                return dataset, verified
        return None

    def _start_runs(self, source: Run, dataset: Dataset, side: str) -> list[Run]:
        """N runs of `source`'s prompt and settings on the confirm dataset, each started."""
        runs = []
        for number in range(1, self.runs + 1):
            body: dict[str, Any] = {
                "name": run_name(dataset, side, number, self.runs),
                "prompt_id": source.prompt_id,
                "dataset_id": dataset.id,
                "metric_ids": list(source.metric_ids),
                "tag_names": [CONFIRM_TAG],
            }
            body.update(_settings(source))
            run = self.client.create_run(body)
            runs.append(self.client.generate(run.id))
        return runs

    def _wait(self, runs: list[Run], dataset_id: int) -> list[Run]:
        """Every confirm run as last seen, finished or at the deadline (one listing of the
        dataset's runs a look); one that failed or did not finish leaves its side's scores
        incomplete."""
        wanted = {run.id for run in runs}

        def read() -> list[Run]:
            found = {
                run.id: run
                for run in self.client.list_runs(dataset_id=dataset_id, **{"tag[]": CONFIRM_TAG})
                if run.id in wanted
            }
            return [found.get(run.id) or self.client.get_run(run.id) for run in runs]

        return wait_for_runs(
            runs,
            read,
            clock=self.clock,
            sleep=self.sleep,
            deadline=self.deadline.at,
            say=self.log.info,
        )

    def _scores(self, runs: Sequence[Run]) -> dict[int, dict[int, list[Decimal]]]:
        """By confirm-dataset row, by metric: one score per run of this side that scored it."""
        scores: dict[int, dict[int, list[Decimal]]] = {}
        for run in runs:
            if run.status != "completed":
                continue
            for response in self.client.responses(run.id):
                if response.row_index is None:
                    continue
                for review in response.reviews:
                    if review.metric_id is None or review.ai_score is None:
                        continue
                    row = scores.setdefault(response.row_index, {})
                    row.setdefault(review.metric_id, []).append(review.ai_score)
        return scores


def measurement(sources: tuple[Run, Run], runs: int) -> str:
    """What a confirm measures, in its dataset's and runs' names: which baseline and candidate runs'
    prompts and settings, and how many runs a side."""
    baseline, candidate = sources
    return f"baseline run {baseline.id}, candidate run {candidate.id}, {runs} a side"


def run_name(dataset: Dataset, side: str, number: int, runs: int) -> str:
    """A confirm run's name: its dataset's, its side (`SIDE_NAMES`) and its number of N."""
    return f"{dataset.name} {side} {number}/{runs}"


def _settings(source: Run) -> dict[str, Any]:
    """The settings a confirm run takes from the run it re-tests (those that run has)."""
    return {key: getattr(source, key) for key in SETTINGS_COPIED if getattr(source, key)}


def _is_run_of(run: Run, source: Run) -> bool:
    """Whether `run` was made as a confirm run of `source`: its prompt, metrics and settings."""
    return (
        run.prompt_id == source.prompt_id
        and sorted(run.metric_ids) == sorted(source.metric_ids)
        and all(getattr(run, key) == value for key, value in _settings(source).items())
    )


def _key(row: RowResult) -> int:
    assert row.baseline_response_id is not None  # flagged rows are the baseline's
    return row.baseline_response_id
