"""The built image, run exactly as the runner runs a Docker action, against the emulator on 127.0.0.1.

The runner (ContainerActionHandler) does, in essence:

    docker run --workdir /github/workspace --rm -e INPUT_API-TOKEN -e ... \\
      -v $GITHUB_WORKSPACE:/github/workspace -v <file commands>:/github/file_commands \\
      -v <_github_workflow>:/github/workflow -v <_github_home>:/github/home <image>

with every input (hyphens kept, upper-cased, defaults from action.yml filled in) as INPUT_<NAME>
and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_EVENT_PATH translated to container paths.
--network=host replaces the job network so that the action reaches the emulator on host loopback.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import yaml

from ckaction.demo import NO_EMULATOR
from ckaction.emulator import DemoIds
from tests.conftest import TOKEN, Served
from tests.container.conftest import ROOT, Engine, requires_containers

pytestmark = [pytest.mark.container, requires_containers]

SHA = "0123456789abcdef0123456789abcdef01234567"


def action_defaults() -> dict[str, str]:
    """The inputs the runner fills in from action.yml when the workflow does not set them.

    github-token's default is the expression ${{ github.token }}; the runner would evaluate it,
    here there is no token to give, so it is left out (a push event never comments anyway)."""
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    return {
        name: str(meta["default"])
        for name, meta in spec["inputs"].items()
        if "default" in meta and name != "github-token"
    }


def parse_file_commands(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT records: name<<DELIMITER ... DELIMITER, or name=value."""
    lines = text.split("\n")
    outputs: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            j = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        i += 1
    return outputs


@dataclass
class Run:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str
    workspace: Path


def run_like_the_runner(engine: Engine, root: Path, inputs: dict[str, str]) -> Run:
    workspace, commands, workflow, home = (
        root / "workspace",
        root / "file_commands",
        root / "workflow",
        root / "home",
    )
    for folder in (workspace, commands, workflow, home):
        folder.mkdir(parents=True, exist_ok=True)
    (workflow / "event.json").write_text(
        json.dumps(
            {"ref": "refs/heads/main", "after": SHA, "repository": {"full_name": "acme/prompts"}}
        )
    )
    # The runner names the step's file-command files with a fresh GUID.
    output_name, summary_name = f"set_output_{uuid.uuid4()}", f"step_summary_{uuid.uuid4()}"
    (commands / output_name).touch()
    (commands / summary_name).touch()

    env = {
        "HOME": "/github/home",
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_OUTPUT": f"/github/file_commands/{output_name}",
        "GITHUB_STEP_SUMMARY": f"/github/file_commands/{summary_name}",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REPOSITORY": "acme/prompts",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": SHA,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "gate",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "http://127.0.0.1:9",  # nothing may reach GitHub from a push event
        "RUNNER_OS": "Linux",
    }
    for name, value in {**action_defaults(), **inputs}.items():
        env[f"INPUT_{name.replace(' ', '_').upper()}"] = value  # hyphens kept, as the runner does

    args = ["run", "--rm", "--workdir", "/github/workspace", "--network=host"]
    for name, value in env.items():
        args += ["-e", f"{name}={value}"]
    args += [
        "-v",
        f"{workspace}:/github/workspace",
        "-v",
        f"{commands}:/github/file_commands",
        "-v",
        f"{workflow}:/github/workflow",
        "-v",
        f"{home}:/github/home",
        engine.image,
    ]
    proc = engine.run(args)
    return Run(
        proc.returncode,
        proc.stdout + proc.stderr,
        parse_file_commands((commands / output_name).read_text()),
        (commands / summary_name).read_text(),
        workspace,
    )


def demo_ids(served: Served) -> DemoIds:
    return cast(DemoIds, served.ids)


def gate_inputs(served: Served) -> dict[str, str]:
    return {
        "api-token": TOKEN,
        "api-url": served.url,
        "prompt-id": str(demo_ids(served).prompt_v2_id),
        "timeout-minutes": "2",
    }


def regressed_rows_section(summary: str) -> str:
    start = summary.index("Regressed rows")
    end = min(
        i
        for i in (summary.find("<details>", start), summary.find("\n### ", start), len(summary))
        if i >= 0
    )
    return summary[start:end]


def assert_regressed_gate(run: Run, served: Served) -> None:
    ids = demo_ids(served)
    assert run.code == 1, run.log
    out = run.outputs
    assert out["result"] == "regressed", run.log
    assert out["passed"] == "false"
    assert out["regressions"] == "1"
    assert out["run-id"].isdigit() and out["run-id"] != str(ids.baseline_run_id)
    assert out["baseline-run-id"] == str(ids.baseline_run_id)
    assert out["prompt-id"] == str(demo_ids(served).prompt_v2_id)
    assert out["report"] == "ckaction-report.json"

    rows = regressed_rows_section(run.summary)
    row = ids.regressed_row_index
    assert re.search(rf"^\| {row} \|.*\| Accuracy \|", rows, re.MULTILINE), run.summary

    report_file = run.workspace / "ckaction-report.json"
    assert report_file.is_file(), sorted(p.name for p in run.workspace.iterdir())
    report = json.loads(report_file.read_text())
    assert report["result"] == "regressed"
    assert [r["row_index"] for r in report["rows"] if r["status"] == "regressed"] == [row]

    assert "Traceback" not in run.log
    # The token appears once, in the ::add-mask:: command that hides it; nowhere else.
    unmasked = "\n".join(
        line for line in run.log.splitlines() if not line.startswith("::add-mask::")
    )
    assert TOKEN not in unmasked + json.dumps(out) + run.summary + report_file.read_text()


def test_the_image_gates_a_regressing_candidate_as_the_runner_runs_it(
    engine: Engine, served: Served, tmp_path: Path
) -> None:
    run = run_like_the_runner(engine, tmp_path, gate_inputs(served))
    assert_regressed_gate(run, served)


SHADOWS = {
    "module": {"ckaction.py": "raise SystemExit('SHADOWED: workspace ckaction.py was imported')\n"},
    "package": {
        "ckaction/__init__.py": "raise SystemExit('SHADOWED: workspace ckaction/ was imported')\n",
        "ckaction/cli.py": "raise SystemExit('SHADOWED: workspace ckaction/cli.py was imported')\n",
    },
}


@pytest.mark.parametrize("kind", sorted(SHADOWS))
def test_a_ckaction_module_in_the_workspace_does_not_shadow_the_installed_package(
    engine: Engine, served: Served, tmp_path: Path, kind: str
) -> None:
    workspace = tmp_path / "workspace"
    for name, text in SHADOWS[kind].items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text)

    run = run_like_the_runner(engine, tmp_path, gate_inputs(served))
    assert "SHADOWED" not in run.log
    assert_regressed_gate(run, served)

    # `python -m` would put the cwd (the user's repository) first on sys.path without
    # PYTHONSAFEPATH=1; with it, the installed package is the one imported.
    probe = engine.run(
        [
            "run",
            "--rm",
            "--workdir",
            "/github/workspace",
            "--network=none",
            "-v",
            f"{workspace}:/github/workspace",
            "--entrypoint",
            "/usr/local/bin/python",
            engine.image,
            "-c",
            "import sys, ckaction; print(sys.flags.safe_path, ckaction.__file__)",
        ]
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    safe_path, location = probe.stdout.split()
    assert safe_path == "True"
    assert location.startswith("/usr/") and "/github/workspace" not in location


def test_the_image_runs_the_gate_only_and_says_where_the_demo_runs(engine: Engine) -> None:
    def run(entrypoint: str, *args: str) -> tuple[int, str]:
        result = engine.run(
            ["run", "--rm", "--network=none", "--entrypoint", entrypoint, engine.image, *args]
        )
        return result.returncode, result.stdout + result.stderr

    code, output = run("/usr/local/bin/ckaction", "demo")
    assert code == 2
    assert output.strip().splitlines() == [NO_EMULATOR]

    code, output = run("/usr/local/bin/python", "-m", "ckaction.emulator", "--help")
    assert code == 1
    assert "No module named ckaction.emulator" in output
    assert "Traceback" not in output
