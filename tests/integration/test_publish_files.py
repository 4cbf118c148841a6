"""`command: publish` with `prompt-files`: only content that passed a gate is released, all or
nothing, without erasing the previous version, without paying for a run, and never from a commit that
is no longer its branch's head. In process (the emulator's transport, the fake GitHub over HTTP for
the head check), and once over real HTTP through the action's entrypoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ckaction.candidates import ANCHOR_TAG, CANDIDATE_TAG, PASSED_TAG
from ckaction.emulator import Emulator, Fault
from ckaction.emulator.seed import TEMPLATE_V1
from ckaction.flow import GATE_TAG
from ckaction.promptfile import candidate_name, content_of
from tests.conftest import ActionEnv, Emulated, Served
from tests.fakes.github_api import FakeGitHub
from tests.integration.helpers import run_action, run_entrypoint

NEW_TEMPLATE = "You are a calm support agent. Order #{{order_number}}: {{customer_message}}"
ORDER_TEMPLATE = "Summarise order #{{order_number}} for {{customer_message}}"
PUSHED = "a" * 40
NEWER = "b" * 40
REPO = "acme/prompts"


def write_file(
    workspace: Path,
    name: str,
    prompt: str,
    template: str,
    *,
    create: bool = False,
    description: str | None = None,
) -> None:
    (workspace / "prompts").mkdir(parents=True, exist_ok=True)
    lines = [f"prompt: {prompt}", "llm_model: gpt-4o-mini"]
    if create:
        lines.append("create: true")
    if description is not None:
        lines.append(f"description: {description}")
    lines.append("template: " + json.dumps(template))
    (workspace / "prompts" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def passed_candidate(emulated: Emulated, live_name: str, template: str) -> tuple[int, int]:
    """What a passing gate leaves behind: the scratch candidate of this content and its run tagged
    ckaction-passed. (candidate id, run id)"""
    emu, ids = emulated.emulator, emulated.ids
    content = content_of("gpt-4o-mini", template)
    candidate = emu.add_prompt(
        candidate_name(live_name, content), content.template, tag_names=[CANDIDATE_TAG]
    )
    run = emu.add_completed_run(
        candidate["id"],
        ids.dataset_id,
        ids.metric_ids,
        judge_model=ids.judge_model,
        tag_names=[GATE_TAG, PASSED_TAG],
    )
    return candidate["id"], run["id"]


def publish(emulated: Emulated, env: ActionEnv, **inputs: str) -> object:
    return run_action(
        emulated,
        env,
        {"api-url": emulated.url, "command": "publish", "prompt-files": "prompts/*.yml", **inputs},
    )


def writes(emu: Emulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.requests if r.method != "GET"]


def family(emu: Emulator, family_key: str) -> list[dict]:
    rows = [p for p in emu.list_prompts({"limit": ["100"]}).items if p["family_key"] == family_key]
    return sorted(rows, key=lambda p: p["id"])


def test_publish_after_a_pass_makes_a_new_live_version_and_keeps_the_old_one(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu, ids = emulated.emulator, emulated.ids
    candidate_id, run_id = passed_candidate(emulated, "Support reply", NEW_TEMPLATE)
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = publish(emulated, action_env)
    assert result.code == 0, result.stdout
    live = emu.get_prompt(ids.family_key)
    assert (live["template"], live["current"]) == (NEW_TEMPLATE, True)
    assert result.outputs["prompt-id"] == str(live["id"])
    assert result.outputs["version-number"] == str(live["version_number"])
    old = emu.get_prompt(ids.prompt_v1_id)
    assert (old["template"], old["current"]) == (TEMPLATE_V1, False)
    assert json.loads(result.outputs["results"]) == {
        "prompts/support-reply.yml": {
            "result": "passed",
            "run-id": None,
            "baseline-run-id": None,
            "candidate-prompt-id": candidate_id,
            "regressions": 0,
        }
    }
    assert f"its gate run {run_id} passed" in result.summary_text
    # Publish never pays for a run: one PATCH, nothing started.
    assert writes(emu) == [f"PATCH /prompts/{ids.prompt_v1_id}"]

    again = publish(emulated, action_env)
    assert again.code == 0
    assert json.loads(again.outputs["results"])["prompts/support-reply.yml"]["result"] == (
        "unchanged"
    )
    assert "already has this content: nothing to publish" in again.summary_text
    assert len(writes(emu)) == 1


def test_content_that_never_passed_is_refused_and_nothing_changes(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu, ids = emulated.emulator, emulated.ids
    # A candidate of this content whose gate did not pass: tagged as a gate run, not as passed.
    content = content_of("gpt-4o-mini", NEW_TEMPLATE)
    failed = emu.add_prompt(
        candidate_name("Support reply", content), content.template, tag_names=[CANDIDATE_TAG]
    )
    emu.add_completed_run(failed["id"], ids.dataset_id, ids.metric_ids, tag_names=[GATE_TAG])
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = publish(emulated, action_env)
    assert result.code == 2
    assert "This content never passed a gate: prompts/support-reply.yml" in result.summary_text
    assert writes(emu) == []
    assert emu.get_prompt(ids.family_key)["id"] == ids.prompt_v1_id
    entry = json.loads(result.outputs["results"])["prompts/support-reply.yml"]
    assert entry["result"] == "error"


def test_require_passed_gate_false_publishes_content_without_a_gate(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu, ids = emulated.emulator, emulated.ids
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = publish(emulated, action_env, **{"require-passed-gate": "false"})
    assert result.code == 0, result.stdout
    assert emu.get_prompt(ids.family_key)["template"] == NEW_TEMPLATE
    assert "no gate required" in result.summary_text


def test_all_or_nothing_when_one_of_two_files_never_passed(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu, ids = emulated.emulator, emulated.ids
    order = emu.add_prompt("Order summary", ORDER_TEMPLATE)
    passed_candidate(emulated, "Support reply", NEW_TEMPLATE)
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    write_file(action_env.workspace, "order-summary.yml", "Order summary", ORDER_TEMPLATE + " now")
    result = publish(emulated, action_env)
    assert result.code == 2
    assert "never passed a gate: prompts/order-summary.yml (`Order summary`)" in (
        result.summary_text
    )
    assert writes(emu) == []
    assert emu.get_prompt(ids.family_key)["id"] == ids.prompt_v1_id
    assert emu.get_prompt("Order summary")["id"] == order["id"]
    results = json.loads(result.outputs["results"])
    assert {path: entry["result"] for path, entry in results.items()} == {
        "prompts/order-summary.yml": "error",
        "prompts/support-reply.yml": "error",
    }
    reports = {f["path"]: f["report"]["error"]["title"] for f in result.report["files"]}
    assert reports == {
        "prompts/order-summary.yml": "Never passed a gate",
        "prompts/support-reply.yml": "Not published",
    }


def test_a_lost_patch_answer_is_read_back_not_sent_again(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu, ids = emulated.emulator, emulated.ids
    passed_candidate(emulated, "Support reply", NEW_TEMPLATE)
    lost = Fault("PATCH", r"/prompts/\d+$", status=502, after_processing=True)
    emu.faults.append(lost)
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = publish(emulated, action_env)
    assert result.code == 0, result.stdout
    assert lost.hits == 1
    assert writes(emu) == [f"PATCH /prompts/{ids.prompt_v1_id}"]
    versions = family(emu, ids.family_key)
    assert [v["template"] for v in versions if v["current"]] == [NEW_TEMPLATE]
    assert sum(v["template"] == NEW_TEMPLATE for v in versions) == 1
    assert result.outputs["prompt-id"] == str(emu.get_prompt(ids.family_key)["id"])


def test_a_live_row_without_runs_is_anchored_so_its_version_survives(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu = emulated.emulator
    order = emu.add_prompt("Order summary", ORDER_TEMPLATE)
    new_template = ORDER_TEMPLATE + " in one line"
    passed_candidate(emulated, "Order summary", new_template)
    write_file(action_env.workspace, "order-summary.yml", "Order summary", new_template)
    result = publish(emulated, action_env)
    assert result.code == 0, result.stdout
    old = emu.get_prompt(order["id"])
    assert (old["template"], old["current"]) == (ORDER_TEMPLATE, False)
    live = emu.get_prompt("Order summary")
    assert (live["template"], live["version_number"]) == (new_template, 2)
    created = [r for r in emu.requests if r.method == "POST" and r.path == "/runs"]
    assert len(created) == 1 and created[0].body["tag_names"] == [ANCHOR_TAG]
    assert created[0].body["prompt_id"] == order["id"]
    deleted = [r.path for r in emu.requests if r.method == "DELETE"]
    assert len(deleted) == 1 and deleted[0].startswith("/runs/")
    assert emu.list_runs({"prompt_id": [str(order["id"])]}).items == []  # the anchor is gone
    assert not any(r.path.endswith("/generate") for r in emu.requests)


def test_a_new_prompt_is_created_under_its_name(emulated: Emulated, action_env: ActionEnv) -> None:
    emu = emulated.emulator
    passed_candidate(emulated, "Refund policy", ORDER_TEMPLATE)
    write_file(action_env.workspace, "refund.yml", "Refund policy", ORDER_TEMPLATE, create=True)
    result = publish(emulated, action_env)
    assert result.code == 0, result.stdout
    created = emu.get_prompt("Refund policy")
    assert (created["template"], created["current"]) == (ORDER_TEMPLATE, True)
    assert CANDIDATE_TAG not in [t["name"] for t in created["tags"]]
    assert json.loads(result.outputs["results"])["prompts/refund.yml"]["result"] == "new"
    assert writes(emu) == ["POST /prompts"]


def test_a_description_alone_is_never_released(emulated: Emulated, action_env: ActionEnv) -> None:
    emu = emulated.emulator
    write_file(
        action_env.workspace, "support-reply.yml", "Support reply", TEMPLATE_V1, description="New"
    )
    result = publish(emulated, action_env)
    assert result.code == 0, result.stdout
    assert "a description alone is never released" in result.summary_text
    assert writes(emu) == []


def push(emulated: Emulated, env: ActionEnv, api_url: str) -> object:
    return run_action(
        emulated,
        env,
        {"api-url": emulated.url, "command": "publish", "prompt-files": "prompts/*.yml"},
        event="push",
        payload={"after": PUSHED, "ref": "refs/heads/main"},
        GITHUB_REF="refs/heads/main",
        GITHUB_API_URL=api_url,
    )


def test_a_push_that_is_no_longer_the_head_publishes_nothing(
    emulated: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    fake, url = checked_github
    emu, ids = emulated.emulator, emulated.ids
    fake.set_branch(REPO, "main", NEWER)
    passed_candidate(emulated, "Support reply", NEW_TEMPLATE)
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = push(emulated, action_env, url)
    assert result.code == 0, result.stdout
    assert f"Commit {PUSHED[:12]} is no longer the head of main" in result.summary_text
    assert "the newer commit's publish releases its content" in result.summary_text
    assert fake.calls() == [f"GET /repos/{REPO}/git/ref/heads/main"]
    assert writes(emu) == []
    assert emu.get_prompt(ids.family_key)["id"] == ids.prompt_v1_id


def test_a_push_that_is_the_head_publishes(
    emulated: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    fake, url = checked_github
    fake.set_branch(REPO, "main", PUSHED)
    passed_candidate(emulated, "Support reply", NEW_TEMPLATE)
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = push(emulated, action_env, url)
    assert result.code == 0, result.stdout
    assert emulated.emulator.get_prompt(emulated.ids.family_key)["template"] == NEW_TEMPLATE
    assert "no longer the head" not in result.summary_text


def test_an_unreadable_head_publishes_and_says_so(
    emulated: Emulated, action_env: ActionEnv, checked_github: tuple[FakeGitHub, str]
) -> None:
    _, url = checked_github  # the fake knows no branch main: 404
    passed_candidate(emulated, "Support reply", NEW_TEMPLATE)
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = push(emulated, action_env, url)
    assert result.code == 0, result.stdout
    assert "Could not read the head of main from GitHub (Not Found)" in result.summary_text
    assert emulated.emulator.get_prompt(emulated.ids.family_key)["template"] == NEW_TEMPLATE


@pytest.mark.real_clock
def test_publish_over_real_http(served: Served, action_env: ActionEnv) -> None:
    emu, ids = served.emulator, served.ids
    content = content_of("gpt-4o-mini", NEW_TEMPLATE)
    candidate = emu.add_prompt(
        candidate_name("Support reply", content), content.template, tag_names=[CANDIDATE_TAG]
    )
    emu.add_completed_run(
        candidate["id"], ids.dataset_id, ids.metric_ids, tag_names=[GATE_TAG, PASSED_TAG]
    )
    write_file(action_env.workspace, "support-reply.yml", "Support reply", NEW_TEMPLATE)
    result = run_entrypoint(
        action_env,
        {"api-url": served.url, "command": "publish", "prompt-files": "prompts/*.yml"},
    )
    assert result.code == 0, result.stdout + result.stderr
    live = emu.get_prompt(ids.family_key)
    assert live["template"] == NEW_TEMPLATE and live["id"] != ids.prompt_v1_id
    assert emu.get_prompt(ids.prompt_v1_id)["template"] == TEMPLATE_V1
    assert result.outputs["version-number"] == str(live["version_number"])
