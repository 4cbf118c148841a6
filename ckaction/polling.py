"""When to look at a running run again: a pure schedule, driven by the run's own progress.

Before there is progress to go on, polls back off from half a second to a cap. Once rows are being
judged, every poll is a measurement: at time t, k of n rows had finished, so (if the run advances at
a steady pace) the run ends at some E with `k/n <= 1 - (E - t)/T < (k+1)/n` for its duration T, and
rows landed no earlier than the gate asked for them. Those constraints bound the finish time to a
window [earliest, latest]. Far from the window the schedule sleeps most of the way to it (sparse
polls); near it, it polls `settle` seconds into the window, then at the window's end (dense polls
exactly where the run can finish). When the measurements contradict a steady pace, it falls back to
a first-to-latest rate estimate, and when a prediction keeps missing it backs off (a run stuck at
100% must not be hammered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ckaction.models import Run

_GRID = 160  # candidate durations per pass; two passes (coarse, then around the feasible range)


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


def finished_rows(run: Run) -> tuple[int, int] | None:
    """(rows that reached their last stage, rows) — what decides completion; None while unknown.

    A row is finished when it failed to generate, or when judging ended for it; a run without
    gradable metrics (`judged.total` stays 0) finishes rows as they generate.
    """
    progress = run.progress
    if progress is None or progress.generated.total <= 0:
        return None
    gen, judged = progress.generated, progress.judged
    if judged.total > 0 or judged.done or judged.failed:
        done = judged.done + judged.failed + gen.failed
    else:
        done = gen.done + gen.failed
    return max(0, min(gen.total, done)), gen.total


@dataclass
class PollSchedule:
    first: float = 0.5
    minimum: float = 0.5
    cap: float = 10.0
    far_cap: float = 30.0
    growth: float = 2.0
    lead: float = 0.9
    settle: float = 0.6  # the most a finished run waits for the poll that sees it, near the end
    slack: float = 0.1  # clock skew allowed between the gate and the server
    tolerance: float = 0.005  # how far from a steady pace (share of the duration) a run may drift
    window_polls: int = 6  # the most polls spent sweeping one predicted window (coarse progress)
    _samples: list[tuple[float, float]] = field(default_factory=list)
    _observations: list[tuple[float, int, int]] = field(default_factory=list)
    _started: float | None = None
    _blind_delay: float = 0.0
    _misses: int = 0

    def next_delay(self, now: float, run: Run) -> float:
        """Seconds to sleep before the next status poll, within the poll budget."""
        if self._started is None:
            self._started = now
        return self._wanted_delay(now, run)

    def _wanted_delay(self, now: float, run: Run) -> float:
        fraction = progress_fraction(run)
        if fraction is not None and (not self._samples or fraction > self._samples[-1][1]):
            self._samples.append((now, fraction))
        rows = finished_rows(run)
        if rows is not None:
            self._observations.append((now, rows[0], rows[1]))
        window = self.window()
        if window is not None:
            self._misses = 0
            return self._delay_in_window(now, *window)
        if rows is not None and rows[1] > 0 and rows[0] >= rows[1]:
            return self._missed()  # every row finished, yet the run is still running
        eta = self.eta(now)
        if eta is None:
            self._blind_delay = (
                self.first
                if self._blind_delay == 0
                else min(self.cap, self._blind_delay * self.growth)
            )
            return self._blind_delay
        if eta <= self.minimum:
            return self._missed()
        self._misses = 0
        return max(self.minimum, min(self.far_cap, eta * self.lead))

    def _missed(self) -> float:
        # Past the predicted end and still not done: back off so a stuck run is not hammered.
        self._misses += 1
        return min(self.cap, self.minimum * (self.growth ** max(0, self._misses - 3)))

    def _delay_in_window(self, now: float, earliest: float, latest: float) -> float:
        earliest = max(earliest, now)
        if earliest - now > 2 * self.settle:
            # Far: nothing can finish before `earliest`; sleep there and measure again.
            return max(self.minimum, min(self.far_cap, earliest - now))
        # Near: a chain of polls that ends at `latest`, `settle` apart, so whenever in the window the
        # run finishes a poll sees it within `settle`. A wide window (few rows, a long run) is swept
        # in at most `window_polls` steps instead, never more than `cap` apart: coarse progress
        # cannot buy sub-second latency without hammering the API.
        width = latest - earliest
        spacing = max(self.settle, min(self.cap, width / self.window_polls))
        polls = max(1, math.ceil(width / spacing - 1e-9))
        target = latest + 0.01 - (polls - 1) * spacing
        return max(self.minimum, min(self.far_cap, target - now))

    def window(self) -> tuple[float, float] | None:
        """[earliest, latest] finish time consistent with every observation at a steady pace, or
        None when there is not enough to go on (nothing finished yet) or the pace is not steady."""
        obs = self._observations
        if not obs or self._started is None or all(done == 0 for _, done, _ in obs):
            return None
        last_time, last_done, rows = obs[-1]
        if last_done >= rows:
            return None
        start = self._started - self.slack
        # Rows landed after the gate asked (L >= start) and k rows were done at t: T <= (t - start)/(k/n).
        t_max = min((t - start) * n / k for t, k, n in obs if k > 0)
        if t_max <= 0:
            return None
        coarse = [t_max * math.exp(-12.0 * i / _GRID) for i in range(_GRID + 1)]
        feasible = [t for t in coarse if self._bounds(t, start, last_time) is not None]
        if not feasible:
            return None
        high = min(t_max, max(feasible) * math.exp(12.0 / _GRID))
        low = min(feasible) * math.exp(-12.0 / _GRID)
        fine = [low + (high - low) * i / _GRID for i in range(_GRID + 1)]
        bounds = [b for t in fine if (b := self._bounds(t, start, last_time)) is not None]
        bounds += [b for t in feasible if (b := self._bounds(t, start, last_time)) is not None]
        return min(b[0] for b in bounds), max(b[1] for b in bounds)

    def _bounds(
        self, duration: float, start: float, last_time: float
    ) -> tuple[float, float] | None:
        """The finish times E allowed for a run of this duration, or None if none is."""
        slop = self.tolerance * duration + self.slack
        lo = max(last_time, start + duration)
        hi = math.inf
        for t, done, rows in self._observations:
            share = done / rows
            hi = min(hi, t + (1.0 - share) * duration + slop)
            lo = max(lo, t + (1.0 - share - 1.0 / rows) * duration - slop)
        return (lo, hi) if lo <= hi else None

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
