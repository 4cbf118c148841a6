"""Issue 11's "Done when", walked as a new user walks it from the README: the CLI against the
emulator over real HTTP, in a scratch directory that plays the repository.

pull → edit → gate (live untouched, one scratch candidate) → regression named by file → the same
content on another commit pays nothing → publish after a pass → the next pull request finds a
baseline → publish refused for content that never passed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ckaction.candidates import CANDIDATE_TAG, PASSED_TAG
from ckaction.cli import EXIT_ERROR, EXIT_OK, EXIT_REGRESSED, main
from ckaction.emulator import Emulator
from ckaction.emulator.seed import TEMPLATE_V1
from tests.conftest import TOKEN, Served

FILE = "prompts/support-reply.yml"
LIVE_NAME = "Support reply"
# The demo judge scores every LLM-judge metric alike; its check "Mentions order number" breaks on
# every row when the template drops the order number, which is the regression the user sees.
DROPS_ORDER_NUMBER = "You are a friendly support agent. {{customer_message}} Reply helpfully."
KEEPS_ORDER_NUMBER = (
    "You are a friendly support agent. Order #{{order_number}}: {{customer_message}}"
)
NEXT_PR = KEEPS_ORDER_NUMBER + " Reply kindly."
NEVER_GATED = KEEPS_ORDER_NUMBER + " Reply briefly."


def ckaction(served: Served, *argv: str) -> tuple[int, dict]:
    """One CLI command as the README types it (credentials in CKACTION_*), and its JSON report."""
    environ = {"CKACTION_API_TOKEN": TOKEN, "CKACTION_API_URL": served.url}
    code = main(list(argv), environ=environ)
    report_path = Path("ckaction-report.json")
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return code, report


def edit(template: str) -> None:
    """What the user does in an editor: replace the template block `ckaction pull` wrote."""
    path = Path(FILE)
    head = path.read_text(encoding="utf-8").split("template: |", 1)[0]
    path.write_text(f"{head}template: |\n  {template}\n", encoding="utf-8")


def gate(served: Served, commit: str) -> tuple[int, dict]:
    return ckaction(served, "gate", "--prompt-files", "prompts/*.yml", "--commit", commit)


def publish(served: Served) -> tuple[int, dict]:
    return ckaction(served, "publish", "--prompt-files", "prompts/*.yml")


def only_entry(report: dict) -> dict:
    (entry,) = report["files"]
    assert entry["path"] == FILE
    return dict(entry)


def tagged(items: list[dict], tag: str) -> list[dict]:
    return [item for item in items if tag in {t["name"] for t in item.get("tags", [])}]


def live(emu: Emulator) -> dict:
    (current,) = [p for p in emu.list_prompts().items if p["name"] == LIVE_NAME and p["current"]]
    return current


def run_ids(emu: Emulator) -> set[int]:
    return {run["id"] for run in emu.list_runs({"limit": ["100"]}).items}


@pytest.mark.real_clock
def test_a_new_user_walks_issue_11_done_when(
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = served.emulator
    monkeypatch.chdir(tmp_path)  # the user's repository

    assert ckaction(served, "pull", LIVE_NAME, "--dir", "prompts/")[0] == EXIT_OK
    assert Path(FILE).is_file()
    live_before = live(emu)

    edit(DROPS_ORDER_NUMBER)
    code, report = gate(served, "a" * 40)
    assert code == EXIT_REGRESSED
    regressed = only_entry(report)
    assert (regressed["result"], regressed["regressions"]) == ("regressed", 10)
    assert f"| {FILE} | {LIVE_NAME} | ❌ regressed | 10 |" in capsys.readouterr().out
    assert live(emu) == live_before  # the live prompt untouched: same row, template, version
    assert live_before["template"] == TEMPLATE_V1
    (candidate,) = tagged(emu.list_prompts().items, CANDIDATE_TAG)
    assert candidate["id"] == regressed["candidate-prompt-id"]
    assert candidate["name"].startswith(f"{LIVE_NAME} [ckaction candidate ")

    runs_before = run_ids(emu)
    code, report = gate(served, "b" * 40)  # the same content on another commit
    assert code == EXIT_REGRESSED
    assert only_entry(report)["run-id"] == regressed["run-id"]
    assert run_ids(emu) == runs_before  # no new run: nothing paid

    edit(KEEPS_ORDER_NUMBER)
    code, report = gate(served, "c" * 40)
    assert code == EXIT_OK
    passed = only_entry(report)
    assert passed["result"] == "passed"
    assert passed["run-id"] in {r["id"] for r in tagged(emu.list_runs().items, PASSED_TAG)}

    runs_before = run_ids(emu)
    code, report = publish(served)
    assert (code, only_entry(report)["result"]) == (EXIT_OK, "passed")
    assert live(emu)["template"].rstrip() == KEEPS_ORDER_NUMBER
    assert run_ids(emu) == runs_before  # publish never pays for a run

    edit(NEXT_PR)
    code, report = gate(served, "d" * 40)
    assert code == EXIT_OK
    assert only_entry(report)["baseline-run-id"] == passed["run-id"]  # the run that passed

    edit(NEVER_GATED)
    live_published = live(emu)
    code, report = publish(served)
    assert code == EXIT_ERROR
    assert report["error"]["title"] == "Publish refused"
    assert "never passed a gate" in report["error"]["message"]
    assert only_entry(report)["result"] == "error"
    assert live(emu) == live_published  # nothing was published
