"""A new user's first day (issue 15): errors that say what to fix in the user's own terms.

The CLI's missing token names `--api-token` and `CKACTION_API_TOKEN` (not workflow YAML); rebaseline
and calibrate errors are titled and reported as those commands; the required-input sentences read;
a 404 names the URL that was tried and points at `org` and `api-url`; a retried job outside GitHub
(GitLab's `CI_COMMIT_SHA`) reuses its run instead of paying for a second one, in process and as the
GitLab example job runs its command (the CLI door over HTTP); the fork recipe's stage 2 gates the
prompt files stage 1 uploads and comments on the pull request."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from ckaction.cli import main
from ckaction.emulator.seed import TEMPLATE_V1
from tests.conftest import TOKEN
from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github
from tests.integration.helpers import GITHUB_TOKEN, REPO, gate_step, run_action

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Outside GitHub the workspace is the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("command", "title"),
    [("gate", "Prompt gate"), ("rebaseline", "Rebaseline"), ("calibrate", "Calibrate")],
)
def test_the_cli_names_its_own_token_flag_and_variable_and_the_command(
    command, title, in_tmp, capsys
):
    code = main([command, "--org", "acme"], {})
    out, err = capsys.readouterr()
    assert code == 2
    assert "--api-token" in out and "CKACTION_API_TOKEN" in out
    assert "secrets.CK_API_TOKEN" not in out + err  # workflow YAML means nothing on a terminal
    assert f"## ⚠️ {title} error: Invalid input" in out
    report = json.loads((in_tmp / "ckaction-report.json").read_text())
    assert report["command"] == command
    assert "Traceback" not in out + err


@pytest.mark.parametrize("command", ["rebaseline", "calibrate"])
def test_rebaseline_and_calibrate_say_prompt_id_is_required_in_a_sentence(command, in_tmp, capsys):
    code = main([command, "--org", "acme"], {"CKACTION_API_TOKEN": TOKEN})
    out, _ = capsys.readouterr()
    assert code == 2
    assert f"`prompt-id`: required for command {command} unless baseline-run-id" in out
    assert "`: or " not in out  # the garbled "`baseline-run-id`: or prompt-id is required…"


def test_the_action_still_asks_for_the_token_from_a_secret(emulated, action_env):
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "api-token": "", "prompt-id": "2"}
    )
    assert result.code == 2
    assert "secrets.CK_API_TOKEN" in result.stdout
    assert "CKACTION_API_TOKEN" not in result.stdout


def test_the_api_url_example_includes_the_api_path(emulated, action_env):
    result = gate_step(emulated, action_env, **{"api-url": "completionkit.com/orgs/acme"})
    assert result.code == 2
    assert "https://completionkit.com/orgs/acme/api/v1" in result.stdout


def test_a_404_on_the_first_request_names_the_url_and_org_and_api_url(emulated, action_env):
    wrong = emulated.url.replace("/orgs/acme/", "/orgs/acmee/")
    result = gate_step(emulated, action_env, **{"api-url": wrong})
    assert result.code == 2
    hint = result.report["error"]["hint"]
    assert f"{wrong}/prompts/{emulated.ids.prompt_v2_id}" in hint
    assert "`org`" in hint and "`api-url`" in hint
    assert TOKEN not in hint


def test_a_retried_gitlab_job_reuses_its_run(emulated, action_env):
    """No GitHub commit, GitLab's: the second attempt pays for nothing."""
    gitlab = {"GITHUB_SHA": "", "CI_COMMIT_SHA": "c0ffee" + "0" * 34}
    inputs = {
        "api-url": emulated.url,
        "prompt-id": str(emulated.ids.prompt_v2_id),
        "comment": "false",
    }
    first = run_action(emulated, action_env, inputs, **gitlab)
    second = run_action(emulated, action_env, inputs, **gitlab)
    assert (first.code, second.code) == (1, 1)
    assert second.outputs["run-id"] == first.outputs["run-id"]
    created = [
        r for r in emulated.emulator.requests if r.method == "POST" and r.path.endswith("/runs")
    ]
    assert len(created) == 1
    assert "no new evaluation is paid for" in second.stdout


@pytest.mark.real_clock
def test_the_gitlab_example_job_gates_and_a_retry_reuses_its_run(served, in_tmp, capsys):
    """examples/gitlab/.gitlab-ci.yml's gate command, run as GitLab runs it (its CI/CD variables
    and CI_COMMIT_SHA in the environment, no GitHub variables), against the emulator over HTTP."""
    job = yaml.safe_load((ROOT / "examples/gitlab/.gitlab-ci.yml").read_text())["prompt-gate"]
    (gate_line,) = [line for line in job["script"] if " gate " in line]
    argv = shlex.split(gate_line)[1:]  # the venv's ckaction, then its arguments
    assert argv[0] == "gate" and "--commit" not in argv
    gitlab = {
        "CKACTION_API_TOKEN": TOKEN,
        "CKACTION_API_URL": served.url,  # the job's CKACTION_ORG, pointed at the emulator
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": "feedface" * 5,
    }
    assert main(["pull", "Support reply", "--dir", "prompts/"], gitlab) == 0
    path = in_tmp / "prompts" / "support-reply.yml"
    path.write_text(path.read_text().replace("order #{{order_number}}: ", ""))
    first = main(argv, gitlab)
    capsys.readouterr()
    again = main(argv, gitlab)  # the job retried
    out, _ = capsys.readouterr()
    assert (first, again) == (1, 1)
    assert "no new evaluation is paid for" in out
    assert set(job["artifacts"]["paths"]) == {"prompt-eval.md", "ckaction-report.json"}
    assert (in_tmp / "prompt-eval.md").exists() and (in_tmp / "ckaction-report.json").exists()


def test_the_fork_recipes_stage_2_gates_the_artifacts_prompt_files_and_comments_on_the_pr(
    emulated, action_env
):
    """examples/fork-comment.yml's gate step, with the artifact stage 1 uploads unpacked where
    stage 2 downloads it (no checkout), on the workflow_run event a fork's pull request gives
    (its pull_requests list is empty): the files are gated and the comment lands on the PR."""
    workflow = yaml.safe_load((ROOT / "examples/fork-comment.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    (download,) = [s for s in steps if s.get("uses", "").startswith("actions/download-artifact@")]
    (gate,) = [s for s in steps if s.get("uses", "").startswith("ckaction/ckaction@")]
    stage_1 = yaml.safe_load((ROOT / "examples/fork-request.yml").read_text())
    (upload,) = [
        s
        for s in stage_1["jobs"]["request"]["steps"]
        if s.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert download["with"]["name"] == upload["with"]["name"]
    folder = action_env.workspace / download["with"]["path"]
    (folder / "prompts").mkdir(parents=True)
    (folder / "pr-number.txt").write_text("12\n")
    terse = TEMPLATE_V1.replace("order #{{order_number}}: ", "")
    (folder / "prompts" / "support-reply.yml").write_text(
        "prompt: Support reply\nllm_model: gpt-4o-mini\ntemplate: |\n  " + terse + "\n"
    )
    head_sha = "ab" * 20
    inputs = {
        key: value
        for key, value in gate["with"].items()
        if "${{" not in str(value)  # secrets, variables and step outputs: given below
    }
    assert inputs == {"prompt-files": "gate-request/prompts/*.yml"}
    github = FakeGitHub()
    github.add_pull(REPO, 12)
    github.add_token(GITHUB_TOKEN, ACTIONS_BOT, installation=True)
    with serve_github(github) as url:
        result = run_action(
            emulated,
            action_env,
            {
                **inputs,
                "api-url": emulated.url,
                "pr-number": "12",
                "commit": head_sha,
                "github-token": GITHUB_TOKEN,
            },
            event="workflow_run",
            payload={"action": "completed", "workflow_run": {"pull_requests": []}},
            GITHUB_API_URL=url,
            GITHUB_REPOSITORY=REPO,
        )
    assert result.code == 1, result.stdout
    assert list(json.loads(result.outputs["results"])) == ["gate-request/prompts/support-reply.yml"]
    (comment,) = github.comments_on(REPO, 12)
    assert "gate-request/prompts/support-reply.yml" in comment.body
