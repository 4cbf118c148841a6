"""The poll schedule on a simulated clock: runs follow the emulator's progress model
(`ckaction.emulator.pace`), polls cost no time, and nothing sleeps."""

import math
import random
from itertools import pairwise

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from ckaction.emulator.pace import RowTimes, row_times
from ckaction.models import Run
from ckaction.polling import PollSchedule, expected_wait, progress_fraction


def run_at(fraction: float, total: int = 100, status: str = "running") -> Run:
    done = int(total * fraction)
    return Run.model_validate(
        {
            "id": 1,
            "status": status,
            "progress": {
                "generated": {"done": done, "total": total},
                "judged": {"done": done, "total": done},
            },
        }
    )


BLIND = Run.model_validate({"id": 1, "status": "running", "progress_total": 0})


def seen(run: RowTimes, t: float) -> Run:
    """The run as a status poll at time t sees it."""
    return Run.model_validate(run.run_json(t))


def timeline(rows: int, duration: float, queue: float = 0.0, jitter: float = 0.0) -> RowTimes:
    rng = random.Random(f"{rows}:{duration}:{queue}")
    return row_times(rows, duration, queue, jitter=jitter, rng=rng)


def poll(run: RowTimes, schedule: PollSchedule | None = None) -> list[float]:
    """The times of the gate's status polls (0 = the generate call), up to the one that sees the
    run finished."""
    schedule = schedule or PollSchedule()
    now, look, polls = 0.0, seen(run, 0.0), []
    while not look.is_terminal:
        assert len(polls) < 1000, "the schedule never saw the run finish"
        now += schedule.next_delay(now, look)
        polls.append(now)
        look = seen(run, now)
    return polls


def seed_polls(run: RowTimes, overhead: float) -> int:
    """Status polls the seed's loop makes: one right after generate, then `sleep 10` between polls,
    each loop also paying `overhead` seconds of curl and jq."""
    now, count = overhead, 1
    while not seen(run, now).is_terminal:
        now += 10.0 + overhead
        count += 1
    return count


def test_fraction_counts_generation_and_judging():
    assert progress_fraction(run_at(0.5)) == 0.5
    assert progress_fraction(BLIND) is None


def test_expected_wait_averages_the_wait_over_the_window():
    assert expected_wait([4.0], 0.0, 4.0) == 2.0  # one poll at the end: half the window
    assert expected_wait([2.0, 4.0], 0.0, 4.0) == 1.0  # two: half of each half
    assert expected_wait([1.0, 3.0, 14.0], 0.0, 4.0) == (1 * 0.5 + 2 * 1.0 + 1 * 10.5) / 4
    assert expected_wait([5.0], 2.0, 2.0) == 3.0  # a known end: the wait for the next poll


def test_blind_polls_back_off_then_keep_to_the_seed_loop_with_free_polls_in_reserve():
    schedule = PollSchedule()
    now, polls = 0.0, []
    for _ in range(8):
        now += schedule.next_delay(now, BLIND)
        polls.append(now)
    assert polls[:4] == [1.0, 3.0, 7.0, 15.0]  # back-off: 1 s doubling
    # With nothing to go on, two of the six free polls stay in reserve for when progress shows:
    # the fifth poll on waits for the fixed loop's poll of that number (10 s + 0.25 s a loop).
    assert polls[4:] == [pytest.approx(10.0 * (k - 1) + 0.25 * k) for k in range(5, 9)]


def seed_poll_times(run: RowTimes, overhead: float) -> list[float]:
    """When the seed's loop polls (see `seed_polls`), up to the poll that sees the run finished."""
    times = [overhead]
    while not seen(run, times[-1]).is_terminal:
        times.append(times[-1] + 10.0 + overhead)
    return times


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(1, 400),
    duration=st.floats(20.0, 600.0),
    queue=st.floats(0.0, 40.0),
    overhead=st.floats(0.0, 0.25),
)
@example(rows=50, duration=60.0, queue=0.0, overhead=0.02)  # the benchmark's seed, on its grid
@example(rows=3, duration=65.0, queue=0.0, overhead=0.0)
@example(rows=10, duration=60.0, queue=0.0, overhead=0.0)
@example(rows=3, duration=61.3, queue=0.0, overhead=0.2)  # a slow seed's 7th poll at 61.4 sees it
@example(rows=1, duration=61.6, queue=0.0, overhead=0.25)  # the slowest seed allowed
@example(rows=50, duration=21.0, queue=40.0, overhead=0.0)  # rows land late
def test_past_its_first_minute_a_run_never_has_more_polls_than_the_seed_had(
    rows: int, duration: float, queue: float, overhead: float
):
    run = timeline(rows, duration, queue)
    assume(run.ends >= 60.0)
    mine, seed = poll(run), seed_poll_times(run, overhead)
    assert len(mine) <= len(seed)
    for t in (t for t in mine if t >= 60.0):  # by every moment, not only at the end
        assert sum(1 for m in mine if m <= t) <= max(6, sum(1 for s in seed if s <= t))


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(50, 2000), duration=st.floats(3.0, 900.0), queue=st.floats(0.0, 3.0))
@example(rows=50, duration=3.0, queue=0.0)
@example(rows=50, duration=20.0, queue=0.0)
@example(rows=50, duration=60.0, queue=0.0)
@example(rows=50, duration=39.8, queue=2.0)  # the end-game chain must plan with the budget
@example(rows=50, duration=3.0, queue=0.9375)  # rows land between the first two looks
def test_a_run_with_fine_progress_is_seen_within_two_seconds_of_finishing(
    rows: int, duration: float, queue: float
):
    run = timeline(rows, duration, queue)
    assert poll(run)[-1] - run.ends <= 2.0


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 2000),
    duration=st.floats(1.0, 900.0),
    queue=st.floats(0.0, 5.0),
    jitter=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_no_minute_holds_more_than_half_the_rate_limit_in_polls(
    rows: int, duration: float, queue: float, jitter: float
):
    polls = poll(timeline(rows, duration, queue, jitter))
    busiest = max((sum(1 for t in polls if s <= t < s + 60.0) for s in polls), default=0)
    assert busiest <= 60  # the engine allows 120 a minute; the gate's other requests need room


def test_a_long_run_is_polled_sparsely_and_caught_quickly():
    run = timeline(1000, 60.0)
    polls = poll(run)
    assert len(polls) <= seed_polls(run, 0.0) == 7
    assert polls[-1] - run.ends <= 1.0


def test_a_short_run_is_caught_within_a_second():
    run = timeline(50, 3.0)
    assert poll(run)[-1] - run.ends <= 1.0


def test_a_run_predicted_to_end_early_is_polled_past_the_free_budget():
    # Four rows over 35 s: the progress shows the run ends inside its first minute, so the polls
    # that sweep its end go uncharged, past the six free ones, and see the end sooner than a
    # schedule that charges every poll (it has to spread its last free ones over the window).
    run = timeline(4, 35.0)
    polls = poll(run)
    strict = poll(run, PollSchedule(end_margin=float("inf")))  # never uncharged
    free = PollSchedule().budget_free
    assert len([t for t in polls if t < 60.0]) > free >= len([t for t in strict if t < 60.0])
    assert polls[-1] - run.ends <= 1.5 < strict[-1] - run.ends


def test_a_planned_chain_is_followed_until_another_row_finishes():
    # Four rows over 35 s: after the third row, nothing new is learnt until the end; the sweep
    # keeps the spacing it planned instead of re-planning ever denser from a shrinking window.
    run = timeline(4, 35.0)
    gaps = [b - a for a, b in pairwise(t for t in poll(run) if t > run.judged[-2])]
    assert len(gaps) >= 3
    assert max(gaps) - min(gaps) < 0.05


def test_a_run_attached_to_mid_way_is_still_seen_finishing():
    # reuse-runs attaches to a run started 150 s earlier: rows landed before the gate's first
    # look, which must not be read as a bound on when the run began.
    run = timeline(200, 300.0, queue=-150.0)
    assert poll(run)[-1] - run.ends <= 2.0


def test_uncharged_polls_are_bounded_when_a_run_misses_every_predicted_end():
    # 1,900 of 2,000 rows in 5 s, then a trickle to 45 s: every look predicts an end inside the
    # first minute, and every prediction fails.
    judged = tuple(
        sorted(
            [5.0 * (i + 1) / 1900 for i in range(1900)] + [5.0 + 0.4 * (i + 1) for i in range(100)]
        )
    )
    run = RowTimes(0.0, tuple(t / 2 for t in judged), judged)
    polls, schedule = poll(run), PollSchedule()
    dense, sparse = schedule.uncharged_max, math.ceil(60.0 / schedule.cap)
    assert len(polls) <= seed_polls(run, 0.0) + dense + sparse
    assert polls[-1] - run.ends <= schedule.cap


def test_a_run_stuck_at_the_end_is_not_hammered():
    schedule = PollSchedule()
    schedule.next_delay(0.0, run_at(0.1))
    schedule.next_delay(1.0, run_at(0.5))
    stuck = run_at(1.0)
    now, delays = 2.0, []
    for _ in range(10):
        delay = schedule.next_delay(now, stuck)
        delays.append(delay)
        now += delay
    assert delays[-1] >= schedule.cap
    assert sum(1 for d in delays if d <= schedule.minimum) <= 4
