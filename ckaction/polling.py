"""When to look at a running run again: a pure schedule, driven by the run's own progress.

Before there is progress to go on, polls back off from a second to a cap. Once rows are being
judged, every poll is a measurement: at time t, k of n rows had finished, so (if the run advances at
a steady pace) the run ends at some E with `k/n <= 1 - (E - t)/T < (k+1)/n` for its duration T, and
rows landed no earlier than the gate asked for them. Those constraints bound the finish time to a
window [earliest, latest]. Far from the window the schedule sleeps most of the way to it (sparse
polls); near it, it polls a chain that ends at the window's end (dense polls exactly where the run
can finish), choosing the chain with the shortest expected wait that the budget below allows, and
following it until another row finishes. When the measurements contradict a steady pace, it falls back to a first-to-latest rate
estimate, and when a prediction keeps missing it backs off (a run stuck at 100% must not be
hammered).

All of that runs inside a poll budget: the gate never makes more status polls than the seed's gate
(a poll right after generate, then one every 10 s) would have made by the same time, once a run is
past its first minute. The first minute's polls are free to fall where they help a short run, six
of them (two kept back while there is no progress to go on); after that poll k waits until the
fixed loop's k-th poll. Polls the sweep cannot afford are the price of coarse progress (few rows):
the verdict is then later, never the API load higher. The one exception: a run the progress says
will end inside its first minute is polled uncharged (densely at first, then at most every `cap`
seconds), because if the prediction holds those polls cannot count against a long run.
"""

from __future__ import annotations

import math
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


def expected_wait(polls: list[float], earliest: float, latest: float) -> float:
    """Mean time from the finish to the first poll at or after it, for a finish anywhere in
    [earliest, latest] (uniform), given poll times in order whose last is at or past `latest`."""
    if latest <= earliest:
        return max(0.0, next((t for t in polls if t >= earliest), earliest) - earliest)
    total, covered = 0.0, earliest
    for t in polls:
        upto = min(t, latest)
        if upto > covered:
            total += (upto - covered) * (t - (covered + upto) / 2)
            covered = upto
    return total / (latest - earliest)


@dataclass
class PollSchedule:
    first: float = 1.0
    minimum: float = 0.5
    cap: float = 10.0
    far_cap: float = 30.0
    growth: float = 2.0
    lead: float = 0.9
    settle: float = 0.6  # the most a finished run waits for the poll that sees it, near the end
    slack: float = 0.1  # clock skew allowed between the gate and the server
    tolerance: float = 0.005  # how far from a steady pace (share of the duration) a run may drift
    window_polls: int = 6  # the most polls spent sweeping one predicted window (coarse progress)
    # The poll budget (see the module docstring): `budget_free` polls in the first minute, then
    # poll k no sooner than the k-th poll of a loop that polls, then sleeps `budget_interval`,
    # each poll costing it `budget_overhead` (the seed's curl and jq).
    budget_interval: float = 10.0
    budget_overhead: float = 0.25
    budget_free: int = 6
    blind_reserve: int = 2  # free polls kept back while there is no progress to go on
    end_margin: float = 0.5  # padding on a predicted end before its polls go uncharged
    uncharged_max: int = 6  # uncharged polls as dense as the run needs; then `cap` apart
    _polls: int = 0  # polls charged to the budget
    _uncharged_polls: int = 0
    _samples: list[tuple[float, float]] = field(default_factory=list)
    _observations: list[tuple[float, int, int]] = field(default_factory=list)
    _started: float | None = None
    _attached: bool = False  # rows had finished before the first look: the run began earlier
    _window: tuple[float, float] | None = None  # this poll's window, computed once
    _blind: bool = False  # this poll's delay is a blind back-off
    _blind_delay: float = 0.0
    _misses: int = 0
    _chain: list[float] = field(default_factory=list)  # planned polls still to come near the end
    _chain_done: int = -1  # rows done when that chain was planned

    def next_delay(self, now: float, run: Run) -> float:
        """Seconds to sleep before the next status poll, within the poll budget."""
        if self._started is None:
            self._started = now
        self._observe(now, run)
        self._window = self.window()
        delay = self._wanted_delay(now, run)
        # The budget: poll number `_polls + 1` may not come before `allowed_at`. A run predicted to
        # end before the budget binds (its first minute) may be polled sooner, as densely as it
        # needs `uncharged_max` times, then no more often than every `cap` seconds: if the
        # prediction holds, those polls cannot count against a long run; if it fails, they are
        # not charged, so the schedule goes on as if they had not happened (they are the only way
        # the gate can poll more than the seed's loop, and then only by their number).
        free = self.budget_free - (self.blind_reserve if self._blind else 0)
        allowed_at = self._started + self._budget_time(self._polls + 1, free)
        if now + delay < allowed_at:
            if self._uncharged(now):
                self._uncharged_polls += 1
                if self._uncharged_polls > self.uncharged_max:
                    delay = max(delay, self.cap)  # a run that keeps missing its predicted end
                return delay
            delay = allowed_at - now
        self._polls += 1
        return delay

    def _observe(self, now: float, run: Run) -> None:
        """Record what this look at the run shows: its progress share (for the rate estimate) and
        its finished rows (for the window), keeping only what can still tighten either."""
        fraction = progress_fraction(run)
        if fraction is not None and (not self._samples or fraction > self._samples[-1][1]):
            # The rate estimate reads the first sample that moved and the latest.
            moving = [sample for sample in self._samples if sample[1] > 0]
            self._samples = [*moving[:1], (now, fraction)]
        rows = finished_rows(run)
        if now == self._started and rows is not None and rows[0] > 0:
            self._attached = True  # the first look already shows finished rows
        if rows is None:
            return
        obs = self._observations
        # For one count of finished rows only its first look (the tightest upper bound on the end)
        # and its last (the tightest lower bound) constrain the window.
        if len(obs) >= 2 and obs[-1][1:] == obs[-2][1:] == rows:
            obs[-1] = (now, *rows)
        else:
            obs.append((now, *rows))
        if len(obs) > 48:  # a long run: keep its first looks and the recent ones (O(n^2) window)
            del obs[8:-40]

    def _uncharged(self, now: float) -> bool:
        """Whether this poll may go uncharged: the run is predicted to end before the budget
        binds (see `next_delay`)."""
        assert self._started is not None
        predicted = self._predicted_end(now)
        horizon = self._started + self._budget_time(self.budget_free + 1, self.budget_free)
        return predicted is not None and predicted < horizon

    def _predicted_end(self, now: float) -> float | None:
        """The latest the run is expected to finish, padded by `end_margin` of its length: its
        window's end, or else the rate estimate."""
        assert self._started is not None
        if self._window is not None:
            end = self._window[1]
        elif (eta := self.eta(now)) is not None:
            end = now + eta
        else:
            return None
        return end + (end - self._started) * self.end_margin

    def _budget_time(self, poll: int, free: int) -> float:
        """Seconds after the start from which poll number `poll` (1-based) is within budget: at
        once for the first `free`, then when the fixed loop makes its poll of that number."""
        if poll <= free:
            return 0.0
        return (poll - 1) * self.budget_interval + poll * self.budget_overhead

    def _affordable(self, until: float) -> int:
        """How many more polls the budget allows from now up to the time `until`."""
        assert self._started is not None
        elapsed = until - self._started
        loop = math.floor(
            (elapsed + self.budget_interval) / (self.budget_interval + self.budget_overhead) + 1e-9
        )
        return max(0, max(self.budget_free, loop) - self._polls)

    def _wanted_delay(self, now: float, run: Run) -> float:
        self._blind = False
        rows = finished_rows(run)
        if self._window is not None:
            self._misses = 0
            return self._delay_in_window(now, *self._window)
        self._chain = []
        if rows is not None and rows[1] > 0 and rows[0] >= rows[1]:
            return self._missed()  # every row finished, yet the run is still running
        eta = self.eta(now)
        if eta is None:
            self._blind = True
            self._blind_delay = (
                self.first
                if self._blind_delay == 0
                else min(self.cap, self._blind_delay * self.growth)
            )
            return self._blind_delay
        if eta <= self.minimum:
            return self._missed()
        self._misses = 0
        return max(self.minimum, min(self.cap, eta * self.lead))

    def _missed(self) -> float:
        # Past the predicted end and still not done: back off so a stuck run is not hammered.
        self._misses += 1
        return min(self.cap, self.minimum * (self.growth ** max(0, self._misses - 3)))

    def _delay_in_window(self, now: float, earliest: float, latest: float) -> float:
        assert self._started is not None
        earliest = max(earliest, now)
        affordable = self._affordable(latest)
        if earliest - now > 2 * self.settle and affordable > 2:
            # Far: nothing can finish before `earliest`; sleep there and measure again (when the
            # budget leaves at least two more polls to sweep the window with).
            self._chain = []
            return max(self.minimum, min(self.far_cap, earliest - now))
        done = self._observations[-1][1]
        upcoming = [t for t in self._chain if t > now + 1e-6] if self._chain_done == done else []
        if upcoming:
            # No row finished since the chain was planned: nothing new to plan from; follow it.
            return self._next_in_chain(now, upcoming)
        # Near: a chain of polls that ends at `latest`, `settle` apart, so whenever in the window the
        # run finishes a poll sees it within `settle`. A wide window (few rows, a long run) gets
        # fewer: of the chains of 1 to `window_polls` polls (or as many as keep them `cap` apart,
        # if the budget affords them),
        # each pushed back to where the budget allows it, the one with the shortest expected wait
        # for a finish anywhere in the window. Coarse progress cannot buy sub-second latency
        # without hammering the API.
        width = latest - earliest
        most = max(1, math.ceil(width / self.settle - 1e-9))
        apart = min(math.ceil(width / self.cap - 1e-9), affordable, 4 * self.window_polls)
        wanted = min(most, max(self.window_polls, apart))
        uncharged = self._uncharged(now)
        best: tuple[float, list[float]] | None = None
        for polls in range(1, wanted + 1):
            spacing = width / polls
            targets = [latest + 0.01 - (polls - 1 - i) * spacing for i in range(polls)]
            plan = targets if uncharged else self._budgeted(targets)
            wait = expected_wait(plan, earliest, latest)
            if best is None or wait < best[0] - 1e-9:
                best = (wait, plan)
        assert best is not None
        self._chain_done = done
        if uncharged or affordable > len(best[1]) or width > 2 * (now - self._started):
            # Early on a window is wide because the pace is barely known: with a poll to spare,
            # or a window wider than twice what the run has lasted, measure again before sleeping
            # longer than the run has lasted so far.
            return self._next_in_chain(now, best[1], now - self._started)
        return self._next_in_chain(now, best[1])

    def _next_in_chain(self, now: float, chain: list[float], most: float = math.inf) -> float:
        """Sleep to the chain's next poll, or less (`most`, `far_cap`) to look earlier, in which
        case that poll stays planned."""
        delay = max(self.minimum, min(self.far_cap, most, chain[0] - now))
        self._chain = chain[1:] if now + delay >= chain[0] - 1e-6 else chain
        return delay

    def _budgeted(self, targets: list[float]) -> list[float]:
        """The times the budget lets these polls happen at: each at its target, or later if the
        budget does not allow it yet (and never before the one before it)."""
        assert self._started is not None
        plan: list[float] = []
        for number, target in enumerate(targets, start=self._polls + 1):
            allowed = self._started + self._budget_time(number, self.budget_free)
            plan.append(max(target, allowed, *plan[-1:]))
        return plan

    def window(self) -> tuple[float, float] | None:
        """[earliest, latest] finish time consistent with every observation at a steady pace, or
        None when there is not enough to go on (nothing finished yet) or the pace is not steady.

        For a duration T every bound on the finish time E is linear in T: `E >= a + b*T` (not
        before the last look; rows landed after the gate asked, unless it attached to a run already
        under way; k rows done at t means at least (n-k-1)/n of T remained) and `E <= c + d*T` (k
        rows done at t means the rest take at most (n-k)/n of T). So the durations
        that satisfy them all form one interval, found exactly from each pair of bounds, and the
        window is the lowest lower bound and the highest upper bound over that interval, taken at
        its ends or where two bounds cross.
        """
        obs = self._observations
        if not obs or self._started is None or all(done == 0 for _, done, _ in obs):
            return None
        last_time, last_done, rows = obs[-1]
        if last_done >= rows:
            return None
        start = self._started - self.slack
        tol, slack = self.tolerance, self.slack
        lower = [(last_time, 0.0)] + ([] if self._attached else [(start, 1.0)])
        lower += [(t - slack, 1.0 - k / n - 1.0 / n - tol) for t, k, n in obs]
        upper = [(t + slack, 1.0 - k / n + tol) for t, k, n in obs]
        shortest, longest = 1e-6, math.inf
        for a, b in lower:
            for c, d in upper:  # a + b*T <= c + d*T
                slope, room = b - d, c - a
                if slope > 0:
                    longest = min(longest, room / slope)
                elif slope < 0:
                    shortest = max(shortest, room / slope)
                elif room < 0:
                    return None
        if shortest > longest or math.isinf(longest):
            return None
        candidates = {shortest, longest}
        for bounds in (lower, upper):
            for i, (a, b) in enumerate(bounds):
                for c, d in bounds[i + 1 :]:
                    if b != d and shortest < (cross := (c - a) / (b - d)) < longest:
                        candidates.add(cross)
        earliest = min(max(a + b * t for a, b in lower) for t in candidates)
        latest = max(min(c + d * t for c, d in upper) for t in candidates)
        return earliest, latest

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
