"""Offline check of ckaction's poll schedule against the emulator's progress model (no HTTP).

    python bench/schedule_sim.py            # 10- and 50-row runs of 3 s, 20 s, 60 s, 65 s
    python bench/schedule_sim.py --rows 10 --durations 3,20,60

Mirrors `ckaction.emulator.state`: rows land `queue` seconds after generate; response i is generated
at landed + D*(i+1)/n/2 and judged at landed + D*(i+1)/n; the run completes at landed + D. Each
status poll is charged `rtt` seconds. Prints status polls and the delay between completion and the
poll that saw it (the schedule's share of verdict latency), next to the seed's fixed 10 s loop.
This is a tuning aid; the real measurements are bench/overhead.py's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # an installed or PYTHONPATH copy wins

from ckaction.models import Run
from ckaction.polling import PollSchedule


def observe(t: float, n: int, duration: float, queue: float) -> Run:
    landed = queue
    if t < landed:
        return Run.model_validate({"id": 1, "status": "running", "progress_total": 0})
    gen = sum(1 for i in range(n) if t >= landed + duration * (i + 1) / n / 2)
    judged = sum(1 for i in range(n) if t >= landed + duration * (i + 1) / n)
    status = "completed" if t >= landed + duration else "running"
    return Run.model_validate(
        {
            "id": 1,
            "status": status,
            "progress_total": n,
            "progress": {
                "generated": {"done": gen, "total": n, "failed": 0},
                "judged": {"done": judged, "total": gen, "failed": 0},
            },
        }
    )


def simulate_ckaction(
    n: int, duration: float, queue: float = 0.0, rtt: float = 0.005, start: float = 0.0
) -> tuple[int, float]:
    schedule = PollSchedule()
    now = start
    run = observe(now, n, duration, queue)  # the generate call's 202 body
    for polls in range(10_000):
        if run.is_terminal:
            return polls, now - (queue + duration)
        now += schedule.next_delay(now, run)
        now += rtt
        run = observe(now, n, duration, queue)
    raise RuntimeError("did not finish")


def simulate_seed(
    n: int, duration: float, queue: float = 0.0, rtt: float = 0.02
) -> tuple[int, float]:
    now = rtt
    for polls in range(1, 61):
        if observe(now, n, duration, queue).is_terminal:
            return polls, now - (queue + duration)
        now += 10.0 + rtt
    raise RuntimeError("seed loop timed out")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="10,50")
    parser.add_argument("--durations", default="3,20,60,65")
    parser.add_argument("--queue", type=float, default=0.0)
    args = parser.parse_args()
    print(
        f"{'rows':>5} {'D s':>6} | {'ck polls':>8} {'ck late s':>9} | {'seed polls':>10} {'seed late s':>11}"
    )
    for n in (int(x) for x in args.rows.split(",")):
        for d in (float(x) for x in args.durations.split(",")):
            cp, cl = simulate_ckaction(n, d, args.queue)
            sp, sl = simulate_seed(n, d, args.queue)
            print(f"{n:>5} {d:>6g} | {cp:>8} {cl:>9.2f} | {sp:>10} {sl:>11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
