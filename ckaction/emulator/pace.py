"""When the emulator's rows finish: the one progress model its runs, the poll-rule benchmark and
the poll rule's tests share. Pure; no clock, no state.

A run of `duration` seconds over n rows, starting at `start`: row i is generated at
`start + duration * (i + 1) / n / 2` and judged at `start + duration * (i + 1) / n`, a steady pace.
With `jitter` J > 0 each of those times moves by a normal draw with a standard deviation of J row
intervals (J * duration / n), then both lists are sorted again and a row is never judged before it
is generated: rows finish out of step, in bursts and with stragglers, as a real engine's workers
make them. The run ends when its last row is judged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RowTimes:
    start: float  # when the rows land
    generated: tuple[float, ...]
    judged: tuple[float, ...]

    @property
    def ends(self) -> float:
        return max(self.judged, default=self.start)

    def run_json(self, t: float) -> dict[str, Any]:
        """What `GET /runs/:id` shows of such a run at time t, as the emulator serializes it
        (every LLM metric gradable, no row failing): nothing before the rows land, then their
        progress, then `completed`."""
        if t < self.start:
            return {"id": 1, "status": "running", "progress_total": 0}
        n = len(self.judged)
        generated = sum(1 for g in self.generated if t >= g)
        return {
            "id": 1,
            "status": "completed" if t >= self.ends else "running",
            "progress_total": n,
            "progress": {
                "generated": {"done": generated, "total": n, "failed": 0},
                "judged": {
                    "done": sum(1 for j in self.judged if t >= j),
                    "total": generated,
                    "failed": 0,
                },
            },
        }


def row_times(
    count: int,
    duration: float,
    start: float,
    *,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> RowTimes:
    """Generated and judged times, in row order, for `count` rows (see the module docstring)."""
    generated = [start + duration * (i + 1) / count / 2 for i in range(count)]
    judged = [start + duration * (i + 1) / count for i in range(count)]
    if jitter > 0 and count:
        draw = rng or random.Random(0)
        spread = jitter * duration / count

        def moved(times: list[float]) -> list[float]:
            return sorted(max(start, t + draw.gauss(0.0, spread)) for t in times)

        generated = moved(generated)
        judged = sorted(max(g, j) for g, j in zip(generated, moved(judged), strict=True))
    return RowTimes(start, tuple(generated), tuple(judged))
