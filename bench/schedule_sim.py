"""Offline: the gate's wait loop against a 10-second curl loop, on the emulator's progress model.

    python bench/schedule_sim.py                  # the grid, steady and jittered rows
    python bench/schedule_sim.py --rows 3 --durations 10,60,65 --table

Runs follow the emulator's own progress model (`ckaction.emulator.pace`): rows land `queue`
seconds after generate, row i is generated at landed + D*(i+1)/n/2 and judged at landed + D*(i+1)/n,
and the run completes when its last row is judged; `jitter J` moves each row's times by a normal
draw of J row intervals, so rows finish in bursts and with stragglers. The gate's loop
(`ckaction.flow.wait_for_runs`, the code that ships) runs on a simulated clock; each status poll
takes `RTT` seconds. The curl loop polls right after generate, then sleeps 10 s between polls.

For each row count it reports, over every run length, landing delay and jitter: the median and
maximum lateness (completion to the poll that sees it), status polls per run, the most polls in any
60 s window, and the ratio of the gate's polls to the curl loop's. The targets (BENCHMARKS.md):
median lateness <= 1 s at 20 rows and more, never later than 10 s, at most 15 polls in any 60 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # an installed or PYTHONPATH copy wins

from ckaction.emulator.pace import RowTimes, row_times
from ckaction.flow import wait_for_runs
from ckaction.models import Run

GRID_ROWS = (3, 5, 10, 20, 50, 200)
GRID_QUEUES = (0.0, 0.5, 2.0)  # seconds from generate to the rows landing
GRID_JITTERS = (0.0, 0.5, 2.0)  # row intervals of spread; 0 is a steady pace
SHORTEST, LONGEST = 10.0, 600.0  # run lengths, seconds
RANDOM_LENGTHS = 60
RTT = 0.02  # seconds per status poll, both gates
CURL_SLEEP = 10.0
WINDOW = 60.0  # seconds; the span the engine's rate limit counts over


def grid_durations(seed: int = 7) -> list[float]:
    """Round lengths on the curl loop's 10 s grid, and random ones from 10 s to 10 min."""
    rng = random.Random(seed)
    durations = {10.0, 20.0, 60.0, 65.0, 300.0, 600.0}
    durations.update(round(rng.uniform(SHORTEST, LONGEST), 1) for _ in range(RANDOM_LENGTHS))
    return sorted(durations)


@dataclass(frozen=True)
class Polled:
    polls: tuple[float, ...]  # when each status poll returned
    late: float  # seconds from completion to the poll that saw it

    @property
    def busiest_minute(self) -> int:
        return max(sum(1 for t in self.polls if s <= t < s + WINDOW) for s in self.polls)


def look(run: RowTimes, t: float) -> Run:
    """The run as a status poll at time t sees it."""
    return Run.model_validate(run.run_json(t))


def gate_polls(run: RowTimes) -> Polled:
    clock = [0.0]
    polls: list[float] = []

    def read() -> list[Run]:
        clock[0] += RTT
        polls.append(clock[0])
        return [look(run, clock[0])]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    wait_for_runs(
        [look(run, 0.0)],  # the generate call's 202 body
        read,
        clock=lambda: clock[0],
        sleep=sleep,
        deadline=run.ends + 3600.0,
        say=lambda _: None,
    )
    return Polled(tuple(polls), clock[0] - run.ends)


def curl_loop_polls(run: RowTimes) -> Polled:
    polls = [RTT]
    while not look(run, polls[-1]).is_terminal:
        polls.append(polls[-1] + CURL_SLEEP + RTT)
    return Polled(tuple(polls), polls[-1] - run.ends)


def make_run(rows: int, duration: float, queue: float, jitter: float) -> RowTimes:
    rng = random.Random(f"{rows}:{duration}:{queue}:{jitter}")
    return row_times(rows, duration, queue, jitter=jitter, rng=rng)


def table(rows_list: list[int], durations: list[float], queue: float, jitter: float) -> None:
    print("| rows | D s | gate polls | gate late s | busiest 60 s | loop polls | loop late s |")
    print("|---|---|---|---|---|---|---|")
    for n in rows_list:
        for d in durations:
            run = make_run(n, d, queue, jitter)
            gate, loop = gate_polls(run), curl_loop_polls(run)
            print(
                f"| {n} | {d:g} | {len(gate.polls)} | {gate.late:.2f} | {gate.busiest_minute} "
                f"| {len(loop.polls)} | {loop.late:.2f} |"
            )


def grid(rows_list: list[int], durations: list[float], jitters: tuple[float, ...]) -> None:
    print(
        f"{len(durations)} run lengths from {min(durations):g} to {max(durations):g} s, rows "
        f"landing {', '.join(f'{q:g}' for q in GRID_QUEUES)} s after generate, jitter "
        f"{', '.join(f'{j:g}' for j in jitters)}; {RTT:g} s a poll"
    )
    print(
        "| rows | jitter | runs | gate late: median | max | loop late: median | max "
        "| gate polls a run: median | max in any 60 s | gate polls / loop polls |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in rows_list:
        for jitter in jitters:
            gates, loops = [], []
            for queue in GRID_QUEUES:
                for d in durations:
                    run = make_run(n, d, queue, jitter)
                    gates.append(gate_polls(run))
                    loops.append(curl_loop_polls(run))
            late = [g.late for g in gates]
            loop_late = [c.late for c in loops]
            ratio = sum(len(g.polls) for g in gates) / sum(len(c.polls) for c in loops)
            print(
                f"| {n} | {jitter:g} | {len(gates)} | {statistics.median(late):.2f} s "
                f"| {max(late):.2f} s | {statistics.median(loop_late):.2f} s "
                f"| {max(loop_late):.2f} s | {statistics.median(len(g.polls) for g in gates):g} "
                f"| {max(g.busiest_minute for g in gates)} | {ratio:.2f} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default=",".join(str(n) for n in GRID_ROWS))
    parser.add_argument("--durations", default=None, help="default: the grid's")
    parser.add_argument("--queue", type=float, default=0.0, help="--table only")
    parser.add_argument("--jitter", type=float, default=None, help="default: the grid's")
    parser.add_argument("--table", action="store_true", help="one line per run, not the summary")
    args = parser.parse_args()
    rows_list = [int(x) for x in args.rows.split(",")]
    durations = (
        [float(x) for x in args.durations.split(",")] if args.durations else grid_durations()
    )
    jitters = GRID_JITTERS if args.jitter is None else (args.jitter,)
    if args.table:
        table(rows_list, durations, args.queue, jitters[0])
    else:
        grid(rows_list, durations, jitters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
