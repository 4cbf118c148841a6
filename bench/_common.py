"""Shared by the bench scripts: the repo on sys.path, a seeded emulator that notes when runs end,
and small statistics helpers. Stdlib + ckaction only."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # Appended, not prepended: an installed or BENCH_PYTHONPATH copy of ckaction is found first,
    # and a fresh clone without an install still imports this checkout.
    sys.path.append(str(ROOT))

from ckaction.emulator import Emulator, seed_demo  # noqa: E402
from ckaction.emulator.records import RunRec  # noqa: E402
from ckaction.emulator.seed import DEMO_ROWS  # noqa: E402

TOKEN = "ck-bench-token-not-a-secret"


class TimedEmulator(Emulator):
    """The emulator, plus the clock time at which each started run turns completed (or failed)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ends_at: dict[int, float] = {}

    def _start(self, run: RunRec, now: float, *, instant: bool = False) -> None:
        super()._start(run, now, instant=instant)
        if not instant and run.ends_at is not None:
            self.ends_at[run.id] = run.ends_at


def bench_rows(count: int) -> list[dict[str, str]]:
    """`count` support tickets: the demo's ten, repeated with distinct order numbers."""
    rows = []
    for i in range(count):
        base = DEMO_ROWS[i % len(DEMO_ROWS)]
        order = str(20000 + i)
        rows.append(
            {
                "customer_message": base["customer_message"],
                "order_number": order,
                "expected_output": base["expected_output"].replace(base["order_number"], order),
            }
        )
    return rows


def seeded_emulator(rows: int) -> tuple[TimedEmulator, dict[str, Any]]:
    """The demo seed (prompt v1 live, v2 the candidate, three metrics, a scripted judge) plus a
    `rows`-row dataset with a completed baseline run of v1 on it (the newest green run of v1)."""
    emu = TimedEmulator(token=TOKEN, org="bench")
    ids = seed_demo(emu)
    dataset = emu.add_dataset(f"Support tickets x{rows}", bench_rows(rows))
    baseline = emu.add_completed_run(
        ids.prompt_v1_id,
        dataset["id"],
        ids.metric_ids,
        judge_model=ids.judge_model,
        tag_names=("baseline",),
    )
    return emu, {
        "prompt_id": ids.prompt_v2_id,
        "dataset_id": dataset["id"],
        "metric_ids": ids.metric_ids,
        "baseline_run_id": baseline["id"],
        "judge_model": ids.judge_model,
    }


def ckaction_command() -> list[str]:
    """The installed `ckaction` console script next to this interpreter, else `python -m ckaction`."""
    script = Path(sys.executable).with_name("ckaction")
    if script.exists():
        return [str(script)]
    found = shutil.which("ckaction")
    return [found] if found else [sys.executable, "-m", "ckaction"]


def child_env(**extra: str) -> dict[str, str]:
    """A clean environment for gate subprocesses: no inherited INPUT_/CKACTION_/GITHUB_ variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INPUT_", "CKACTION_", "GITHUB_", "RUNNER_"))
    }
    # BENCH_PYTHONPATH (e.g. a copy of ckaction/ with an older module) shadows this checkout: the way
    # BENCHMARKS.md's before/after numbers were taken without touching the work tree.
    paths = [os.environ.get("BENCH_PYTHONPATH", ""), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    env.update(extra)
    return env


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def peak_in_window(times: Sequence[float], window: float = 60.0) -> int:
    """Most events in any `window`-second span."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ),
        "cpu": model,
        "python": sys.version.split()[0],
        "platform": sys.platform,
    }
