"""ckaction/metadata.py is the one source: action.yml, composite/action.yml and the README tables
are generated from it, and Settings' defaults and required inputs agree with it."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from ckaction import __version__
from ckaction.cli import EXIT_ERROR, EXIT_OK, EXIT_REGRESSED, App
from ckaction.emulator.seed import TEMPLATE_V1
from ckaction.inputs import Settings, missing_required, raw_inputs_from_env
from ckaction.metadata import (
    EVERY_COMMAND,
    INPUTS,
    OUTPUTS,
    REQUIREMENTS,
    always_required,
    plain,
)
from tests.conftest import TOKEN, ActionEnv, Emulated
from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "composite"))
import generate  # noqa: E402

REGENERATE = "stale: run python composite/generate.py"


def load(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def test_action_is_generated_from_the_metadata():
    assert (ROOT / "action.yml").read_text() == generate.render_action(), (
        f"action.yml is {REGENERATE}"
    )


def test_composite_is_generated_from_the_metadata():
    assert (ROOT / "composite/action.yml").read_text() == generate.render_composite(), (
        f"composite/action.yml is {REGENERATE}"
    )


def test_readme_tables_are_generated_from_the_metadata():
    text = (ROOT / "README.md").read_text()
    assert text == generate.render_readme(text), f"the README's tables are {REGENERATE}"


def test_action_declares_the_metadata_inputs_with_their_defaults():
    inputs = load("action.yml")["inputs"]
    assert list(inputs) == [spec.id for spec in INPUTS]
    for spec in INPUTS:
        declared = inputs[spec.id]
        assert declared.get("default") == spec.default, spec.id
        assert declared["required"] is always_required(spec.id), spec.id
        assert declared["description"].startswith(plain(spec.description)), spec.id
    assert [name for name, spec in inputs.items() if spec["required"]] == ["api-token"]


def test_action_yml_declares_the_metadata_outputs():
    outputs = load("action.yml")["outputs"]
    assert list(outputs) == [output.id for output in OUTPUTS]
    for output in OUTPUTS:
        assert outputs[output.id]["description"] == plain(output.description)


def test_both_actions_declare_the_same_inputs_and_outputs():
    root, composite = load("action.yml"), load("composite/action.yml")
    assert root["inputs"] == composite["inputs"]
    assert list(root["outputs"]) == list(composite["outputs"])
    for name, spec in composite["outputs"].items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


def test_every_input_is_forwarded_through_env_and_never_interpolated_in_run():
    composite = load("composite/action.yml")
    steps = composite["runs"]["steps"]
    run_step = next(s for s in steps if s.get("id") == "run")
    for name in composite["inputs"]:
        key = "INPUT_" + name.upper().replace("-", "_")
        assert run_step["env"][key] == f"${{{{ inputs.{name} }}}}"
    for step in steps:
        assert "${{" not in step.get("run", ""), step.get("name")
        if "uses" in step:
            assert re.search(r"@[0-9a-f]{40}$", step["uses"]), step["uses"]


def test_inputs_are_the_settings_fields_with_the_same_defaults():
    assert {spec.field for spec in INPUTS} == set(Settings.model_fields)
    required = {"api_token": "tok-1234", "org": "a", "prompt_id": "1"}
    for spec in INPUTS:
        field_default = Settings.model_fields[spec.field].default
        if spec.cli_default is None:
            assert field_default is None, spec.id
            continue
        parsed = Settings.parse({**required, spec.field: spec.cli_default})
        assert getattr(parsed, spec.field) == field_default, spec.id


def test_requirements_are_what_settings_enforces():
    """Every command runs with one input of each requirement that applies to it, and stops with
    an input error naming the requirement when none of them is given."""
    for command in EVERY_COMMAND:
        applying = [r for r in REQUIREMENTS if command in r.commands]
        for requirement in applying:
            for chosen in requirement.any_of:
                raw = {"command": command}
                raw.update({other.any_of[0].replace("-", "_"): "1" for other in applying})
                for name in requirement.any_of:
                    raw.pop(name.replace("-", "_"), None)
                assert set(missing_required(raw)) & set(requirement.any_of), (command, requirement)
                raw[chosen.replace("-", "_")] = "1"
                assert missing_required(raw) == {}, (command, chosen)


def written_outputs(
    emulated: Emulated, action_env: ActionEnv, inputs: dict[str, str], **env: str
) -> tuple[int, set]:
    """One step in-process, as the runner gives it its env: its exit code and the outputs it set."""
    environ = action_env.environ({"api-token": TOKEN, **inputs}, **env)
    app = App(
        environ,
        stream=io.StringIO(),
        clock=emulated.time.now,
        sleep=emulated.time.sleep,
        transport=emulated.transport,
    )
    return app.run(raw_inputs_from_env(environ)), set(action_env.outputs())


def test_outputs_declared_are_the_outputs_written(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """Every command, passing, regressing and failing: the union of the outputs the code really
    wrote is what action.yml declares."""
    ids: Any = emulated.ids
    api = {"api-url": emulated.url}
    github = FakeGitHub()
    github.add_pull("acme/prompts", 12)
    github.add_token("ghs_workflowtoken0123456789", ACTIONS_BOT, installation=True)
    pull_request = {
        "number": 12,
        "labels": [],
        "head": {"sha": "a" * 40, "repo": {"full_name": "acme/prompts"}},
        "base": {"repo": {"full_name": "acme/prompts"}},
    }
    written: set[str] = set()
    # A changed prompt file for the gate, and the live prompt as a file for publish (unchanged).
    prompt_file = action_env.workspace / "gated" / "support-reply.yml"
    prompt_file.parent.mkdir(parents=True)
    prompt_file.write_text(
        "prompt: Support reply\nllm_model: gpt-4o-mini\n"
        f"template: {json.dumps(TEMPLATE_V1 + ' Thank them.')}\n"
    )
    with serve_github(github) as github_url:
        steps = [
            (EXIT_OK, {**api, "prompt-files": "gated/*.yml"}, {}),
            (EXIT_OK, {**api, "prompt-id": str(ids.prompt_v1_id)}, {}),
            (
                EXIT_REGRESSED,
                {
                    **api,
                    "prompt-id": str(ids.prompt_v2_id),
                    "github-token": "ghs_workflowtoken0123456789",
                },
                {
                    "event": "pull_request",
                    "payload": {"action": "synchronize", "pull_request": pull_request},
                    "GITHUB_API_URL": github_url,
                },
            ),
            (EXIT_ERROR, {**api, "prompt-id": "4040"}, {}),
            (EXIT_OK, {**api, "command": "rebaseline", "prompt-id": str(ids.prompt_v1_id)}, {}),
            (EXIT_OK, {**api, "command": "calibrate", "prompt-id": str(ids.prompt_v1_id)}, {}),
            (EXIT_OK, {**api, "command": "publish", "prompt-files": "prompts/*.yml"}, {}),
            (EXIT_OK, {**api, "command": "publish", "prompt-id": str(ids.prompt_v2_id)}, {}),
        ]
        (action_env.workspace / "prompts").mkdir(parents=True)
        (action_env.workspace / "prompts" / "support-reply.yml").write_text(
            f"prompt: Support reply\nllm_model: gpt-4o-mini\ntemplate: {json.dumps(TEMPLATE_V1)}\n"
        )
        for expected, inputs, env in steps:
            code, outputs = written_outputs(emulated, action_env, inputs, **env)
            assert code == expected, (inputs, action_env.summary())
            written |= outputs
    assert len(github.comments_on("acme/prompts", 12)) == 1
    assert written == set(load("action.yml")["outputs"])


def test_docker_action_runs_the_prebuilt_image_of_this_version():
    runs = load("action.yml")["runs"]
    assert runs == {
        "using": "docker",
        "image": f"docker://{generate.IMAGE_REPOSITORY}:{__version__}",
    }


def readme_table(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.M)


def test_readme_documents_every_input_and_output_and_nothing_else():
    assert readme_table("### Inputs") == [spec.id for spec in INPUTS]
    assert readme_table("### Outputs") == [output.id for output in OUTPUTS]


def test_requirements_file_is_the_single_dependency_list():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dependencies = { file = ["requirements.txt"] }' in pyproject
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile
