"""`ckaction <command> --help`: each command shows only the flags it reads, each with its
description, default and required mark, all taken from ckaction.metadata."""

from __future__ import annotations

import re

import pytest

from ckaction.cli import _parser, main
from ckaction.inputs import Settings
from ckaction.metadata import EVERY_COMMAND, inputs_of, plain


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"], environ={})
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def flags_in(help_text: str) -> set[str]:
    options = help_text.split("options:", 1)[1]
    return set(re.findall(r"^  (--[a-z-]+)", options, flags=re.M))


def entry(help_text: str, flag: str) -> str:
    """A flag's help entry with argparse's line wrapping undone (no whitespace at all)."""
    options = help_text.split("options:", 1)[1]
    match = re.search(rf"^  {flag} .*?(?=^  -|^\S|\Z)", options, flags=re.M | re.S)
    assert match is not None, f"{flag} is not in the help"
    return "".join(match.group(0).split())


def squeezed(text: str) -> str:
    return "".join(text.split())


def test_gate_help_describes_each_flag_with_its_default_and_required_mark(capsys):
    text = help_of("gate", capsys)
    for spec in inputs_of("gate"):
        if spec.id == "command":
            continue
        assert squeezed(plain(spec.description_for("gate"))) in entry(text, f"--{spec.id}"), spec.id
    assert "(required)" in entry(text, "--api-token")
    assert "(requiredunlessprompt-filesisset)" in entry(text, "--prompt-id")
    assert "(requiredunlessapi-urlisset)" in entry(text, "--org")
    assert "(default:30)" in entry(text, "--timeout-minutes")
    assert "(default:-0.2)" in entry(text, "--avg-tolerance")
    assert "(default:.completionkit/signoffs.yml)" in entry(text, "--signoffs-file")
    assert "(required" not in entry(text, "--baseline-run-id")
    assert "(default" not in entry(text, "--judge-model")
    # A workflow expression means nothing on a command line.
    assert "github.token" not in entry(text, "--github-token")
    assert "--calibration-runs" not in flags_in(text)
    assert "--command" not in flags_in(text)


def test_publish_help_shows_only_what_publish_reads(capsys):
    text = help_of("publish", capsys)
    assert flags_in(text) == {
        "--api-token",
        "--org",
        "--api-url",
        "--prompt-id",
        "--prompt-files",
        "--require-passed-gate",
        "--github-token",
        "--timeout-minutes",
        "--report-path",
        "--summary-file",
    }
    assert "(requiredunlessprompt-filesisset)" in entry(text, "--prompt-id")


def test_rebaseline_and_calibrate_need_prompt_id_or_baseline_run_id(capsys):
    for command, others in (("rebaseline", "orprompt-files"), ("calibrate", "")):
        text = help_of(command, capsys)
        assert f"(requiredunlessbaseline-run-id{others}isset)" in entry(text, "--prompt-id")
        assert f"(requiredunlessprompt-id{others}isset)" in entry(text, "--baseline-run-id")
        assert "--row-tolerance" not in flags_in(text)
    calibrate = flags_in(help_of("calibrate", capsys))
    assert "--calibration-runs" in calibrate and "--judge-model" not in calibrate
    assert "--judge-model" in flags_in(help_of("rebaseline", capsys))


def test_help_names_the_environment_fallbacks_and_exit_codes(capsys):
    for command in EVERY_COMMAND:
        text = " ".join(help_of(command, capsys).split())
        assert "CKACTION_<NAME>" in text and "INPUT_<NAME>" in text, command
        assert "Exit codes: 0 passed, 1 regressed, 2 error." in text, command


def test_flags_fill_the_settings_fields_and_default_to_unset():
    """Defaults stay None so CKACTION_* variables fill what the command line leaves out."""
    parser = _parser()
    for command in EVERY_COMMAND:
        unset = vars(parser.parse_args([command]))
        for spec in inputs_of(command):
            if spec.id == "command":
                continue
            assert spec.field in Settings.model_fields
            assert unset[spec.field] is None, spec.id
            given = parser.parse_args([command, f"--{spec.id}", "7"])
            assert getattr(given, spec.field) == "7", spec.id


def test_a_flag_the_command_does_not_read_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["publish", "--row-tolerance", "-1"])
    assert exit_info.value.code == 2
    assert "--row-tolerance" in capsys.readouterr().err
