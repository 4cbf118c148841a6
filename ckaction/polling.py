"""When to look at running runs again: one rule, pure.

Every look at a run shows what share of its rows has finished. The pace between the first look
that showed finished rows and the latest advance predicts when the run ends. The next look comes
after half the time left to the soonest predicted end, never sooner than 1 s nor later than 10 s:

    delay = clamp(time left / 2, 1 s, 10 s)

so looks grow denser as the end nears, and a finished run is seen at most 10 s after it ends.

While no run has a predicted end still ahead (its rows have not landed, only one look has shown
finished rows, or a run has passed its predicted end without finishing, such as one stuck at
100% `running`), the delay grows by 1 s per look, from 1 s up to 10 s.

Every look also spends a token from a bucket of 7 that refills one every 7.5 s: whatever the
progress shows, no minute holds more than 15 looks, and looks stay at most 10 s apart. Several runs waited on together are read in one request
per look, and the soonest predicted end among them sets the delay. Each look returns a new `Poll`,
whose `delay` is the sleep before the next look.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ckaction.models import Run

MIN_DELAY = 1.0  # seconds; the densest looks, as a run ends
MAX_DELAY = 10.0  # seconds; the longest sleep, so the latest a finished run is seen
BACKOFF_STEP = 1.0  # seconds added to the delay per look that shows nothing new
# The engine allows 120 requests a minute and several gates share it. Each look spends a token
# from a bucket that holds `BURST_LOOKS` and refills one every `REFILL_SECONDS`: no minute holds
# more than 7 + 60 / 7.5 = 15 looks, and a look never waits longer than 7.5 s for a token.
BURST_LOOKS = 7
REFILL_SECONDS = 7.5


def finished_share(run: Run) -> float | None:
    """The share of the run's rows that reached their last stage, 0..1; None before rows land.

    A row is finished when it failed to generate, or when judging ended for it; a run without
    gradable metrics (`judged.total` stays 0) finishes rows as they generate.
    """
    progress = run.progress
    if progress is None or progress.generated.total <= 0:
        return None
    generated, judged = progress.generated, progress.judged
    if judged.total > 0 or judged.done or judged.failed:
        done = judged.done + judged.failed + generated.failed
    else:
        done = generated.done + generated.failed
    return max(0.0, min(1.0, done / generated.total))


@dataclass(frozen=True)
class Sample:
    at: float  # the clock when the run was read
    share: float  # its finished share then


@dataclass(frozen=True)
class Pace:
    """One run's progress: the first look that showed finished rows, and the latest advance."""

    first: Sample
    latest: Sample

    def eta(self) -> float | None:
        """Seconds from the latest advance to the predicted end, at the pace since the first;
        None while there is only one sample to go on."""
        gained = self.latest.share - self.first.share
        if gained <= 0:
            return None
        rate = gained / (self.latest.at - self.first.at)
        return (1.0 - self.latest.share) / rate


@dataclass(frozen=True)
class Poll:
    """The waiting state after a look: the sleep before the next one, and each run's pace."""

    delay: float = 0.0
    backoff: float = 0.0  # the delay when it grew for want of a prediction; 0 after a prediction
    tokens: float = BURST_LOOKS  # looks the bucket allows as of `at`
    at: float | None = None  # when this look was made
    paces: Mapping[int, Pace] = field(default_factory=lambda: MappingProxyType({}))

    def after(self, now: float, runs: Sequence[Run]) -> Poll:
        """The state after looking at `runs` at time `now` (see the module docstring)."""
        paces = dict(self.paces)
        time_left: list[float] = []
        for run in runs:
            share = finished_share(run)
            if run.is_terminal or share is None or share <= 0:
                continue
            pace = paces.get(run.id)
            if pace is None:
                pace = Pace(Sample(now, share), Sample(now, share))
            elif share > pace.latest.share:
                pace = Pace(pace.first, Sample(now, share))
            paces[run.id] = pace
            eta = pace.eta()
            if eta is not None and eta > now - pace.latest.at:
                time_left.append(eta - (now - pace.latest.at))
        refilled = 0.0 if self.at is None else (now - self.at) / REFILL_SECONDS
        tokens = min(BURST_LOOKS, self.tokens + refilled) - 1  # this look spends one
        backoff = 0.0 if time_left else clamp(self.backoff + BACKOFF_STEP)
        wanted = clamp(min(time_left) / 2) if time_left else backoff
        delay = max(wanted, (1 - tokens) * REFILL_SECONDS)
        return Poll(delay, backoff, tokens, now, MappingProxyType(paces))


def clamp(delay: float) -> float:
    return max(MIN_DELAY, min(MAX_DELAY, delay))
