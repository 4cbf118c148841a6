"""publish, rebaseline and the CLI, end to end over HTTP."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import TOKEN
from tests.integration.helpers import ROOT, run_action


def test_publish_makes_the_candidate_current(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "publish", "prompt-id": str(ids.prompt_v2_id)},
    )
    assert result.code == 0, result.stdout
    assert result.outputs["prompt-id"] == str(ids.prompt_v2_id)
    assert result.outputs["version-number"] == "2"
    assert emu.get_prompt(ids.family_key)["id"] == ids.prompt_v2_id
    assert "Published prompt" in result.summary_text
    again = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "publish", "prompt-id": str(ids.prompt_v2_id)},
    )
    assert again.code == 0
    assert "already the current version" in again.summary_text
    publishes = [r for r in emu.requests if r.method == "POST" and r.path.endswith("/publish")]
    assert len(publishes) == 1


def test_publish_of_an_unknown_prompt_is_an_error(emulated, action_env):
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "command": "publish", "prompt-id": "4040"}
    )
    assert result.code == 2
    assert "prompt 4040" in result.summary_text


def test_rebaseline_reruns_the_baseline_and_outputs_the_new_run(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "rebaseline", "prompt-id": str(ids.prompt_v1_id)},
    )
    assert result.code == 0, result.stdout
    new_id = int(result.outputs["run-id"])
    assert result.outputs["baseline-run-id"] == str(ids.baseline_run_id)
    assert emu.get_run(new_id)["status"] == "completed"
    assert [r.path for r in emu.requests if r.method == "POST"] == [
        f"/runs/{ids.baseline_run_id}/rerun"
    ]
    # The next gate compares with the fresh baseline: it is the newest green run of the live prompt.
    gate = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(ids.prompt_v2_id)}
    )
    assert gate.outputs["baseline-run-id"] == str(new_id)


def test_rebaseline_with_a_new_judge_model_creates_a_run_with_it(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "command": "rebaseline",
            "baseline-run-id": str(ids.baseline_run_id),
            "judge-model": "gpt-5-judge",
        },
    )
    assert result.code == 0, result.stdout
    run = emu.get_run(int(result.outputs["run-id"]))
    assert run["judge_model"] == "gpt-5-judge"
    assert run["prompt_id"] == ids.prompt_v1_id
    assert not any(r.path.endswith("/rerun") for r in emu.requests)


def cli(*args, env_extra=None, cwd=None):
    import os

    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "ckaction", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_gate_outside_github_prints_the_summary_and_exits_by_verdict(emulated, tmp_path):
    proc = cli(
        "gate",
        "--api-url",
        emulated.url,
        "--prompt-id",
        str(emulated.ids.prompt_v2_id),
        env_extra={"CKACTION_API_TOKEN": TOKEN},
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Regressed rows" in proc.stdout
    assert "::" not in proc.stdout.split("## ", 1)[0]  # no workflow commands outside GitHub
    assert TOKEN not in proc.stdout + proc.stderr
    assert (tmp_path / "ckaction-report.json").exists()


def test_cli_summary_file_and_flag_validation(emulated, tmp_path):
    summary = tmp_path / "eval.md"
    proc = cli(
        "gate",
        "--api-url",
        emulated.url,
        "--prompt-id",
        str(emulated.ids.prompt_v1_id),
        "--api-token",
        TOKEN,
        "--summary-file",
        str(summary),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in summary.read_text()
    bad = cli("gate", "--prompt-id", "x", "--api-token", TOKEN, "--org", "acme", cwd=tmp_path)
    assert bad.returncode == 2
    assert "prompt-id" in bad.stdout and "Traceback" not in bad.stdout + bad.stderr


def test_cli_version_and_demo(tmp_path):
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("ckaction ")
    demo = cli(
        "demo", "--run-seconds", "0.3", "--summary-file", str(tmp_path / "demo.md"), cwd=tmp_path
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Regressed rows" in demo.stdout
    assert "caught the regression" in demo.stdout
