"""When to look at a running run again: a pure schedule, driven by the run's own progress.

Before there is progress to go on, polls back off from half a second to a cap. Once the run reports
progress, the schedule predicts when it will finish from the observed rate, sleeps most of the way
there (sparse polls while far, dense polls around the predicted end), and backs off again when a
prediction keeps missing (a run stuck at 100% must not be hammered).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ckaction.models import Run


def progress_fraction(run: Run) -> float | None:
    """How far a run is, 0..1, from generated and judged counts; None while nothing is known."""
    progress = run.progress
    if progress is None or progress.generated.total <= 0:
        if run.progress_total and run.progress_total > 0 and run.responses_count is not None:
            return min(1.0, run.responses_count / run.progress_total)
        return None
    total = progress.generated.total
    generated = progress.generated.done + progress.generated.failed
    judged = progress.judged.done + progress.judged.failed
    return max(0.0, min(1.0, (generated + judged) / (2 * total)))


@dataclass
class PollSchedule:
    first: float = 0.5
    minimum: float = 0.5
    cap: float = 10.0
    far_cap: float = 30.0
    growth: float = 2.0
    lead: float = 0.9
    _samples: list[tuple[float, float]] = field(default_factory=list)
    _blind_delay: float = 0.0
    _misses: int = 0

    def next_delay(self, now: float, run: Run) -> float:
        fraction = progress_fraction(run)
        if fraction is not None and (not self._samples or fraction > self._samples[-1][1]):
            self._samples.append((now, fraction))
        eta = self.eta(now)
        if eta is None:
            self._blind_delay = (
                self.first
                if self._blind_delay == 0
                else min(self.cap, self._blind_delay * self.growth)
            )
            return self._blind_delay
        if eta <= self.minimum:
            self._misses += 1
            # Past the predicted end and still not done: back off so a stuck run is not hammered.
            return min(self.cap, self.minimum * (self.growth ** max(0, self._misses - 3)))
        self._misses = 0
        return max(self.minimum, min(self.far_cap, eta * self.lead))

    def eta(self, now: float) -> float | None:
        """Seconds until the run is predicted to finish, from the first and latest progress samples."""
        moving = [sample for sample in self._samples if sample[1] > 0]
        if len(moving) < 2:
            return None
        (t0, f0), (t1, f1) = moving[0], moving[-1]
        if t1 <= t0 or f1 <= f0:
            return None
        rate = (f1 - f0) / (t1 - t0)
        return max(0.0, (1.0 - f1) / rate - (now - t1))
