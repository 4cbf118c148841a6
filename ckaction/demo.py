"""`ckaction demo`: a real gate against the embedded emulator over HTTP on 127.0.0.1.

The emulator is seeded with a prompt family (v1 live, v2 the candidate), a dataset, two LLM-judge
metrics and a check, and a completed baseline run of v1. The candidate regresses one row; the demo
runs the gate exactly as CI would and prints the report. No account, no network.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from ckaction.errors import EXIT_ERROR, EXIT_REGRESSED

RunGate = Callable[[Mapping[str, str], Mapping[str, str]], int]

DEMO_TOKEN = "ck-demo-token-not-a-secret"
NO_EMULATOR = (
    "ckaction demo needs the emulator, which the action's Docker image leaves out: "
    "run it where you `pip install ckaction`."
)


def run_demo(run_gate: RunGate, *, summary_file: str, run_seconds: float = 2.0) -> int:
    """Seed and serve the emulator, then `run_gate(environ, inputs)` (the CLI's composition root
    runs it as CI would) against it; 0 when the gate caught the demo's regression."""
    try:
        from ckaction.emulator import Emulator, seed_demo, serve
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("ckaction.emulator"):
            raise
        print(NO_EMULATOR, file=sys.stderr)
        return EXIT_ERROR

    emulator = Emulator(token=DEMO_TOKEN, org="demo")
    emulator.run_duration = run_seconds
    ids = seed_demo(emulator)
    with serve(emulator) as server:
        print(f"Emulated CompletionKit API at {server.url}")
        print(
            f"Gating prompt {ids.prompt_v2_id} (candidate v2) against the last green run of the "
            f"live prompt {ids.prompt_v1_id} (baseline run {ids.baseline_run_id})\n"
        )
        environ = {
            "PATH": os.environ.get("PATH", ""),
            # The current directory, as for any CLI command: the JSON report lands beside the
            # summary, where the gate's notice says it is.
            "GITHUB_WORKSPACE": os.getcwd(),
        }
        code = run_gate(
            environ,
            {
                "api_token": DEMO_TOKEN,
                "api_url": server.url,
                "prompt_id": str(ids.prompt_v2_id),
                "timeout_minutes": "2",
            },
        )
    summary = Path(summary_file).read_text(encoding="utf-8")
    print("\n" + summary)
    if code == EXIT_REGRESSED:
        print(
            f"Demo finished: the gate caught the regression (in CI this step exits {code} and "
            f"fails the check). The summary above is also in {summary_file}, and the JSON "
            "report in ckaction-report.json."
        )
        return 0
    print(f"Demo did not end as expected (exit code {code}).", file=sys.stderr)
    return code
