"""What a new user hit walking the README from a fresh clone (issue 15's "Done when"), each test
failing on the code before its fix: an `api-url` without `/api/v1` is an input error that says what
to write, before any request (it was a 404 on the web page's path); `ckaction demo --help` says what
the demo does and what its flags mean; the demo's JSON report is where its notice says; hints that
name an input say the CLI flag too (`--require-passed-gate false`, `--dry-run false`); cleanup's
summary is titled like the other commands'."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckaction.cli import main
from tests.conftest import TOKEN, ActionEnv, Emulated, Served
from tests.integration.helpers import gate_step, run_action


def test_an_api_url_without_the_api_path_is_an_input_error_before_any_request(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    web_root = emulated.url.removesuffix("/api/v1")
    result = gate_step(emulated, action_env, **{"api-url": web_root})
    assert result.code == 2
    assert "Invalid input api-url" in result.stdout
    assert f"ending in /api/v1: try {web_root}/api/v1" in result.report["error"]["message"]
    assert emulated.emulator.requests == []


def test_an_api_url_with_a_trailing_slash_is_the_same_root(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = gate_step(emulated, action_env, **{"api-url": emulated.url + "/"})
    assert result.code == 1, result.stdout  # the demo data's regression, measured
    run_url = result.report["candidate_run"]["url"]
    assert run_url == emulated.url.removesuffix("/api/v1") + f"/runs/{result.outputs['run-id']}"


def test_the_demo_help_says_what_it_does_and_what_its_flags_mean(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--help"], {})
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines to the terminal
    assert "gates a candidate prompt that regresses one row" in out
    assert "--summary-file PATH also write the report here" in out
    assert "--run-seconds SECONDS how long the demo run takes" in out


def test_publish_refused_names_the_cli_flag_that_turns_the_check_off(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    (action_env.workspace / "prompts").mkdir(parents=True)
    (action_env.workspace / "prompts" / "support-reply.yml").write_text(
        'prompt: Support reply\nllm_model: gpt-4o-mini\ntemplate: "Order #{{order_number}}"\n',
        encoding="utf-8",
    )
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "publish", "prompt-files": "prompts/*.yml"},
    )
    assert result.code == 2
    hint = result.report["error"]["hint"]
    assert "set require-passed-gate to false (`--require-passed-gate false` on the CLI)" in hint


def test_cleanup_is_titled_like_the_other_commands(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = run_action(emulated, action_env, {"api-url": emulated.url, "command": "cleanup"})
    assert result.code == 0, result.stdout
    assert "## ✅ Cleanup: done" in result.summary
    assert result.report["command"] == "cleanup"


def test_prompt_files_that_match_nothing_on_the_cli_say_which_directory_was_searched(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(
        ["gate", "--api-url", served.url, "--prompt-files", "prompts/*.yaml"],
        {"CKACTION_API_TOKEN": TOKEN},
    )
    out = " ".join(capsys.readouterr().out.split())
    assert code == 2
    assert "'prompts/*.yaml' matches no file in the workspace" in out
    assert f"the current directory on the CLI; here {tmp_path.resolve()})" in out
