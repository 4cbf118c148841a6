"""What a new user reads, said once and plainly (issues 14 and 15's README walk): the publish
summary of the "Try prompt files" steps (a code span for the prompt's name, only the columns that
mean something for publish, each sentence once), rebaseline's sentence about which gates compare with
the new baseline, and on the CLI the JSON report's notice and the summary file's CKACTION_* twin."""

from __future__ import annotations

import pytest

from ckaction.cli import main
from ckaction.emulator.seed import TEMPLATE_V1
from tests.conftest import TOKEN, ActionEnv, Emulated, Served
from tests.integration.helpers import run_action
from tests.integration.test_prompt_files_gate import content_judge, write
from tests.render.gfm import tables

PASSING = TEMPLATE_V1 + " Thank them for writing."


def test_the_readme_walk_publishes_with_a_summary_that_says_each_thing_once(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emulated.emulator.judge = content_judge
    write(action_env, "prompts/support-reply.yml", PASSING)
    files = {"api-url": emulated.url, "prompt-files": "prompts/*.yml", "comment": "false"}
    gate = run_action(emulated, action_env, {**files, "commit": "3333333"})
    assert gate.code == 0, gate.stdout
    published = run_action(emulated, action_env, {**files, "command": "publish"})
    assert published.code == 0, published.stdout
    summary = published.summary
    assert summary.startswith("## ✅ Publish passed: 1 prompt file, 1 published\n"), summary
    (overview,) = tables(summary)
    assert overview.header == ["File", "Prompt", "Verdict", "Live version"]
    version, prompt_id = published.outputs["version-number"], published.outputs["prompt-id"]
    assert overview.rows == [
        [
            "prompts/support-reply.yml",
            "Support reply",
            "✅ published",
            f"v{version} (id {prompt_id})",
        ]
    ]
    assert summary.count("published version") == 1
    assert f"published version {version} of `Support reply` (id {prompt_id}," in summary
    assert "\\`" not in summary


def test_rebaseline_says_in_one_sentence_which_gates_compare_with_it(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    inputs = {
        "api-url": emulated.url,
        "command": "rebaseline",
        "prompt-id": str(emulated.ids.prompt_v1_id),
    }
    result = run_action(emulated, action_env, inputs)
    assert result.code == 0, result.stdout
    new_id = result.outputs["run-id"]
    assert (
        "Gates compare with it while it is the live prompt's newest green run, or always with "
        f"baseline-run-id {new_id}."
    ) in result.summary
    assert "Gates now compare" not in result.summary


@pytest.mark.real_clock
def test_the_cli_names_the_json_report_once_and_takes_the_summary_file_from_its_twin(
    served: Served, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # outside GitHub the workspace is the working directory
    environ = {"CKACTION_API_TOKEN": TOKEN, "CKACTION_SUMMARY_FILE": "from-env.md"}
    code = main(
        ["gate", "--api-url", served.url, "--prompt-id", str(served.ids.prompt_v1_id)], environ
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "notice: JSON report written to ckaction-report.json in the workspace." in out
    assert "Report: The JSON report" not in out
    assert "Summary written to from-env.md" in out
    assert (tmp_path / "from-env.md").read_text(encoding="utf-8").startswith("## ✅ Prompt gate")
    assert "## ✅ Prompt gate" not in out  # the summary went to the file, not to stdout
