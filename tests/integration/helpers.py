"""Run the Docker action's entrypoint as a subprocess, with the environment the runner gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import TOKEN, ActionEnv

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    report: dict[str, Any] | None

    @property
    def summary_text(self) -> str:
        """The summary with Markdown backslash escapes removed, as a reader sees it."""
        return self.summary.replace("\\", "")

    @property
    def everything(self) -> str:
        """All the text the gate wrote anywhere, for secret and injection checks."""
        report = json.dumps(self.report) if self.report else ""
        return "\n".join([self.stdout, self.stderr, json.dumps(self.outputs), self.summary, report])


def run_action(
    env: ActionEnv, inputs: dict[str, str], *, timeout: float = 60, **kwargs: Any
) -> Result:
    base_inputs = {
        "api-token": TOKEN,
        "row-tolerance": "-1.0",
        "avg-tolerance": "-0.2",
        "timeout-minutes": "2",
        "fail-on-regression": "true",
        "comment": "true",
        "command": "gate",
        "reuse-runs": "true",
        "report-path": "ckaction-report.json",
        "github-token": "ghs_faketoken0000000000",
    }
    merged = {**base_inputs, **inputs}
    environ = env.environ(merged, **kwargs)
    environ["PATH"] = os.environ.get("PATH", "")
    environ["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "entrypoint.py")],
        env=environ,
        cwd=env.workspace,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report_path = env.workspace / "ckaction-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return Result(proc.returncode, proc.stdout, proc.stderr, env.outputs(), env.summary(), report)
