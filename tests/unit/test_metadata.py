"""action.yml, composite/action.yml, Settings, the outputs the code writes and the README agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from ckaction.delivery import OUTPUT_NAMES
from ckaction.inputs import Settings, input_id

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "composite"))
import generate  # noqa: E402


def load(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def test_composite_is_generated_from_the_root_action():
    assert (ROOT / "composite/action.yml").read_text() == generate.render(), (
        "composite/action.yml is stale: run python composite/generate.py"
    )


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


def test_inputs_match_settings_fields_and_defaults():
    inputs = load("action.yml")["inputs"]
    fields = {input_id(name) for name in Settings.model_fields}
    assert set(inputs) == fields
    for name, spec in inputs.items():
        if "default" not in spec or name == "github-token":
            continue
        field = Settings.model_fields[name.replace("-", "_")]
        parsed = Settings.parse(
            {
                "api_token": "tok-1234",
                "org": "a",
                "prompt_id": "1",
                name.replace("-", "_"): spec["default"],
            }
        )
        assert getattr(parsed, name.replace("-", "_")) == field.default, name


def test_outputs_declared_are_the_outputs_written():
    assert list(load("action.yml")["outputs"]) == list(OUTPUT_NAMES)


def test_docker_action_runs_the_dockerfile():
    runs = load("action.yml")["runs"]
    assert runs == {"using": "docker", "image": "Dockerfile"}


def readme_table(heading: str) -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.M))


def test_readme_documents_every_input_and_output_and_nothing_else():
    assert readme_table("### Inputs") == set(load("action.yml")["inputs"])
    assert readme_table("### Outputs") == set(load("action.yml")["outputs"])


def test_requirements_file_is_the_single_dependency_list():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dependencies = { file = ["requirements.txt"] }' in pyproject
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile
