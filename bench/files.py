"""A step that gates many prompt files: wall time against the slowest run, and the API load.

    python bench/files.py                 # 2 and 30 files, runs of 20 s (~3 minutes)
    python bench/files.py --quick         # 2 and 30 files, runs of 5 s
    python bench/files.py --files 2,10,30 --duration 60 --json out.json

The emulator (its default rate limit of 120 requests a minute per client) serves real HTTP on
127.0.0.1 inside this process. It holds one live prompt per file, each with a completed baseline of
`--rows` rows; each file changes its prompt's template, so every file is gated: a scratch
candidate, a run, a comparison. `ckaction gate --prompt-files 'prompts/*.yml'` runs as a
subprocess. Every run takes `--duration` seconds, so a step that gates its files one after another
would take files x duration; gated together it should take about one duration plus the requests.
Status polls are the step's tagged run listings (`GET /runs?tag[]=ckaction-gate`, one a look);
`GET /runs/<id>` would be one a run. The peak is the most requests in any 60 s span.
"""

from __future__ import annotations

import argparse
import json
import re
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
    bench_rows,
    child_env,
    ckaction_command,
    machine,
    peak_in_window,
)

from ckaction.emulator import serve
from ckaction.emulator.judging import ScriptedJudge
from ckaction.emulator.seed import TEMPLATE_V1

JUDGE_MODEL = "gpt-4o-mini"
STEP_TIMEOUT_MINUTES = "30"


def seeded(files: int, rows: int, duration: float) -> TimedEmulator:
    """`files` live prompts, each with a completed baseline on one `rows`-row dataset."""
    emu = TimedEmulator(token=TOKEN, org="bench")
    emu.run_duration = duration
    emu.judge = ScriptedJudge(default=4)  # every file's change passes: the bench times, not grades
    metrics = [
        emu.add_metric("Helpfulness", "llm_judge", "Rate how well the reply helps.")["id"],
        emu.add_metric(
            "Mentions order number",
            "check",
            check_config={"check_kind": "regex", "pattern": r"#\d{5}"},
        )["id"],
    ]
    dataset = emu.add_dataset(f"Support tickets x{rows}", bench_rows(rows))["id"]
    for i in range(files):
        live = emu.add_prompt(f"Prompt {i:02}", TEMPLATE_V1, "gpt-4o-mini")
        emu.add_completed_run(live["id"], dataset, metrics, judge_model=JUDGE_MODEL)
    return emu


def write_files(workspace: Path, files: int) -> None:
    prompts = workspace / "prompts"
    prompts.mkdir(parents=True)
    for i in range(files):
        body = {
            "prompt": f"Prompt {i:02}",
            "llm_model": "gpt-4o-mini",
            "template": TEMPLATE_V1 + f" Sign as shop {i}.",
        }
        (prompts / f"p{i:02}.yml").write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML


def measure(files: int, rows: int, duration: float) -> dict[str, Any]:
    emu = seeded(files, rows, duration)
    with tempfile.TemporaryDirectory() as tmp, serve(emu) as server:
        workspace = Path(tmp)
        write_files(workspace, files)
        command = [
            *ckaction_command(),
            "gate",
            "--api-url",
            server.url,
            "--prompt-files",
            "prompts/*.yml",
            "--timeout-minutes",
            STEP_TIMEOUT_MINUTES,
        ]
        env = child_env(CKACTION_API_TOKEN=TOKEN, GITHUB_WORKSPACE=str(workspace))
        started = time.monotonic()
        proc = subprocess.run(
            command, cwd=workspace, env=env, capture_output=True, text=True, check=False
        )
        wall = time.monotonic() - started
        report = json.loads((workspace / "ckaction-report.json").read_text(encoding="utf-8"))
    requests = [r for r in emu.requests if r.time >= started]
    polls = [
        r
        for r in requests
        if r.method == "GET" and r.path == "/runs" and "prompt_id" not in r.query
    ]
    single = [r for r in requests if r.method == "GET" and re.fullmatch(r"/runs/\d+", r.path)]
    last_end = max(emu.ends_at.values()) if emu.ends_at else started
    return {
        "files": files,
        "rows": rows,
        "run_seconds": duration,
        "exit": proc.returncode,
        "result": report["result"],
        "wall_seconds": round(wall, 2),
        "after_last_run_seconds": round(started + wall - last_end, 2),
        "runs_ended_within_seconds": round(
            max(emu.ends_at.values()) - min(emu.ends_at.values()), 2
        ),
        "requests": len(requests),
        "peak_requests_60s": peak_in_window([r.time for r in requests]),
        "status_polls": len(polls),
        "peak_status_polls_60s": peak_in_window([r.time for r in polls]),
        "single_run_reads": len(single),
        "rate_limited": sum(1 for r in requests if r.status == 429),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="2,30", help="comma-separated file counts")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each run takes")
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="runs of 5 s")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    duration = 5.0 if args.quick else args.duration
    print(f"machine: {machine()}")
    header = (
        "| files | run | wall time | after the last run ended | runs ended within | requests "
        "| peak req / 60 s | status polls | peak polls / 60 s | GET /runs/<id> | 429s | exit |"
    )
    print(header)
    print("|---" * 12 + "|")
    results = []
    for files in (int(n) for n in args.files.split(",")):
        r = measure(files, args.rows, duration)
        results.append(r)
        print(
            f"| {r['files']} | {r['run_seconds']:g} s | {r['wall_seconds']} s "
            f"| {r['after_last_run_seconds']} s | {r['runs_ended_within_seconds']} s "
            f"| {r['requests']} | {r['peak_requests_60s']} | {r['status_polls']} "
            f"| {r['peak_status_polls_60s']} | {r['single_run_reads']} | {r['rate_limited']} "
            f"| {r['exit']} ({r['result']}) |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
