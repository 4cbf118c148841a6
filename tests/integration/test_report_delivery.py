"""The report is built once and delivered as built: the JSON file is written last, so it holds the
outputs as written (comment URL and report path included), and every report, an error's too, states
the tolerances the gate applies in full. In process against the emulator (its transport and clock)."""

from __future__ import annotations

import io
import json
from typing import Any

from ckaction.cli import EXIT_ERROR, EXIT_REGRESSED, App
from ckaction.emulator import GenerationError
from ckaction.inputs import raw_inputs_from_env
from tests.conftest import TOKEN, ActionEnv, Emulated
from tests.fakes.github_api import FakeGitHub
from tests.integration.helpers import GITHUB_TOKEN, REPO

STRICT = {"avg-gate": "significant", "max-unscored": "0.25", "row-tolerance": "-1.5"}
STRICT_JSON = {"row": -1.5, "avg": -0.5, "avg_gate": "significant", "max_unscored": 0.25}


def in_process(environ: dict[str, str], emulated: Emulated, **options: Any) -> App:
    """The composition root with the emulator's transport and clock."""
    return App(
        environ,
        stream=io.StringIO(),
        clock=emulated.time.now,
        sleep=emulated.time.sleep,
        transport=emulated.transport,
        **options,
    )


def gate(
    emulated: Emulated, action_env: ActionEnv, inputs: dict[str, str], **env: Any
) -> tuple[int, dict[str, Any]]:
    """One gate step in-process; its exit code and the JSON report it wrote."""
    environ = action_env.environ({"api-token": TOKEN, "avg-tolerance": "-0.5", **inputs}, **env)
    code = in_process(environ, emulated).run(raw_inputs_from_env(environ))
    report = json.loads((action_env.workspace / "ckaction-report.json").read_text())
    return code, report


def test_the_json_report_holds_the_outputs_as_written_comment_url_included(
    emulated: Emulated, action_env: ActionEnv, github: tuple[FakeGitHub, str]
) -> None:
    fake, url = github
    pull_request = {
        "number": 12,
        "labels": [],
        "head": {"sha": "a" * 40, "repo": {"full_name": REPO}},
        "base": {"repo": {"full_name": REPO}},
    }
    code, report = gate(
        emulated, action_env,
        {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id),
         "github-token": GITHUB_TOKEN},
        event="pull_request",
        payload={"action": "synchronize", "pull_request": pull_request},
        GITHUB_API_URL=url,
    )  # fmt: skip
    assert code == EXIT_REGRESSED
    written = action_env.outputs()
    comment_url = written["comment-url"]
    assert comment_url.endswith(f"#issuecomment-{fake.comments_on(REPO, 12)[0].id}")
    assert report["outputs"] == written
    assert report["outputs"]["report"] == "ckaction-report.json"
    assert report["delivered"] == {
        "comment_url": comment_url,
        "report_path": "ckaction-report.json",
    }


def test_a_gate_report_states_every_tolerance(emulated: Emulated, action_env: ActionEnv) -> None:
    code, report = gate(
        emulated,
        action_env,
        {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v1_id), **STRICT},
    )
    assert code == 0
    assert report["tolerances"] == STRICT_JSON
    assert report["outputs"] == action_env.outputs() and report["outputs"]["result"] == "passed"


def test_an_error_report_keeps_the_tolerances_the_gate_applies(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    code, report = gate(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": "4040", **STRICT}
    )
    assert code == EXIT_ERROR
    assert report["tolerances"] == STRICT_JSON
    assert "mean delta ≥ -0.5 or its 95% CI reaches 0" in action_env.summary()


def test_an_error_part_way_names_what_the_gate_got_to(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    def broken(prompt: object, row: object) -> str:
        raise GenerationError("model overloaded")

    emulated.emulator.generator = broken
    code, report = gate(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    assert code == EXIT_ERROR
    assert report["error"]["title"] == "Evaluation run failed"
    assert report["baseline_run"]["id"] == emulated.ids.baseline_run_id
    assert report["candidate_run"]["id"] == int(action_env.outputs()["run-id"])
    assert report["dataset_id"] == emulated.ids.dataset_id and report["judge_model"]
    assert "[run " in action_env.summary()  # the first screen links the runs it got to


def test_a_summary_that_cannot_be_written_still_leaves_outputs_and_the_json_report(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    environ = action_env.environ(
        {"api-token": TOKEN, "api-url": emulated.url, "prompt-id": str(emulated.ids.prompt_v2_id)}
    )
    unwritable = str(action_env.root / "missing" / "dir" / "summary.md")
    code = in_process(environ, emulated, summary_file=unwritable).run(raw_inputs_from_env(environ))
    assert code == EXIT_REGRESSED
    report = json.loads((action_env.workspace / "ckaction-report.json").read_text())
    assert report["result"] == "regressed"
    assert report["outputs"] == action_env.outputs()
