"""`ckaction pull` then `drift`, against the emulator: in process through `cli.App` with the
emulator's transport, and once over real HTTP (the CLI for pull, the action's entrypoint for drift)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from ckaction.cli import EXIT_ERROR, EXIT_OK, EXIT_REGRESSED, App, main
from ckaction.emulator import Emulator, EmulatorTransport, serve
from ckaction.liveprompt import CANDIDATE_TAG
from ckaction.promptfile import load_prompt_file
from tests.conftest import TOKEN, ActionEnv
from tests.integration.helpers import run_entrypoint

IN_PROCESS_ROOT = "http://emulator.test/orgs/acme/api/v1"
SUPPORT = "You help customers of {{shop}}.\nAnswer: {{customer_message}}"


def live_prompts() -> Emulator:
    emu = Emulator(token=TOKEN, org="acme")
    emu.add_prompt("Support reply", SUPPORT, "gpt-4o-mini", description="Replies to customers")
    emu.add_prompt("Order summary", "Summarise {{order}}", "gpt-4.1-mini")
    return emu


def api(emu: Emulator) -> httpx.Client:
    return httpx.Client(
        transport=EmulatorTransport(emu),
        base_url=IN_PROCESS_ROOT + "/",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def pull(emu: Emulator, workspace: Path, *names: str, force: bool = False) -> tuple[int, str]:
    said = io.StringIO()
    app = App({}, stream=said, transport=EmulatorTransport(emu))
    raw = {"api_token": TOKEN, "api_url": IN_PROCESS_ROOT}
    return app.pull(raw, names, workspace / "prompts", force), said.getvalue()


def drift(emu: Emulator, workspace: Path, spec: str = "prompts/*.yml") -> tuple[int, str, dict]:
    summary = workspace.parent / "summary.md"
    summary.unlink(missing_ok=True)
    app = App(
        {"GITHUB_WORKSPACE": str(workspace)},
        stream=io.StringIO(),
        transport=EmulatorTransport(emu),
        summary_file=str(summary),
    )
    raw = {"api_token": TOKEN, "api_url": IN_PROCESS_ROOT, "command": "drift", "prompt_files": spec}
    code = app.run(raw)
    report = json.loads((workspace / "ckaction-report.json").read_text(encoding="utf-8"))
    return code, summary.read_text(encoding="utf-8").replace("\\", ""), report


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


def test_pull_writes_prompt_files_that_drift_finds_equal(workspace: Path) -> None:
    emu = live_prompts()
    code, said = pull(emu, workspace, "support-reply", "Order summary")
    assert code == EXIT_OK
    assert "prompts/support-reply.yml: written from prompt 1 `Support reply` v1" in said
    assert "prompts/order-summary.yml: written from prompt 2 `Order summary` v1" in said
    loaded = load_prompt_file(workspace / "prompts" / "support-reply.yml", workspace)
    assert (loaded.prompt, loaded.llm_model, loaded.template) == (
        "Support reply",
        "gpt-4o-mini",
        SUPPORT + "\n",
    )
    assert loaded.description == "Replies to customers"

    served_before = [r for r in emu.requests if r.path.startswith("/prompts/")]
    code, summary, report = drift(emu, workspace)
    assert code == EXIT_OK, summary
    assert "Drift check: 0 of 2 prompt files differ from the live prompt" in summary
    assert "| prompts/support-reply.yml | Support reply | v1 (id 1) | nothing |" in summary
    assert report["result"] == "passed"
    assert [(d["path"], d["differs"]) for d in report["drift"]] == [
        ("prompts/order-summary.yml", []),
        ("prompts/support-reply.yml", []),
    ]
    # Drift reads the index, never `GET /prompts/:id` (a production serve each).
    assert [r for r in emu.requests if r.path.startswith("/prompts/")] == served_before


def test_drift_exits_1_with_a_table_after_someone_patches_the_live_prompt(
    workspace: Path,
) -> None:
    emu = live_prompts()
    assert pull(emu, workspace, "support-reply", "order-summary")[0] == EXIT_OK
    with api(emu) as client:
        client.patch("prompts/1", json={"template": SUPPORT + " Sign as Ana."}).raise_for_status()
        client.patch("prompts/2", json={"llm_model": "gpt-4o"}).raise_for_status()
        # A scratch candidate under the live name: never mistaken for the live prompt.
        client.post(
            "prompts",
            json={
                "name": "Support reply",
                "template": SUPPORT,
                "llm_model": "gpt-4o-mini",
                "tag_names": [CANDIDATE_TAG],
            },
        ).raise_for_status()

    code, summary, report = drift(emu, workspace)
    assert code == EXIT_REGRESSED, summary
    assert "Drift check: 2 of 2 prompt files differ from the live prompt" in summary
    assert "| prompts/support-reply.yml | Support reply | v1 (id 1) | template |" in summary
    assert "| prompts/order-summary.yml | Order summary | v1 (id 2) | model |" in summary
    assert report["result"] == "regressed"


def test_drift_after_a_patch_that_makes_a_new_version_names_that_version(
    workspace: Path,
) -> None:
    emu = live_prompts()
    assert pull(emu, workspace, "support-reply")[0] == EXIT_OK
    dataset = emu.add_dataset("tickets", [{"shop": "Acme", "customer_message": "Where is it?"}])
    with api(emu) as client:
        run = client.post("runs", json={"prompt_id": 1, "dataset_id": dataset["id"]})
        assert run.status_code == 201, run.text
        patched = client.patch("prompts/1", json={"template": "New {{shop}} {{customer_message}}"})
    assert patched.json()["version_number"] == 2
    code, summary, _ = drift(emu, workspace)
    assert code == EXIT_REGRESSED
    assert f"| Support reply | v2 (id {patched.json()['id']}) | template |" in summary


def test_pull_refuses_to_overwrite_a_different_file_unless_forced(workspace: Path) -> None:
    emu = live_prompts()
    assert pull(emu, workspace, "support-reply")[0] == EXIT_OK
    path = workspace / "prompts" / "support-reply.yml"
    pulled = path.read_text(encoding="utf-8")
    path.write_text(pulled.replace("Answer:", "Reply:"), encoding="utf-8")

    code, said = pull(emu, workspace, "support-reply")
    assert code == EXIT_ERROR
    assert "already exists and differs" in said and "--force" in said
    assert "Reply:" in path.read_text(encoding="utf-8")

    assert pull(emu, workspace, "support-reply", force=True)[0] == EXIT_OK
    assert path.read_text(encoding="utf-8") == pulled
    code, said = pull(emu, workspace, "support-reply")
    assert code == EXIT_OK and "prompts/support-reply.yml: unchanged" in said


def test_pull_never_takes_a_candidate_for_the_live_prompt(workspace: Path) -> None:
    emu = live_prompts()
    candidate = emu.add_prompt(
        "Support reply [ckaction candidate 0123456789ab]",
        SUPPORT + " v2",
        tag_names=[CANDIDATE_TAG],
    )
    code, said = pull(emu, workspace, str(candidate["family_key"]))
    assert code == EXIT_ERROR
    assert f"resolved to prompt {candidate['id']}" in said and "scratch candidate" in said
    code, said = pull(emu, workspace, "no-such-prompt")
    assert code == EXIT_ERROR and "No live prompt is named `no-such-prompt`" in said
    code, said = pull(emu, workspace, "42")
    assert code == EXIT_ERROR and "is a number" in said
    assert not (workspace / "prompts").exists()


def test_a_file_whose_prompt_is_not_live_is_an_error_unless_it_says_create(
    workspace: Path,
) -> None:
    emu = live_prompts()
    prompts = workspace / "prompts"
    prompts.mkdir()
    (prompts / "triage.yml").write_text("llm_model: m\ntemplate: Classify {{t}}\n")
    code, summary, report = drift(emu, workspace)
    assert code == EXIT_ERROR
    assert "No live prompt is named `triage` (prompts/triage.yml)" in summary
    assert report["result"] == "error"

    (prompts / "triage.yml").write_text("llm_model: m\ntemplate: Classify {{t}}\ncreate: true\n")
    code, summary, _ = drift(emu, workspace)
    assert code == EXIT_REGRESSED
    assert "| prompts/triage.yml | triage | not live | not live |" in summary


def test_drift_refuses_a_pattern_that_matches_nothing(workspace: Path) -> None:
    code, summary, report = drift(live_prompts(), workspace, "prompts/*.yml")
    assert code == EXIT_ERROR
    assert "matches no file" in summary and report["result"] == "error"


@pytest.mark.real_clock
def test_pull_and_drift_over_real_http(
    action_env: ActionEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = live_prompts()
    emu.add_prompt("Billing / refunds", "Refund {{order}}?", "gpt-4o-mini")
    workspace = action_env.workspace
    workspace.mkdir(parents=True)
    with serve(emu) as server:
        # The name holds a slash and spaces: percent-encoded, or the route would not match.
        argv = ["pull", "Support reply", "Billing / refunds", "--dir", str(workspace / "prompts")]
        code = main([*argv, "--api-url", server.url, "--api-token", TOKEN], environ={})
        assert code == EXIT_OK
        out = capsys.readouterr().out
        assert "billing-refunds.yml: written from prompt 3 `Billing / refunds` v1" in out
        assert TOKEN not in out

        inputs = {"command": "drift", "prompt-files": "prompts/*.yml", "api-url": server.url}
        result = run_entrypoint(action_env, inputs)
        assert result.code == EXIT_OK, result.stdout + result.stderr
        assert result.outputs["result"] == "passed"

        httpx.patch(
            f"{server.url}/prompts/3",
            json={"template": "Refund {{order}} now?"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).raise_for_status()
        result = run_entrypoint(action_env, inputs)
    assert result.code == EXIT_REGRESSED, result.stdout + result.stderr
    assert result.outputs["result"] == "regressed"
    assert "| prompts/billing-refunds.yml | Billing / refunds | v1 (id 3) | template |" in (
        result.summary_text
    )
    assert "| prompts/support-reply.yml | Support reply | v1 (id 1) | nothing |" in (
        result.summary_text
    )
