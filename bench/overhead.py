"""Gate overhead: how long after a run completes each gate reports, and how hard it polls.

    python bench/overhead.py            # runs of 3 s, 20 s and 60 s, 3 repetitions (~8 minutes)
    python bench/overhead.py --quick    # 1 repetition, 3 s and 20 s only (~1 minute)
    python bench/overhead.py --durations 25,65 --reps 1 --json out.json
    python bench/overhead.py --rows 3 --durations 60,65      # coarse progress
    python bench/overhead.py --jitter 0.5                    # rows finish out of step

The emulator (seeded, `--rows` rows, its default rate limit of 120 requests a minute) serves real
HTTP on 127.0.0.1 inside this process; each gate runs as a subprocess against it, the two gates
alternating: the seed's curl+jq job (bench/seed_gate.sh, its 10 s poll) and `ckaction gate`.
Verdict latency = the gate process's exit minus the emulator-clock moment the run turned
`completed` (the emulator's clock is this process's time.monotonic). Requests are the emulator's own
log, counted per gate; the peak rate is the most requests in any 60 s span. With `--jitter J` rows
finish off the steady pace (the emulator's `pace_jitter`); both gates of one repetition get the same
pace, each repetition a new one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    TOKEN,
    TimedEmulator,
    child_env,
    ckaction_command,
    machine,
    median,
    peak_in_window,
    seeded_emulator,
)

from ckaction.emulator import serve

HERE = Path(__file__).resolve().parent
GATES = ("seed", "ckaction")


def gate_command(
    gate: str, url: str, ids: dict[str, Any], work: Path
) -> tuple[list[str], dict[str, str]]:
    if gate == "seed":
        env = child_env(
            BASE=url,
            AUTH=f"Authorization: Bearer {TOKEN}",
            PROMPT_ID=str(ids["prompt_id"]),
            DATASET_ID=str(ids["dataset_id"]),
            METRIC_IDS=json.dumps(ids["metric_ids"]),
            BASELINE_RUN_ID=str(ids["baseline_run_id"]),
            ROW_TOLERANCE="-1.0",
            AVG_TOLERANCE="-0.2",
            WORKDIR=str(work),
        )
        return ["bash", str(HERE / "seed_gate.sh")], env
    env = child_env(GITHUB_WORKSPACE=str(work))
    command = [
        *ckaction_command(),
        "gate",
        "--api-url",
        url,
        "--api-token",
        TOKEN,
        "--prompt-id",
        str(ids["prompt_id"]),
        "--timeout-minutes",
        "10",
        "--summary-file",
        str(work / "summary.md"),
    ]
    return command, env


def run_gate(
    emu: TimedEmulator, url: str, gate: str, ids: dict[str, Any], timeout: float
) -> dict[str, Any]:
    first_request = len(emu.requests)
    known_runs = set(emu.ends_at)
    with tempfile.TemporaryDirectory(prefix=f"ck-bench-{gate}-") as tmp:
        command, env = gate_command(gate, url, ids, Path(tmp))
        started = time.monotonic()
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            raise RuntimeError(f"{gate} gate did not finish within {timeout:.0f} s") from None
        exited = time.monotonic()
    new_runs = [run_id for run_id in emu.ends_at if run_id not in known_runs]
    if len(new_runs) != 1:
        raise RuntimeError(f"{gate}: expected one started run, got {new_runs}\n{output.decode()}")
    run_id = new_runs[0]
    requests = emu.requests[first_request:]
    times = [r.time for r in requests]
    polls = [r for r in requests if r.method == "GET" and r.path == f"/runs/{run_id}"]
    return {
        "gate": gate,
        "exit_code": proc.returncode,
        "run_id": run_id,
        "wall_s": exited - started,
        "latency_s": exited - emu.ends_at[run_id],
        "requests": len(requests),
        "status_polls": len(polls),
        "status_polls_peak_60s": peak_in_window([r.time for r in polls]),
        "peak_per_60s": peak_in_window(times),
        "http_429": sum(1 for r in requests if r.status == 429),
        "tail": output.decode(errors="replace")[-400:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 repetition, skip the 60 s runs")
    parser.add_argument(
        "--reps", type=int, default=None, help="repetitions per duration (default 3)"
    )
    parser.add_argument(
        "--durations", default=None, help="comma-separated run durations in seconds"
    )
    parser.add_argument("--rows", type=int, default=50, help="dataset rows (default 50)")
    parser.add_argument(
        "--jitter", type=float, default=0.0, help="row finish-time spread, in row intervals"
    )
    parser.add_argument(
        "--start-delay", type=float, default=0.0, help="seconds before rows land (default 0)"
    )
    parser.add_argument("--json", default=None, help="also write every measurement here")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    durations = [
        float(d) for d in (args.durations or ("3,20" if args.quick else "3,20,60")).split(",")
    ]
    if not shutil.which("jq") or not shutil.which("curl"):
        print(
            "bench/overhead.py needs curl and jq on PATH (the seed's gate uses them)",
            file=sys.stderr,
        )
        return 2

    emu, ids = seeded_emulator(args.rows)
    emu.pace_jitter = args.jitter
    emu.start_delay = args.start_delay
    results: list[dict[str, Any]] = []
    print(f"machine: {machine()}")
    print(
        f"gate command: {' '.join(ckaction_command())} gate ...; rows={args.rows}; reps={reps}; "
        f"jitter={args.jitter:g}; start delay={args.start_delay:g} s"
    )
    with serve(emu) as server:
        for duration in durations:
            emu.run_duration = duration
            timeout = duration + 120
            for rep in range(reps):
                emu.pace_seed = rep  # both gates of a repetition see the same pace
                # Alternate which gate goes first, so neither always runs on a warmer machine.
                order = GATES if rep % 2 == 0 else GATES[::-1]
                for gate in order:
                    result = run_gate(emu, server.url, gate, ids, timeout)
                    result.update(duration_s=duration, rep=rep)
                    results.append(result)
                    print(
                        f"  D={duration:>4g}s rep={rep} {gate:>8}: exit {result['exit_code']}, "
                        f"latency {result['latency_s']:6.2f} s, {result['requests']:>3} requests "
                        f"({result['status_polls']} status polls), peak {result['peak_per_60s']}/60s, "
                        f"429s {result['http_429']}",
                        flush=True,
                    )
    print()
    header = (
        "| run | gate | median verdict latency (s) | latencies (s) | requests (median) "
        "| status polls (median) | status polls | peak req / 60 s (max) "
        "| peak status polls / 60 s (max) |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|---|---|")
    for duration in durations:
        row = {}
        for gate in GATES:
            mine = [r for r in results if r["gate"] == gate and r["duration_s"] == duration]
            lat = [r["latency_s"] for r in mine]
            row[gate] = median(lat)
            print(
                f"| {duration:g} s | {gate} | {median(lat):.2f} | "
                f"{', '.join(f'{x:.2f}' for x in lat)} | {median([r['requests'] for r in mine]):g} | "
                f"{median([r['status_polls'] for r in mine]):g} | "
                f"{', '.join(str(r['status_polls']) for r in mine)} | "
                f"{max(r['peak_per_60s'] for r in mine)} | "
                f"{max(r['status_polls_peak_60s'] for r in mine)} |"
            )
        ratio = row["seed"] / row["ckaction"] if row["ckaction"] > 0 else float("inf")
        print(f"|  | ratio seed/ckaction latency | {ratio:.1f}x | | | | | | |")
    peak = max(r["status_polls_peak_60s"] for r in results if r["gate"] == "ckaction")
    print(f"\nckaction's most status polls in any 60 s (target: at most 15): {peak}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}, indent=1))
    failed = [r for r in results if r["exit_code"] not in (0, 1) or r["http_429"]]
    for r in failed:
        print(
            f"WARNING: {r['gate']} D={r['duration_s']:g} exit {r['exit_code']}: {r['tail']}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
