"""The poll rule and the wait loop on a simulated clock: runs follow the emulator's progress model
(`ckaction.emulator.pace`), looks cost no time, and nothing sleeps."""

import random
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckaction.emulator.pace import RowTimes, row_times
from ckaction.flow import wait_for_runs
from ckaction.models import Run
from ckaction.polling import (
    BURST_LOOKS,
    MAX_DELAY,
    MIN_DELAY,
    REFILL_SECONDS,
    Poll,
    finished_share,
)

MOST_LOOKS_A_MINUTE = 15  # the target in BENCHMARKS.md


def run_at(share: float, *, rows: int = 100, run_id: int = 1, status: str = "running") -> Run:
    done = round(rows * share)
    return Run.model_validate(
        {
            "id": run_id,
            "status": status,
            "progress": {
                "generated": {"done": rows, "total": rows},
                "judged": {"done": done, "total": rows},
            },
        }
    )


BLIND = Run.model_validate({"id": 1, "status": "running", "progress_total": 0})


@dataclass
class Simulation:
    """Runs on a simulated clock, read by one listing per look."""

    runs: list[RowTimes]
    now: float = 0.0
    looks: list[float] = field(default_factory=list)

    def seen(self) -> list[Run]:
        return [
            Run.model_validate({**run.run_json(self.now), "id": number})
            for number, run in enumerate(self.runs, start=1)
        ]

    def read(self) -> list[Run]:
        self.looks.append(self.now)
        return self.seen()

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds

    def wait(self, deadline: float) -> list[Run]:
        return wait_for_runs(
            self.seen(),  # what the generate calls returned
            self.read,
            clock=lambda: self.now,
            sleep=self.sleep,
            deadline=deadline,
            say=lambda _: None,
        )


# The domain the properties claim: any run the emulator's progress model makes, steady or with its
# rows out of step, landing up to 5 s after generate; one to three of them waited on together.
paced_runs = st.builds(
    lambda rows, duration, landing, jitter, seed: row_times(
        rows, duration, landing, jitter=jitter, rng=random.Random(seed)
    ),
    rows=st.integers(1, 500),
    duration=st.floats(1.0, 900.0),
    landing=st.floats(0.0, 5.0),
    jitter=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
)


@settings(max_examples=150, deadline=None)
@given(runs=st.lists(paced_runs, min_size=1, max_size=3), timeout=st.floats(1.0, 1200.0))
def test_runs_are_seen_finished_within_10_s_of_the_last_end_or_the_wait_stops_at_its_deadline(
    runs: list[RowTimes], timeout: float
):
    simulation = Simulation(runs)
    seen = simulation.wait(deadline=timeout)
    last_end = max(run.ends for run in runs)
    if all(run.is_terminal for run in seen):
        assert simulation.now - last_end <= MAX_DELAY
    else:
        assert last_end > timeout
        assert simulation.now == timeout


@settings(max_examples=150, deadline=None)
@given(runs=st.lists(paced_runs, min_size=1, max_size=3))
def test_no_60_s_window_holds_more_than_15_status_polls(runs: list[RowTimes]):
    simulation = Simulation(runs)
    simulation.wait(deadline=max(run.ends for run in runs) + 3600.0)
    looks = simulation.looks
    busiest = max(
        (sum(1 for t in looks if start <= t < start + 60.0) for start in looks), default=0
    )
    assert busiest <= MOST_LOOKS_A_MINUTE


@settings(max_examples=200, deadline=None)
@given(
    looks=st.lists(
        st.lists(st.one_of(st.none(), st.floats(0.0, 1.0)), min_size=1, max_size=3),
        min_size=1,
        max_size=120,
    )
)
def test_whatever_the_progress_shows_delays_stay_in_1_to_10_s_and_no_minute_holds_15_looks(
    looks: list[list[float | None]],
):
    """Any sequence of looks at up to three running runs, each share anything or unknown, in
    any order: a stuck, bursty or backwards run cannot make the rule poll faster."""
    poll, now, times = Poll(), 0.0, []
    for shares in looks:
        runs = [BLIND if share is None else run_at(share) for share in shares]
        runs = [run.model_copy(update={"id": number}) for number, run in enumerate(runs)]
        poll = poll.after(now, runs)
        times.append(now)
        assert MIN_DELAY <= poll.delay <= MAX_DELAY
        now += poll.delay
    busiest = max(sum(1 for t in times if start <= t < start + 60.0) for start in times)
    assert busiest <= MOST_LOOKS_A_MINUTE


def test_the_finished_share_counts_judged_rows_or_generated_ones_without_judging():
    assert finished_share(run_at(0.25)) == 0.25
    unjudged = Run.model_validate(
        {
            "id": 1,
            "status": "running",
            "progress": {
                "generated": {"done": 3, "total": 4, "failed": 0},
                "judged": {"done": 0, "total": 0},
            },
        }
    )
    assert finished_share(unjudged) == 0.75
    assert finished_share(BLIND) is None


def delays(looks: list[tuple[float, list[Run]]]) -> list[float]:
    poll, result = Poll(), []
    for now, runs in looks:
        poll = poll.after(now, runs)
        result.append(poll.delay)
    return result


def test_without_progress_the_delay_grows_by_a_second_a_look_up_to_10_s():
    poll, now, seen = Poll(), 0.0, []
    for _ in range(12):
        poll = poll.after(now, [BLIND])
        seen.append(poll.delay)
        now += poll.delay
    assert seen == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 10.0]


def test_the_next_look_comes_after_half_the_time_left():
    # 10% at 0 s and 30% at 20 s: 1% a second, so 70 s left: capped at 10 s. At 90%, 10 s left.
    assert delays([(0.0, [run_at(0.1)]), (20.0, [run_at(0.3)])])[-1] == MAX_DELAY
    assert delays([(0.0, [run_at(0.1)]), (80.0, [run_at(0.9)])])[-1] == pytest.approx(5.0)
    # 99% done: 1 s left, but never sooner than a second.
    assert delays([(0.0, [run_at(0.1)]), (89.0, [run_at(0.99)])])[-1] == MIN_DELAY


def test_between_advances_the_time_left_counts_down():
    # 1% a second: at 60 s the end is 20 s away (sleep 10 s); unchanged at 70 s, 10 s away.
    looks = [(0.0, [run_at(0.2)]), (60.0, [run_at(0.8)]), (70.0, [run_at(0.8)])]
    assert delays(looks)[1:] == pytest.approx([10.0, 5.0])


def test_a_run_stuck_at_100_percent_is_not_polled_every_second():
    poll = Poll().after(0.0, [run_at(0.2)]).after(10.0, [run_at(0.5)])
    now, stuck = 20.0, []
    for _ in range(12):
        poll = poll.after(now, [run_at(1.0)])
        stuck.append(poll.delay)
        now += poll.delay
    assert stuck == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 10.0]


def test_the_soonest_predicted_end_of_several_runs_sets_the_delay():
    slow, fast = 1, 2
    looks = [
        (0.0, [run_at(0.1, run_id=slow), run_at(0.1, run_id=fast)]),
        (10.0, [run_at(0.2, run_id=slow), run_at(0.9, run_id=fast)]),
    ]
    # The slow run has 80 s left, the fast one 1.25 s: the fast one decides.
    assert delays(looks)[-1] == MIN_DELAY
    finished_fast = [
        looks[0],
        (10.0, [run_at(0.2, run_id=slow), run_at(1.0, run_id=fast, status="completed")]),
    ]
    assert delays(finished_fast)[-1] == MAX_DELAY  # a finished run no longer counts


def test_looks_past_the_burst_are_spaced_by_the_bucket():
    # A run that keeps predicting its end a moment away: a burst of quick looks, then one a refill.
    poll, now, times = Poll(), 0.0, []
    for k in range(1, 30):
        poll = poll.after(now, [run_at(1 - 0.5**k, rows=2**30)])
        times.append(now)
        now += poll.delay
    gaps = [b - a for a, b in pairwise(times)]
    assert gaps[: BURST_LOOKS - 1] == [MIN_DELAY] * (BURST_LOOKS - 1)
    assert gaps[-10:] == pytest.approx([REFILL_SECONDS] * 10)


def test_a_run_attached_to_mid_way_is_seen_finishing():
    # reuse-runs attaches to a run started 150 s earlier: rows finished before the first look.
    simulation = Simulation([row_times(200, 300.0, -150.0)])
    (run,) = simulation.wait(deadline=3600.0)
    assert run.is_terminal
    assert simulation.now - 150.0 <= MIN_DELAY + 0.5


def test_the_wait_reads_all_runs_once_a_look_and_says_each_change_once():
    runs = [row_times(4, 20.0, 0.0), row_times(4, 40.0, 0.0)]
    simulation, said = Simulation(runs), []
    seen = wait_for_runs(
        simulation.seen(),
        simulation.read,
        clock=lambda: simulation.now,
        sleep=simulation.sleep,
        deadline=3600.0,
        say=said.append,
    )
    assert [run.status for run in seen] == ["completed", "completed"]
    assert len(said) == len(set(said))
    assert "run 1: completed, generated 4/4, judged 4/4" in said
    assert len(simulation.looks) == len(set(simulation.looks))  # one read per look
