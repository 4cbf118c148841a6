"""Offline check of ckaction's poll schedule against the emulator's progress model (no HTTP).

    python bench/schedule_sim.py                       # the grid: every row count, summarised
    python bench/schedule_sim.py --rows 10 --durations 3,20,60 --table
    python bench/schedule_sim.py --jitter 0.5          # rows finish off the steady pace

Runs follow the emulator's own progress model (`ckaction.emulator.pace`): rows land `queue` seconds
after generate; response i is generated at landed + D*(i+1)/n/2 and judged at landed + D*(i+1)/n,
and the run completes when its last row is judged. `--jitter J` moves each row's times by a normal
draw of J row intervals (the emulator's `pace_jitter`): a pace that is not steady, as a real
engine's will not be. Each status poll is charged `rtt` seconds.

For every (rows, duration, queue) it runs ckaction's schedule and the seed's fixed 10 s loop and
reports status polls and the delay between completion and the poll that saw it (the schedule's
share of verdict latency). The grid summary counts "over budget": runs of 60 s or longer where
ckaction made more status polls than the seed. This is a tuning aid; the real measurements are
bench/overhead.py's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # an installed or PYTHONPATH copy wins

from ckaction.emulator.pace import RowTimes, row_times
from ckaction.models import Run
from ckaction.polling import PollSchedule

GRID_ROWS = (3, 5, 10, 20, 50, 200)
GRID_QUEUES = (0.0, 0.5, 2.0)


def grid_durations(seed: int = 7) -> list[float]:
    """Fixed lengths (the benchmark's, a few short ones) plus random ones, dense around 60 s."""
    rng = random.Random(seed)
    durations = {1.0, 2.0, 3.0, 4.0, 20.0, 60.0, 65.0}
    durations.update(round(rng.uniform(3, 300), 1) for _ in range(40))
    durations.update(round(rng.uniform(55, 80), 1) for _ in range(20))
    return sorted(durations)


def observe(run: RowTimes, t: float) -> Run:
    """The run as a status poll at time t sees it."""
    return Run.model_validate(run.run_json(t))


def simulate_ckaction(run: RowTimes, rtt: float = 0.005) -> tuple[int, float]:
    """(status polls, seconds from completion to the poll that saw it) for ckaction's schedule."""
    schedule = PollSchedule()
    now = 0.0
    observed = observe(run, now)  # the generate call's 202 body
    for polls in range(10_000):
        if observed.is_terminal:
            return polls, now - run.ends
        now += schedule.next_delay(now, observed)
        now += rtt
        observed = observe(run, now)
    raise RuntimeError("did not finish")


def simulate_seed(run: RowTimes, rtt: float = 0.02) -> tuple[int, float]:
    """The same for the seed's loop: poll right after generate, then `sleep 10` between polls."""
    now = rtt
    for polls in range(1, 1000):
        if observe(run, now).is_terminal:
            return polls, now - run.ends
        now += 10.0 + rtt
    raise RuntimeError("seed loop timed out")


def make_run(rows: int, duration: float, queue: float, jitter: float, seed: int) -> RowTimes:
    rng = random.Random(f"{seed}:{rows}:{duration}:{queue}")
    return row_times(rows, duration, queue, jitter=jitter, rng=rng)


def table(rows_list: list[int], durations: list[float], queue: float, jitter: float) -> None:
    print(
        f"{'rows':>5} {'D s':>6} | {'ck polls':>8} {'ck late s':>9} | {'seed polls':>10} {'seed late s':>11}"
    )
    for n in rows_list:
        for d in durations:
            run = make_run(n, d, queue, jitter, 0)
            cp, cl = simulate_ckaction(run)
            sp, sl = simulate_seed(run)
            print(f"{n:>5} {d:>6g} | {cp:>8} {cl:>9.2f} | {sp:>10} {sl:>11.2f}")


def grid(rows_list: list[int], durations: list[float], jitter: float) -> None:
    print(
        f"{len(durations)} durations from {min(durations):g} to {max(durations):g} s, queues "
        f"{', '.join(f'{q:g}' for q in GRID_QUEUES)} s, jitter {jitter:g}"
    )
    print(
        "| rows | ckaction late: median | p90 | max | seed late: median | max "
        "| runs >= 60 s | over budget (ck polls > seed's) | their polls, ck / seed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in rows_list:
        mine: list[float] = []
        seeds: list[float] = []
        long_runs = over = 0
        long_polls = [0, 0]
        for queue in GRID_QUEUES:
            for d in durations:
                run = make_run(n, d, queue, jitter, 0)
                cp, cl = simulate_ckaction(run)
                sp, sl = simulate_seed(run)
                mine.append(cl)
                seeds.append(sl)
                if run.ends >= 60:
                    long_runs += 1
                    over += cp > sp
                    long_polls[0] += cp
                    long_polls[1] += sp
        mine.sort()
        print(
            f"| {n} | {statistics.median(mine):.2f} s | {mine[int(0.9 * len(mine))]:.2f} s "
            f"| {mine[-1]:.1f} s | {statistics.median(seeds):.2f} s | {max(seeds):.1f} s "
            f"| {long_runs} | {over} | {long_polls[0] / long_polls[1]:.2f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default=",".join(str(n) for n in GRID_ROWS))
    parser.add_argument("--durations", default=None, help="default: the grid's")
    parser.add_argument("--queue", type=float, default=0.0, help="--table only")
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--table", action="store_true", help="one line per run, not the summary")
    args = parser.parse_args()
    rows_list = [int(x) for x in args.rows.split(",")]
    durations = (
        [float(x) for x in args.durations.split(",")] if args.durations else grid_durations()
    )
    if args.table:
        table(rows_list, durations, args.queue, args.jitter)
    else:
        grid(rows_list, durations, args.jitter)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
