"""The CLI door (`ckaction gate --prompt-id …`): flags and CKACTION_* variables, the summary on
stdout or in a file, exit codes, no traceback. `cli.main` always builds the real HTTP transport and
clock, so these run it in-process against the emulator served over real HTTP on a real clock (a run
of `RUN_SECONDS`)."""

from __future__ import annotations

import json

import pytest

from ckaction.cli import main
from tests.conftest import TOKEN


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Outside GitHub the workspace is the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.real_clock
def test_a_gate_outside_github_prints_the_summary_and_exits_by_verdict(served, in_tmp, capsys):
    code = main(
        ["gate", "--api-url", served.url, "--prompt-id", str(served.ids.prompt_v2_id)],
        {"CKACTION_API_TOKEN": TOKEN},
    )
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Regressed rows" in out
    assert "::" not in out.split("## ", 1)[0]  # no workflow commands outside GitHub
    assert TOKEN not in out + err
    assert (in_tmp / "ckaction-report.json").exists()


@pytest.mark.real_clock
def test_a_summary_file_and_flag_validation(served, in_tmp, capsys):
    summary = in_tmp / "eval.md"
    code = main(
        [
            "gate",
            "--api-url", served.url,
            "--prompt-id", str(served.ids.prompt_v1_id),
            "--api-token", TOKEN,
            "--summary-file", str(summary),
        ],
        {},
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "passed" in summary.read_text()
    bad = main(["gate", "--prompt-id", "x", "--api-token", TOKEN, "--org", "acme"], {})
    out, err = capsys.readouterr()
    assert bad == 2
    assert "prompt-id" in out and "Traceback" not in out + err


@pytest.mark.real_clock
def test_a_summary_file_that_cannot_be_written_keeps_the_verdict(served, in_tmp, capsys):
    code = main(
        [
            "gate",
            "--api-url", served.url,
            "--prompt-id", str(served.ids.prompt_v2_id),
            "--api-token", TOKEN,
            "--summary-file", str(in_tmp / "missing" / "dir" / "eval.md"),
        ],
        {},
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "Report not fully delivered" in out


@pytest.mark.real_clock
def test_calibrate_recommends_tolerances(served, in_tmp, capsys):
    code = main(
        [
            "calibrate",
            "--api-url", served.url,
            "--baseline-run-id", str(served.ids.baseline_run_id),
            "--api-token", TOKEN,
            "--calibration-runs", "1",
        ],
        {},
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "Recommended: row-tolerance" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"], {})
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("ckaction ")


@pytest.mark.real_clock
def test_the_demo_catches_the_regression(in_tmp, capsys):
    code = main(["demo", "--run-seconds", "0.3", "--summary-file", str(in_tmp / "demo.md")], {})
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "Regressed rows" in out
    assert "caught the regression" in out
    # The JSON report is where the notice says: in the current directory, not a deleted temp dir.
    assert "notice: JSON report written to ckaction-report.json in the workspace." in out
    assert json.loads((in_tmp / "ckaction-report.json").read_text())["result"] == "regressed"
