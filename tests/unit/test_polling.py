from ckaction.models import Run
from ckaction.polling import PollSchedule, progress_fraction


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


def test_fraction_counts_generation_and_judging():
    assert progress_fraction(run_at(0.5)) == 0.5
    assert (
        progress_fraction(Run.model_validate({"id": 1, "status": "running", "progress_total": 0}))
        is None
    )


def test_blind_polls_back_off_to_the_cap():
    schedule = PollSchedule()
    blind = Run.model_validate({"id": 1, "status": "pending"})
    delays = [schedule.next_delay(float(t), blind) for t in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def simulate(duration: float, schedule: PollSchedule) -> tuple[int, float]:
    """Poll a linear run of `duration` seconds; return (polls, latency after completion)."""
    now, polls = 0.0, 0
    while True:
        polls += 1
        if now >= duration:
            return polls, now - duration
        run = run_at(min(1.0, now / duration), total=1000)
        now += schedule.next_delay(now, run)


def test_a_long_run_is_polled_sparsely_and_caught_quickly():
    polls, latency = simulate(60.0, PollSchedule())
    assert polls <= 7  # the seed's 10 s loop polls 7 times in 60 s
    assert latency <= 1.0


def test_a_short_run_is_caught_within_a_second():
    polls, latency = simulate(3.0, PollSchedule())
    assert latency <= 1.0
    assert polls <= 10


def test_a_run_stuck_at_the_end_is_not_hammered():
    schedule = PollSchedule()
    schedule.next_delay(0.0, run_at(0.1))
    schedule.next_delay(1.0, run_at(0.5))
    stuck = run_at(1.0)
    delays = [schedule.next_delay(2.0 + i, stuck) for i in range(10)]
    assert delays[-1] == schedule.cap
    assert sum(1 for d in delays if d <= schedule.minimum) <= 4
