"""Each subcommand's `--help` says what a flag means for that command, not for all of them (the
action.yml description stays the one for every command); `pull --help` marks the connection flags
required as they are; `--summary-file` has its CKACTION_SUMMARY_FILE twin, and the help says so."""

from __future__ import annotations

import pytest

from ckaction.metadata import EVERY_COMMAND, INPUTS, inputs_of
from tests.unit.test_cli_help import entry, help_of, squeezed

OTHER_COMMANDS = {
    command: tuple(other for other in EVERY_COMMAND if other != command)
    for command in EVERY_COMMAND
}


def test_gate_help_explains_prompt_id_for_the_gate_alone(capsys):
    text = entry(help_of("gate", capsys), "--prompt-id")
    assert squeezed("Prompt version id of the candidate to score.") in text
    for other in ("publish", "rebaseline", "calibrate", "current"):
        assert other not in text


def test_drift_help_does_not_talk_about_rebaseline(capsys):
    text = help_of("drift", capsys)
    assert "Rebaseline" not in text and "rebaseline" not in text.split("options:", 1)[1]
    assert squeezed("Prompt files to compare with their live prompts") in entry(
        text, "--prompt-files"
    )


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_no_flag_help_names_another_command_as_if_it_were_one_of_several(command, capsys):
    """A description for several commands names them in parentheses ("(gate)", "(rebaseline,
    calibrate)"); a subcommand's help never shows one of those asides."""
    text = help_of(command, capsys)
    for spec in inputs_of(command):
        if spec.id == "command":
            continue
        flag_help = entry(text, f"--{spec.id}")
        for other in OTHER_COMMANDS[command]:
            assert f"({other})" not in flag_help and f"({other}," not in flag_help, (spec.id, other)


def test_the_action_keeps_the_description_for_every_command():
    spec = next(spec for spec in INPUTS if spec.id == "prompt-id")
    assert "(gate)" in spec.description and "(publish)" in spec.description
    assert spec.description_for("publish") != spec.description
    assert spec.description_for("drift") == spec.description  # no override: the shared one


def test_pull_help_marks_the_token_and_the_org_required(capsys):
    text = help_of("pull", capsys)
    assert "(required)" in entry(text, "--api-token")
    assert "(requiredunlessapi-urlisset)" in entry(text, "--org")
    assert "(requiredunlessorgisset)" in entry(text, "--api-url")
    assert "(default:30)" in entry(text, "--timeout-minutes")


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_help_names_the_summary_file_twin(command, capsys):
    text = " ".join(help_of(command, capsys).split())
    assert "CKACTION_SUMMARY_FILE" in text
    assert "all but --summary-file" not in text
