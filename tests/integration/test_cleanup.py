"""`command: cleanup` (and `ckaction cleanup`): only scratch candidates (tag and name pattern) that
nobody needs are deleted, and only when `dry-run` is false. In process through `cli.App`, and the CLI
door over real HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ckaction.candidates import CANDIDATE_TAG, PASSED_TAG
from ckaction.cli import main
from ckaction.emulator import Emulator
from ckaction.emulator.seed import TEMPLATE_V1, DemoIds
from ckaction.flow import GATE_TAG
from ckaction.promptfile import candidate_name, content_of
from tests.conftest import TOKEN, ActionEnv, Emulated, Served
from tests.integration.helpers import run_action

TEMPLATE = "Answer about order #{{order_number}}: {{customer_message}}"


@dataclass(frozen=True)
class Org:
    """Prompt ids: the two candidates cleanup may delete, and everything it must keep."""

    stale: int  # a candidate whose gate did not pass
    stale_without_runs: int
    live_content: int  # a candidate of the live prompt's content, its run passed
    passed_not_live: int
    name_only: int  # the candidate name pattern, no tag
    tag_only: int  # the tag, no name pattern

    @property
    def kept(self) -> set[int]:
        return {self.live_content, self.passed_not_live, self.name_only, self.tag_only}


def candidate(emu: Emulator, template: str, *, tagged: bool = True, named: bool = True) -> int:
    content = content_of("gpt-4o-mini", template)
    name = candidate_name("Support reply", content) if named else "Support reply (copy)"
    tags = [CANDIDATE_TAG] if tagged else []
    return int(emu.add_prompt(name, content.template, tag_names=tags)["id"])


def scored(emu: Emulator, ids: DemoIds, prompt_id: int, *tags: str) -> None:
    emu.add_completed_run(
        prompt_id, ids.dataset_id, ids.metric_ids, judge_model=ids.judge_model, tag_names=tags
    )


def populate(emu: Emulator, ids: DemoIds) -> Org:
    org = Org(
        stale=candidate(emu, TEMPLATE + " v1"),
        stale_without_runs=candidate(emu, TEMPLATE + " v2"),
        live_content=candidate(emu, TEMPLATE_V1),
        passed_not_live=candidate(emu, TEMPLATE + " v3"),
        name_only=candidate(emu, TEMPLATE + " v4", tagged=False),
        tag_only=candidate(emu, TEMPLATE + " v5", named=False),
    )
    scored(emu, ids, org.stale, GATE_TAG)
    scored(emu, ids, org.live_content, GATE_TAG, PASSED_TAG)
    scored(emu, ids, org.passed_not_live, GATE_TAG, PASSED_TAG)
    return org


def prompt_ids(emu: Emulator) -> set[int]:
    return {p["id"] for p in emu.list_prompts({"limit": ["100"]}).items}


def cleanup(emulated: Emulated, env: ActionEnv, **inputs: str):
    return run_action(emulated, env, {"api-url": emulated.url, "command": "cleanup", **inputs})


def test_a_dry_run_lists_what_would_go_and_deletes_nothing(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu = emulated.emulator
    org = populate(emu, emulated.ids)
    before = prompt_ids(emu)
    result = cleanup(emulated, action_env, **{"keep-days": "0"})
    assert result.code == 0, result.stdout
    assert prompt_ids(emu) == before
    assert not [r for r in emu.requests if r.method == "DELETE"]
    done = result.report["done"]
    prefix = "Would delete scratch candidate "
    listed = sorted(int(line.split()[4]) for line in done if line.startswith(prefix))
    assert listed == sorted([org.stale, org.stale_without_runs])
    assert done[-1].startswith("Would delete 2 of 4 scratch candidates")
    assert "set dry-run to false (`--dry-run false` on the CLI) to delete them" in done[-1]


def test_cleanup_deletes_only_stale_candidates_nobody_needs(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu = emulated.emulator
    org = populate(emu, emulated.ids)
    before = prompt_ids(emu)
    result = cleanup(emulated, action_env, **{"keep-days": "0", "dry-run": "false"})
    assert result.code == 0, result.stdout
    assert prompt_ids(emu) == before - {org.stale, org.stale_without_runs}
    assert org.kept <= prompt_ids(emu)
    deleted = sorted(r.path for r in emu.requests if r.method == "DELETE")
    assert deleted == sorted([f"/prompts/{org.stale}", f"/prompts/{org.stale_without_runs}"])
    assert f"Deleted scratch candidate {org.stale} " in result.summary_text
    assert result.report["done"][-1].startswith("Deleted 2 of 4 scratch candidates")


def test_recent_candidates_are_kept(emulated: Emulated, action_env: ActionEnv) -> None:
    emu = emulated.emulator
    populate(emu, emulated.ids)
    before = prompt_ids(emu)
    result = cleanup(emulated, action_env, **{"dry-run": "false"})  # keep-days 30
    assert result.code == 0, result.stdout
    assert prompt_ids(emu) == before
    assert result.report["done"] == [
        "Deleted 0 of 4 scratch candidates inactive for more than 30 days; kept 4 (recent, "
        "live content, or passed and not live yet)."
    ]


@pytest.mark.real_clock
def test_the_cli_cleans_up_over_http(served: Served, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    emu = served.emulator
    org = populate(emu, served.ids)
    code = main(
        ["cleanup", "--api-url", served.url, "--keep-days", "0", "--dry-run", "false"],
        {"CKACTION_API_TOKEN": TOKEN},
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert org.stale not in prompt_ids(emu) and org.kept <= prompt_ids(emu)
    report = json.loads((tmp_path / "ckaction-report.json").read_text())
    assert report["command"] == "cleanup" and len(report["done"]) == 3
