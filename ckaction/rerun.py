"""Reruns whose answer may be lost: `POST /runs/:id/rerun` makes a new run with no name the caller
chooses and no idempotency key, so after a lost answer the run it may have made is read back
(the newest run of the same prompt and dataset, created after the request started, whose settings
equal the old run's) before the rerun is sent again. Used by rebaseline and calibrate.

Every rerun made here is retagged at once with its flow's tags (`runtags.retag_rerun`). A lost
rerun that no look found may still land later with the tags it copied from its source
(`ckaction-baseline`, `ckaction-gate`, `ckaction-passed`): once the step's runs are done,
`retag_late_copies` looks for such copies once more and gives them the flow's tags too. One that
lands after the step has ended is not seen."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from ckaction.clock import WallClock
from ckaction.errors import UncertainOutcome
from ckaction.flow import Gate, StepTools
from ckaction.models import Run
from ckaction.runtags import derived_tags, retag_rerun

RERUN_COPIES = ("prompt_id", "dataset_id", "judge_model", "temperature", "output_column")
"""What every engine's rerun copies (`api/v1/runs_controller.rb#rerun` in
homemade-software-inc/completion-kit), with the metrics."""
LATER_COPIES = ("max_tokens", "judge_temperature", "expected_column")
"""What newer engines copy too (`Run#rerun!`, completionkit-api.md §3.2): compared when the copy
carries them, since an older engine leaves them empty."""
CLOCK_SKEW = timedelta(seconds=30)
"""How far the API's clock may run behind the runner's: a copy stamped this much before the
request started still counts as made by it."""
READ_BACK_ATTEMPTS = 3
READ_BACK_PAUSE_SECONDS = 2.0
MAX_RERUN_ATTEMPTS = 3


def is_copy_of(run: Run, old: Run) -> bool:
    """Whether `run` has the settings a rerun of `old` copies."""
    if sorted(run.metric_ids) != sorted(old.metric_ids):
        return False
    if any(getattr(run, key) != getattr(old, key) for key in RERUN_COPIES):
        return False
    return all(
        getattr(run, key) is None or getattr(run, key) == getattr(old, key) for key in LATER_COPIES
    )


def created_at(run: Run) -> datetime | None:
    if not run.created_at:
        return None
    try:
        stamp = datetime.fromisoformat(run.created_at)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else None


@dataclass(frozen=True)
class LostRerun:
    """A rerun of `old` whose answer was lost and whose run no look found (it may land later),
    sent at `since` (clock skew allowed)."""

    old: Run
    since: datetime


class Reruns:
    """Reruns of runs through `client` by the flow tagged `flow_tag`, each read back after a lost
    answer before any resend, and each retagged."""

    def __init__(self, tools: StepTools, *, flow_tag: str, wall_clock: WallClock) -> None:
        self.client = tools.client
        self.flow_tag = flow_tag
        self.log = tools.log
        self.clock = tools.clock
        self.sleep = tools.sleep
        self.deadline = tools.deadline.at
        self.wall_clock = wall_clock
        self.lost: list[LostRerun] = []

    @classmethod
    def of(cls, gate: Gate, flow_tag: str) -> Reruns:
        """Reruns by the flow tagged `flow_tag` with the gate's tools and wall clock."""
        return cls(gate.tools, flow_tag=flow_tag, wall_clock=gate.wall_clock)

    def rerun(self, old: Run, *, taken: Collection[int] = ()) -> Run:
        """A new, started run with `old`'s settings and the flow's tags (`retag_rerun`).
        `taken`: runs that are already someone's (earlier reruns of the same step), never read
        back as this one. Nothing is sent again once the step's deadline has passed."""
        return retag_rerun(self.client, self._rerun(old, taken), self.flow_tag)

    def _rerun(self, old: Run, taken: Collection[int]) -> Run:
        for attempt in range(1, MAX_RERUN_ATTEMPTS + 1):
            started = self.wall_clock()
            try:
                return self.client.rerun(old.id)
            except UncertainOutcome as exc:
                self.log.warning(
                    f"Rerunning run {old.id} may or may not have worked ({exc.message}); looking "
                    "for the run it may have made before sending it again.",
                    title="Uncertain rerun",
                )
                since = started - CLOCK_SKEW
                found = self.read_back(old, since, {old.id, *taken})
                if found is not None:
                    return found
                self.lost.append(LostRerun(old, since))
                if attempt == MAX_RERUN_ATTEMPTS or self.clock() >= self.deadline:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def read_back(self, old: Run, since: datetime, taken: Collection[int]) -> Run | None:
        """The newest copy of `old` created since `since` and not `taken`: now, then twice more
        a moment apart (a rerun may land after its answer was lost), never past the deadline."""
        for attempt in range(READ_BACK_ATTEMPTS):
            if attempt:
                pause = min(READ_BACK_PAUSE_SECONDS, self.deadline - self.clock())
                if pause <= 0:
                    break
                self.sleep(pause)
            found = next((run for run in self.copies(old, since) if run.id not in taken), None)
            if found is not None:
                return found
        return None

    def copies(self, old: Run, since: datetime) -> Iterator[Run]:
        """Copies of `old` (`is_copy_of`) created since `since`, newest first, from one listing of
        its prompt's and dataset's runs."""
        filters = {
            key: value
            for key, value in (("prompt_id", old.prompt_id), ("dataset_id", old.dataset_id))
            if value is not None
        }
        for run in self.client.list_runs(**filters):  # newest first
            stamp = created_at(run)
            if stamp is not None and stamp < since:
                return
            if stamp is not None and is_copy_of(run, old):
                yield run

    def retag_late_copies(self, taken: Collection[int]) -> list[Run]:
        """The reruns this step lost that have landed since no look found them (neither their
        source nor `taken`, this step's own reruns) and still carry the tags they copied: each
        given the flow's tags (`retag_rerun`, which deletes one it cannot retag), said in the log.
        Another job's rerun of the same run, caught in the moment before its own retag, would be
        retagged too (it then replaces the tags with its own)."""
        retagged: list[Run] = []
        for lost in self.lost:
            copied = set(lost.old.tag_names)
            if copied == set(derived_tags(lost.old.tag_names, self.flow_tag)):
                continue  # a copy's tags are the flow's already
            for run in self.copies(lost.old, lost.since):
                mine = {lost.old.id, *taken, *(r.id for r in retagged)}
                if run.id in mine or set(run.tag_names) != copied:
                    continue
                self.log.warning(
                    f"Run {run.id}, a rerun of run {lost.old.id} whose answer was lost, landed "
                    f"late with the tags it copied; it now carries `{self.flow_tag}` instead.",
                    title="Late rerun retagged",
                )
                retagged.append(retag_rerun(self.client, run, self.flow_tag))
        return retagged
