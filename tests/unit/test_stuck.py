"""The stuck rule (`stuck.ProgressWatch`): no rows, or no movement, for stale-minutes of our own
polling; movement restarts the count; a finished run is never stuck."""

from __future__ import annotations

from ckaction.models import Run
from ckaction.stuck import ProgressWatch

STALE = 600.0


def run(total: int, done: int = 0, status: str = "running") -> Run:
    progress = {"generated": {"done": done, "total": total}, "judged": {"done": 0, "total": total}}
    return Run.model_validate(
        {"id": 7, "status": status, "progress_total": total, "progress": progress}
    )


def test_no_rows_for_stale_minutes_is_stuck():
    watch = ProgressWatch.start(run(0), 0.0, STALE)
    assert watch.stuck(run(0), STALE - 1) is None
    assert watch.stuck(run(0), STALE) == "Run 7 has had no rows for 10 minutes (stale-minutes)"


def test_progress_that_moves_restarts_the_count_and_then_stalls():
    watch = ProgressWatch.start(run(10, 1), 0.0, STALE)
    watch = watch.seen(run(10, 2), 500.0)
    assert watch.stuck(run(10, 2), 900.0) is None
    watch = watch.seen(run(10, 2), 1100.0)
    reason = watch.stuck(run(10, 2), 1100.0)
    assert reason == "The progress of run 7 has not moved for 10 minutes (stale-minutes)"


def test_a_finished_run_is_never_stuck():
    watch = ProgressWatch.start(run(10, 10, "completed"), 0.0, STALE)
    assert watch.stuck(run(10, 10, "completed"), 10 * STALE) is None
