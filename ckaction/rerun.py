"""Reruns whose answer may be lost: `POST /runs/:id/rerun` makes a new run with no name the caller
chooses and no idempotency key, so after a lost answer the run it may have made is read back
(the newest run of the same prompt and dataset, created after the request started, whose settings
equal the old run's) before the rerun is sent again. Used by rebaseline and calibrate."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from ckaction.api import CompletionKitClient
from ckaction.clock import Clock, Sleep, WallClock
from ckaction.errors import UncertainOutcome
from ckaction.flow import Gate, Log
from ckaction.models import Run

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


class Reruns:
    """Reruns of runs through `client`, each read back after a lost answer before any resend."""

    def __init__(
        self,
        client: CompletionKitClient,
        *,
        log: Log,
        clock: Clock,
        sleep: Sleep,
        deadline: float,
        wall_clock: WallClock,
    ) -> None:
        self.client = client
        self.log = log
        self.clock = clock
        self.sleep = sleep
        self.deadline = deadline
        self.wall_clock = wall_clock

    @classmethod
    def of(cls, gate: Gate) -> Reruns:
        """Reruns through the gate's client, log, clocks, sleep and deadline."""
        return cls(
            gate.client,
            log=gate.log,
            clock=gate.clock,
            sleep=gate.sleep,
            deadline=gate.deadline,
            wall_clock=gate.wall_clock,
        )

    def rerun(self, old: Run, *, taken: Collection[int] = ()) -> Run:
        """A new, started run with `old`'s settings. `taken`: runs that are already someone's
        (earlier reruns of the same step), never read back as this one. Nothing is sent again
        once the step's deadline has passed."""
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
                found = self.read_back(old, started - CLOCK_SKEW, {old.id, *taken})
                if found is not None:
                    return found
                if attempt == MAX_RERUN_ATTEMPTS or self.clock() >= self.deadline:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def read_back(self, old: Run, since: datetime, taken: Collection[int]) -> Run | None:
        """The newest copy of `old` created since `since` and not `taken`: now, then twice more
        a moment apart (a rerun may land after its answer was lost), never past the deadline."""
        filters = {
            key: value
            for key, value in (("prompt_id", old.prompt_id), ("dataset_id", old.dataset_id))
            if value is not None
        }
        for attempt in range(READ_BACK_ATTEMPTS):
            if attempt:
                pause = min(READ_BACK_PAUSE_SECONDS, self.deadline - self.clock())
                if pause <= 0:
                    break
                self.sleep(pause)
            for run in self.client.list_runs(**filters):  # newest first
                stamp = created_at(run)
                if stamp is not None and stamp < since:
                    break
                if stamp is not None and run.id not in taken and is_copy_of(run, old):
                    return run
        return None
