"""The emulator's progress model, shared by its runs, the schedule's tests and the benchmark."""

import random

from hypothesis import given
from hypothesis import strategies as st

from ckaction.emulator.pace import row_times


def test_a_steady_pace_spreads_rows_evenly_generating_in_the_first_half():
    times = row_times(4, 8.0, 100.0)
    assert times.generated == (101.0, 102.0, 103.0, 104.0)
    assert times.judged == (102.0, 104.0, 106.0, 108.0)
    assert times.ends == 108.0


@given(
    count=st.integers(1, 200),
    duration=st.floats(0.0, 600.0),
    jitter=st.floats(0.0, 5.0),
    seed=st.integers(0, 10**6),
)
def test_every_row_is_generated_before_it_is_judged_and_never_before_the_start(
    count: int, duration: float, jitter: float, seed: int
):
    times = row_times(count, duration, 10.0, jitter=jitter, rng=random.Random(seed))
    assert len(times.generated) == len(times.judged) == count
    assert list(times.generated) == sorted(times.generated)
    assert list(times.judged) == sorted(times.judged)
    assert all(10.0 <= g <= j for g, j in zip(times.generated, times.judged, strict=True))
    assert times.ends == times.judged[-1]


def test_jitter_moves_rows_off_the_steady_pace_reproducibly():
    steady = row_times(20, 60.0, 0.0)
    jittered = row_times(20, 60.0, 0.0, jitter=1.0, rng=random.Random(3))
    assert jittered != steady
    assert jittered == row_times(20, 60.0, 0.0, jitter=1.0, rng=random.Random(3))
