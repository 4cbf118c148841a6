"""`command: gate` with `prompt-files`, end to end in-process (cli.App, the emulator's transport, one
fake clock) and once over real HTTP: the pull request's own prompt file is what gets gated."""

from __future__ import annotations

import json
import re

import pytest

from ckaction.candidates import CANDIDATE_TAG, PASSED_TAG
from ckaction.emulator import Emulator
from ckaction.emulator.judging import JudgeCall, ScriptedJudge, Verdict
from ckaction.emulator.seed import TEMPLATE_V1, TEMPLATE_V2
from ckaction.liveprompt import slug_of
from ckaction.render import COMMENT_LIMIT
from tests.conftest import ActionEnv, Emulated, Served
from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github
from tests.integration.helpers import GITHUB_TOKEN, REPO, Result, run_action, run_entrypoint

LIVE = "Support reply"
PASSING = TEMPLATE_V1 + " Thank them for writing."
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"
TERSE_ROW = 2  # the row a terse template answers badly on Accuracy
POLLS_A_MINUTE = 15  # the poll rule's cap on looks a minute


def content_judge(call: JudgeCall) -> Verdict:
    """Scores by what the prompt says, whatever its id: a terse template drops Accuracy on one row."""
    terse = "terse" in str(call.prompt.get("template", ""))
    if terse and call.row_index == TERSE_ROW and call.metric.get("name") == "Accuracy":
        return Verdict(2, None, "Too terse to be accurate.")
    return ScriptedJudge(default=4)(call)


@pytest.fixture
def emu(emulated: Emulated) -> Emulated:
    emulated.emulator.judge = content_judge
    return emulated


def write(env: ActionEnv, path: str, template: str, **extra: object) -> None:
    lines = [f"prompt: {extra.pop('prompt', LIVE)}", "llm_model: gpt-4o-mini"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in extra.items()]
    lines += ["template: |", *(f"  {line}" for line in template.splitlines())]
    target = env.workspace / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def gate(
    emu: Emulated,
    env: ActionEnv,
    spec: str = "prompts/*.yml",
    inputs: dict[str, str] | None = None,
    **environment: object,
) -> Result:
    all_inputs = {"api-url": emu.url, "prompt-files": spec, **(inputs or {})}
    return run_action(emu, env, all_inputs, **environment)


def requests(emulator: Emulator, method: str, pattern: str) -> list[str]:
    return [r.path for r in emulator.requests if r.method == method and re.search(pattern, r.path)]


def prompts(emulator: Emulator) -> list[dict]:
    return emulator.list_prompts({}).items


def tags(record: dict) -> list[str]:
    return [tag["name"] for tag in record["tags"]]


def results(result: Result) -> dict:
    return json.loads(result.outputs["results"])


def test_a_changed_file_is_gated_as_a_scratch_candidate_and_the_live_prompt_is_untouched(
    emu: Emulated, action_env: ActionEnv
) -> None:
    live_before = emu.emulator.get_prompt(emu.ids.prompt_v1_id)
    write(action_env, "prompts/support-reply.yml", PASSING)
    result = gate(emu, action_env)
    assert result.code == 0, result.stdout + result.stderr
    entry = results(result)["prompts/support-reply.yml"]
    assert entry["result"] == "passed"
    assert entry["baseline-run-id"] == emu.ids.baseline_run_id
    candidates = [p for p in prompts(emu.emulator) if CANDIDATE_TAG in tags(p)]
    assert len(candidates) == 1
    (candidate,) = candidates
    assert candidate["id"] == entry["candidate-prompt-id"]
    assert candidate["name"] not in (LIVE, slug_of(LIVE))
    assert slug_of(candidate["name"]) != slug_of(LIVE)
    assert candidate["family_key"] != live_before["family_key"]
    assert emu.emulator.get_prompt(emu.ids.prompt_v1_id) == live_before
    assert requests(emu.emulator, "PATCH", r"/prompts") == []
    assert requests(emu.emulator, "POST", r"/publish$") == []
    run = emu.emulator.get_run(entry["run-id"])
    assert run["prompt_id"] == candidate["id"]
    assert PASSED_TAG in tags(run)  # the record publish trusts
    assert result.outputs["run-id"] == str(entry["run-id"])
    assert result.outputs["prompt-id"] == str(candidate["id"])
    assert "prompts/support-reply.yml" in result.summary_text


def test_a_regression_is_named_by_file_and_not_tagged_passed(
    emu: Emulated, action_env: ActionEnv
) -> None:
    write(action_env, "prompts/support-reply.yml", TEMPLATE_V2)
    result = gate(emu, action_env)
    assert result.code == 1, result.stdout
    assert result.outputs["result"] == "regressed"
    assert result.outputs["regressions"] == "1"
    entry = results(result)["prompts/support-reply.yml"]
    assert entry["result"] == "regressed" and entry["regressions"] == 1
    assert PASSED_TAG not in tags(emu.emulator.get_run(entry["run-id"]))
    (file,) = result.report["files"]
    assert file["path"] == "prompts/support-reply.yml"
    rows = [r["row_index"] for r in file["report"]["rows"] if r["status"] == "regressed"]
    assert rows == [TERSE_ROW]
    overview = result.summary_text.split("<details>")[0]
    assert re.search(r"\| prompts/support-reply\.yml \|[^\n]*regressed", overview)


def test_fail_on_regression_false_exits_0_with_the_regression_reported(
    emu: Emulated, action_env: ActionEnv
) -> None:
    write(action_env, "prompts/support-reply.yml", TEMPLATE_V2)
    result = gate(emu, action_env, inputs={"fail-on-regression": "false"})
    assert result.code == 0
    assert result.outputs["result"] == "regressed" and result.outputs["regressions"] == "1"


def test_the_same_content_on_another_commit_pays_nothing(
    emu: Emulated, action_env: ActionEnv
) -> None:
    write(action_env, "prompts/support-reply.yml", PASSING)
    first = gate(emu, action_env)
    runs_created = len(requests(emu.emulator, "POST", r"/runs$"))
    prompts_created = len(requests(emu.emulator, "POST", r"/prompts$"))
    requests_before = len(emu.emulator.requests)
    second = gate(emu, action_env, GITHUB_SHA=OTHER_SHA)
    assert second.code == 0, second.stdout
    assert results(second) == results(first)
    status_reads = [
        r
        for r in emu.emulator.requests[requests_before:]
        if r.method == "GET" and r.path == "/runs" and "prompt_id" not in r.query
    ]
    assert status_reads == []  # the reused run had finished: nothing to wait for
    assert len(requests(emu.emulator, "POST", r"/runs$")) == runs_created == 1
    assert len(requests(emu.emulator, "POST", r"/prompts$")) == prompts_created == 1
    assert len(requests(emu.emulator, "POST", r"/generate$")) == 1
    assert second.report["files"][0]["report"]["reused_run"] is True


def test_an_unchanged_file_makes_no_prompt_and_no_run(emu: Emulated, action_env: ActionEnv) -> None:
    # Trailing whitespace is not content.
    write(action_env, "prompts/support-reply.yml", TEMPLATE_V1 + "   ")
    write(action_env, "prompts/eval-only.yml", TEMPLATE_V1, eval={"judge-model": "gpt-4.1"})
    result = gate(emu, action_env)
    assert result.code == 0, result.stdout
    assert {e["result"] for e in results(result).values()} == {"unchanged"}
    assert requests(emu.emulator, "POST", r"/(runs|prompts|generate)") == []
    assert result.outputs["run-id"] == "" and result.outputs["prompt-id"] == ""
    assert "rebaseline" in result.summary_text  # an eval-only change measures nothing new


def test_a_reused_run_with_another_judge_is_not_reused(
    emu: Emulated, action_env: ActionEnv
) -> None:
    write(action_env, "prompts/support-reply.yml", PASSING)
    first = results(gate(emu, action_env))["prompts/support-reply.yml"]
    original = emu.emulator.get_run(first["run-id"])
    emu.emulator.delete_run(original["id"])
    impostor = emu.emulator.add_completed_run(
        original["prompt_id"],
        original["dataset_id"],
        original["metric_ids"],
        judge_model="some-other-judge",
        tag_names=("ckaction-gate",),
        name=original["name"],
    )
    second = gate(emu, action_env, GITHUB_SHA=OTHER_SHA)
    assert second.code == 0, second.stdout
    entry = results(second)["prompts/support-reply.yml"]
    assert entry["run-id"] not in (impostor["id"], original["id"])
    assert emu.emulator.get_run(entry["run-id"])["judge_model"] == original["judge_model"]
    assert "not reused" in second.stdout and "judge model" in second.stdout


def test_a_passed_candidate_whose_content_is_live_is_a_baseline(
    emu: Emulated, action_env: ActionEnv
) -> None:
    write(action_env, "prompts/support-reply.yml", PASSING)
    passed = results(gate(emu, action_env))["prompts/support-reply.yml"]
    # Publish makes that content live; the live version has no run of its own yet.
    emu.emulator.add_prompt(LIVE, PASSING, "gpt-4o-mini", family_key=emu.ids.family_key)
    write(action_env, "prompts/support-reply.yml", PASSING + " Sign as the shop.")
    result = gate(emu, action_env, GITHUB_SHA=OTHER_SHA)
    assert result.code == 0, result.stdout
    assert results(result)["prompts/support-reply.yml"]["baseline-run-id"] == passed["run-id"]


def test_a_smoke_dataset_never_compares_with_a_baseline_on_another_dataset(
    emu: Emulated, action_env: ActionEnv
) -> None:
    smoke = emu.emulator.add_dataset("Smoke", [{"customer_message": "Hi", "order_number": "1"}])
    write(action_env, "prompts/support-reply.yml", PASSING, eval={"dataset-id": smoke["id"]})
    result = gate(emu, action_env)
    assert result.code == 2
    error = result.report["files"][0]["report"]["error"]
    assert f"on dataset {smoke['id']}" in error["message"] and "rebaseline" in error["hint"]
    assert requests(emu.emulator, "POST", r"/(runs|prompts)$") == []


def test_a_prompt_that_is_not_found_is_an_error_for_that_file_only(
    emu: Emulated, action_env: ActionEnv
) -> None:
    write(action_env, "prompts/a-typo.yml", PASSING, prompt="Suport reply")
    write(action_env, "prompts/support-reply.yml", PASSING)
    result = gate(emu, action_env)
    assert result.code == 2
    assert result.outputs["result"] == "error"
    entries = results(result)
    assert entries["prompts/a-typo.yml"]["result"] == "error"
    assert entries["prompts/support-reply.yml"]["result"] == "passed"  # its verdict is kept
    typo = result.report["files"][0]["report"]["error"]
    assert "Suport reply" in typo["message"] and "create: true" in typo["hint"]
    assert not any(p["name"].startswith("Suport") for p in prompts(emu.emulator))


def test_create_true_scores_a_new_prompt_on_its_own(emu: Emulated, action_env: ActionEnv) -> None:
    ids = emu.ids
    write(
        action_env,
        "prompts/refund-reply.yml",
        "Explain the refund of order #{{order_number}}: {{customer_message}}",
        prompt="Refund reply",
        create=True,
        eval={"dataset-id": ids.dataset_id, "metric-ids": ids.metric_ids, "judge-model": "gpt-4.1"},
    )
    result = gate(emu, action_env)
    assert result.code == 0, result.stdout
    entry = results(result)["prompts/refund-reply.yml"]
    assert entry["result"] == "new" and entry["baseline-run-id"] is None
    run = emu.emulator.get_run(entry["run-id"])
    assert (run["dataset_id"], run["judge_model"]) == (ids.dataset_id, "gpt-4.1")
    assert PASSED_TAG in tags(run)
    assert "publish" in result.summary_text and "create the family" in result.summary_text
    assert [p for p in prompts(emu.emulator) if p["name"] == "Refund reply"] == []


def test_an_explicit_input_wins_over_the_files_eval(emu: Emulated, action_env: ActionEnv) -> None:
    write(action_env, "prompts/support-reply.yml", PASSING, eval={"judge-model": "gpt-4.1"})
    result = gate(emu, action_env, inputs={"judge-model": "gpt-4o"})
    run_id = results(result)["prompts/support-reply.yml"]["run-id"]
    assert emu.emulator.get_run(run_id)["judge_model"] == "gpt-4o"


def test_prompt_files_with_prompt_id_is_refused(emu: Emulated, action_env: ActionEnv) -> None:
    write(action_env, "prompts/support-reply.yml", PASSING)
    result = gate(emu, action_env, inputs={"prompt-id": str(emu.ids.prompt_v2_id)})
    assert result.code == 2
    assert "prompt-id" in result.stdout and "prompt-files" in result.stdout
    assert emu.emulator.requests == []


@pytest.mark.parametrize("count", [2, 30])
def test_many_files_one_comment_and_one_listing_per_look(
    emu: Emulated, action_env: ActionEnv, count: int
) -> None:
    for i in range(count):
        write(action_env, f"prompts/p{i:02}.yml", PASSING + f" Variant {i}.")
    github = FakeGitHub()
    github.add_pull(REPO, 12)
    github.add_token(GITHUB_TOKEN, ACTIONS_BOT, installation=True)
    pull = {
        "number": 12,
        "labels": [],
        "head": {"sha": "a" * 40, "repo": {"full_name": REPO}},
        "base": {"repo": {"full_name": REPO}},
    }
    with serve_github(github) as url:
        result = gate(
            emu,
            action_env,
            # 30 files' creates and starts take more than the API's 120 requests a minute.
            inputs={"github-token": GITHUB_TOKEN, "timeout-minutes": "10"},
            event="pull_request",
            payload={"action": "synchronize", "pull_request": pull},
            GITHUB_API_URL=url,
            GITHUB_REPOSITORY=REPO,
        )
    assert result.code == 0, result.stdout
    assert len(results(result)) == count
    assert {e["result"] for e in results(result).values()} == {"passed"}
    (comment,) = github.comments_on(REPO, 12)
    assert comment.body.count("<details><summary>prompts/p") == count
    assert len(comment.body) < COMMENT_LIMIT
    # Each file's baseline lookup lists runs by prompt; the wait lists the gate's tag, one request
    # a look, never one GET per run, at most the poll rule's 15 looks a minute.
    looks = [
        r
        for r in emu.emulator.requests
        if r.method == "GET" and r.path == "/runs" and "prompt_id" not in r.query
    ]
    assert looks and all(r.query.get("tag[]") == ["ckaction-gate"] for r in looks)
    assert requests(emu.emulator, "GET", r"/runs/\d+$") == []
    times = [r.time for r in looks]
    assert max(sum(1 for t in times if s <= t < s + 60) for s in times) <= POLLS_A_MINUTE
    assert len(requests(emu.emulator, "POST", r"/generate$")) == count


@pytest.mark.real_clock
def test_the_action_gates_a_prompt_file_over_real_http(
    served: Served, action_env: ActionEnv
) -> None:
    """entrypoint.py in a fresh process against the emulator on a real socket, real clock."""
    served.emulator.judge = content_judge
    write(action_env, "prompts/support-reply.yml", TEMPLATE_V2)
    inputs = {"api-url": served.url, "prompt-files": "prompts/support-reply.yml"}
    result = run_entrypoint(action_env, inputs)
    assert result.code == 1, result.stdout + result.stderr
    entry = results(result)["prompts/support-reply.yml"]
    assert entry["result"] == "regressed" and entry["regressions"] == 1
    assert "prompts/support-reply.yml" in result.summary_text


def test_a_glob_that_matches_no_file_stops_before_any_request(
    emu: Emulated, action_env: ActionEnv
) -> None:
    action_env.workspace.mkdir(parents=True, exist_ok=True)
    result = gate(emu, action_env, spec="prompts/nothing-*.yml")
    assert result.code == 2
    assert "matches no file" in result.stdout
    assert emu.emulator.requests == []


def test_a_signoff_entry_scoped_to_a_file_covers_only_that_file(
    emu: Emulated, action_env: ActionEnv
) -> None:
    write(action_env, "prompts/a.yml", TEMPLATE_V2)
    write(action_env, "prompts/b.yml", TEMPLATE_V2 + " Be brief.")
    signoffs = action_env.workspace / ".completionkit" / "signoffs.yml"
    signoffs.parent.mkdir(parents=True)
    signoffs.write_text(
        "- input: delivery address\n"
        "  metric: Accuracy\n"
        "  min-delta: -2\n"
        "  reason: terse is fine here\n"
        "  expires: 2999-12-31\n"
        "  prompt-file: prompts/a.yml\n"
    )
    result = gate(emu, action_env)
    entries = results(result)
    assert entries["prompts/a.yml"]["result"] == "passed"
    assert entries["prompts/b.yml"]["result"] == "regressed"
    assert result.code == 1 and result.outputs["signed-off"] == "1"


def test_the_label_signs_off_every_file(emu: Emulated, action_env: ActionEnv) -> None:
    write(action_env, "prompts/a.yml", TEMPLATE_V2)
    write(action_env, "prompts/b.yml", TEMPLATE_V2 + " Be brief.")
    pull = {
        "number": 12,
        "labels": [{"name": "prompt-regression-approved"}],
        "head": {"sha": "a" * 40, "repo": {"full_name": REPO}},
        "base": {"repo": {"full_name": REPO}},
    }
    result = gate(
        emu,
        action_env,
        inputs={"comment": "false"},
        event="pull_request",
        payload={"action": "synchronize", "pull_request": pull},
    )
    assert result.code == 0, result.stdout
    assert {e["result"] for e in results(result).values()} == {"passed"}
    assert result.outputs["signed-off"] == "2"
