"""Pure: whether a run this job did not start is stuck. The engine can leave a run `running` for
ever (a lost start job; `retry_failures` before 0.28.39), so a gate that reuses or attaches to a
run, or retries its failed rows, watches its progress over its own polling: no rows, or no
movement, for `stale-minutes` means the run is not waited on any longer.

Time is this job's own clock from the moment it first saw the run, so never less than the same span
after the run's `created_at`, whatever the skew between our clock and the server's."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ckaction.models import Run
from ckaction.wording import plural

Signature = tuple[int, ...]


def _signature(run: Run) -> Signature:
    """Everything that moves while a run makes progress."""
    total = run.progress_total or 0
    if run.progress is None:
        return (total,)
    gen, judged = run.progress.generated, run.progress.judged
    return (total, gen.done, gen.failed, judged.done, judged.failed)


@dataclass(frozen=True)
class ProgressWatch:
    """When a run's progress last moved, on this job's clock."""

    stale_seconds: float
    since: float
    last: Signature

    @classmethod
    def start(cls, run: Run, now: float, stale_seconds: float) -> ProgressWatch:
        return cls(stale_seconds, now, _signature(run))

    def seen(self, run: Run, now: float) -> ProgressWatch:
        signature = _signature(run)
        return self if signature == self.last else replace(self, since=now, last=signature)

    def stuck(self, run: Run, now: float) -> str | None:
        """Why `run` is stuck (None: it is not, or it has finished)."""
        if run.is_terminal or now - self.since < self.stale_seconds:
            return None
        minutes = f"{self.stale_seconds / 60:g} {plural(int(self.stale_seconds) // 60, 'minute')}"
        if not run.progress_total:
            return f"Run {run.id} has had no rows for {minutes} (stale-minutes)"
        return f"The progress of run {run.id} has not moved for {minutes} (stale-minutes)"
