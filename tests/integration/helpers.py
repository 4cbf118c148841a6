"""Run the gate with the environment the runner gives the Docker action: in-process through the
composition root (`run_action`: the emulator's transport and one fake clock), or `entrypoint.py` as
a subprocess against the emulator over real HTTP (`run_entrypoint`: the runner contract)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ckaction.cli import App
from ckaction.emulator import Emulator, serve
from ckaction.inputs import raw_inputs_from_env
from tests.conftest import TOKEN, ActionEnv, Emulated

ROOT = Path(__file__).resolve().parents[2]
REPO = "acme/prompts"  # the repository the fake GitHub serves
GITHUB_TOKEN = "ghs_workflowtoken0123456789"  # the job's token the fake GitHub knows
SUBPROCESS_TIMEOUT_SECONDS = 60
BASE_INPUTS = {
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


@dataclass(frozen=True)
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


def _result(env: ActionEnv, code: int, stdout: str, stderr: str) -> Result:
    report_path = env.workspace / "ckaction-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return Result(code, stdout, stderr, env.outputs(), env.summary(), report)


def run_action(
    emulated: Emulated,
    env: ActionEnv,
    inputs: dict[str, str],
    *,
    over_http: bool = False,
    **kwargs: Any,
) -> Result:
    """One step of the action in-process: `cli.App` with the emulator's clock, and its transport
    unless `over_http` (then the real one, to wherever `api-url` points)."""
    environ = env.environ({**BASE_INPUTS, **inputs}, **kwargs)
    stdout, stderr = io.StringIO(), io.StringIO()
    app = App(
        environ,
        stream=stdout,
        clock=emulated.time.now,
        sleep=emulated.time.sleep,
        transport=None if over_http else emulated.transport,
    )
    with redirect_stderr(stderr):
        code = app.run(raw_inputs_from_env(environ))
    return _result(env, code, stdout.getvalue(), stderr.getvalue())


def gate_step(
    emulated: Emulated, env: ActionEnv, *, over_http: bool = False, **inputs: str
) -> Result:
    """A gate of the seeded candidate (v2), with no PR comment, in process (`run_action`);
    `inputs` add to or override that."""
    base = {
        "api-url": emulated.url,
        "prompt-id": str(emulated.ids.prompt_v2_id),
        "comment": "false",
    }
    return run_action(emulated, env, {**base, **inputs}, over_http=over_http)


@contextmanager
def api_root(emulated: Emulated, *, over_http: bool) -> Iterator[str]:
    """The API root a step talks to: the emulator in process, or the same emulator served over a
    real socket on 127.0.0.1 (then `run_action(..., over_http=True)`)."""
    if not over_http:
        yield emulated.url
        return
    with serve(emulated.emulator) as server:
        yield server.url


def run_entrypoint(env: ActionEnv, inputs: dict[str, str], **kwargs: Any) -> Result:
    """One step of the action as the runner starts it: `entrypoint.py` in a fresh process."""
    environ = env.environ({**BASE_INPUTS, **inputs}, **kwargs)
    environ["PATH"] = os.environ.get("PATH", "")
    environ["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "entrypoint.py")],
        env=environ,
        cwd=env.workspace,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    return _result(env, proc.returncode, proc.stdout, proc.stderr)


def statuses(emulator: Emulator, method: str, pattern: str) -> list[int]:
    """The statuses the emulator answered matching requests with, in the order they arrived."""
    return [
        r.status for r in emulator.requests if r.method == method and re.search(pattern, r.path)
    ]
