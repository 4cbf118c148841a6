"""Prompt files: the model, loading (every error names the file and the line), the content hash and
the candidate name, the committed JSON Schema, `prompt-files` resolution and its input rules, and
the pure halves of the live-prompt lookup, pull and drift."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ckaction.errors import InputError
from ckaction.inputs import Settings
from ckaction.liveprompt import CANDIDATE_TAG, live_in_index, names, slug_of
from ckaction.models import Prompt
from ckaction.promptfile import (
    MAX_PROMPT_FILE_BYTES,
    MAX_TEMPLATE_BYTES,
    candidate_name,
    content_of,
    load_prompt_file,
    normalise_template,
    prompt_json_schema,
    resolve_prompt_files,
)
from ckaction.promptsync import drift_of, plan_pull, prompt_file_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "prompts"


def write(workspace: Path, name: str, text: str) -> Path:
    path = workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problem(workspace: Path, name: str, text: str) -> str:
    with pytest.raises(InputError) as caught:
        load_prompt_file(write(workspace, name, text), workspace)
    assert caught.value.hint, "every prompt-file error says what to do"
    return caught.value.problems["prompt-files"]


# -- loading -------------------------------------------------------------------------------------


def test_a_yaml_file_loads_with_its_stem_as_the_prompt(tmp_path: Path) -> None:
    loaded = load_prompt_file(
        write(
            tmp_path,
            "prompts/support-reply.yml",
            "llm_model: gpt-4o-mini\ntemplate: |\n  Hi {{name}}\n"
            "eval:\n  dataset-id: 12\n  metric-ids: [1, 2, 2]\n  temperature: 0.2\n"
            "  row-tolerance: -1\n  avg-tolerance: -0.2\n  judge-model: gpt-4.1\n",
        ),
        tmp_path,
    )
    assert (loaded.path, loaded.prompt, loaded.llm_model) == (
        "prompts/support-reply.yml",
        "support-reply",
        "gpt-4o-mini",
    )
    assert loaded.template == "Hi {{name}}\n"
    assert loaded.create is False
    assert loaded.eval is not None
    assert loaded.eval.dataset_id == 12
    assert loaded.eval.metric_ids == (1, 2)  # the Settings parser: duplicates dropped
    assert loaded.eval.avg_tolerance == Decimal("-0.2")  # exact, not the float -0.2000000001
    assert loaded.eval.row_tolerance == Decimal("-1")
    assert loaded.eval.temperature == 0.2


def test_a_front_matter_file_has_its_body_as_template_and_the_stem_before_the_first_dot(
    tmp_path: Path,
) -> None:
    loaded = load_prompt_file(
        write(tmp_path, "x.prompt.md", "---\nllm_model: m\ncreate: true\n---\nBody {{a}}\r\n\n"),
        tmp_path,
    )
    assert (loaded.prompt, loaded.template, loaded.create) == ("x", "Body {{a}}\r\n\n", True)
    assert loaded.content.template == "Body {{a}}"


def test_template_file_is_read_relative_to_the_prompt_file(tmp_path: Path) -> None:
    write(tmp_path, "prompts/texts/reply.txt", "From a file {{x}}\n")
    loaded = load_prompt_file(
        write(tmp_path, "prompts/reply.yml", "llm_model: m\ntemplate_file: texts/reply.txt\n"),
        tmp_path,
    )
    assert loaded.template == "From a file {{x}}\n"


@pytest.mark.parametrize(
    ("name", "text", "where", "says"),
    [
        ("a.yml", "prompt: a\ntemplate: hi\n", "a.yml line 1", "llm_model: Field required"),
        ("a.yml", "llm_model: m\ntemplate: a\ntemplate_file: b.txt\n", "a.yml line 1", "exactly"),
        ("a.yml", "llm_model: m\n", "a.yml line 1", "exactly one of template and template_file"),
        ("a.yml", "llm_model: m\nprompt: '42'\ntemplate: t\n", "a.yml line 2", "is a number"),
        ("42.yml", "llm_model: m\ntemplate: t\n", "42.yml line 1", "is a number"),
        ("a.yml", "llm_model: m\ntemplate: t\ntemperature: 1\n", "a.yml line 3", "temperature"),
        (
            "a.yml",
            "llm_model: m\ntemplate: t\neval:\n  dataset-id: 3\n  temperature: hot\n",
            "a.yml line 5",
            "eval.temperature: expected a number",
        ),
        (
            "a.yml",
            "llm_model: m\ntemplate: t\neval:\n  metric-ids: [1, x]\n",
            "a.yml line 4",
            "is not a metric id",
        ),
        (
            "a.yml",
            "llm_model: m\ntemplate: t\neval:\n  dataset_id: 3\n",
            "a.yml line 4",
            "eval.dataset_id: Extra inputs are not permitted",
        ),
        (
            "a.yml",
            "llm_model: m\ntemplate: t\neval:\n  dataset-id: true\n",
            "a.yml line 4",
            "eval.dataset-id: expected a number, got true",
        ),
        ("a.yml", "llm_model: m\ntemplate: t\ncreate: maybe\n", "a.yml line 3", "create"),
        ("a.yml", "llm_model: 4\ntemplate: t\n", "a.yml line 1", "llm_model"),
        ("a.yml", "llm_model: m\ntemplate: [unclosed\n", "a.yml line 3", "YAML syntax"),
        ("a.yml", "- a list\n", "a.yml line 1", "expected a mapping"),
        ("a.md", "---\nllm_model: m\nbogus: 1\n---\nbody\n", "a.md line 3", "bogus"),
        ("a.md", "---\nllm_model: m\n  bad: [\n---\nbody\n", "a.md line 3", "YAML syntax"),
        ("a.md", "---\nllm_model: m\nbody without a fence\n", "a.md line 1", "no closing `---`"),
        ("a.md", "llm_model: m\n", "a.md line 1", "expected a front-matter block"),
        ("a.md", "---\nllm_model: m\ntemplate: t\n---\nbody\n", "a.md line 3", "the body"),
        (
            "a.yml",
            "llm_model: m\ntemplate_file: ../outside.txt\n",
            "a.yml line 2",
            "must be a path inside the workspace",
        ),
        (
            "a.yml",
            "llm_model: m\ntemplate_file: /etc/hostname\n",
            "a.yml line 2",
            "must be a path inside the workspace",
        ),
        (
            "a.yml",
            "llm_model: m\n\ntemplate_file: missing.txt\n",
            "a.yml line 3",
            "template_file missing.txt: does not exist",
        ),
    ],
)
def test_every_error_names_the_file_and_the_line(
    tmp_path: Path, name: str, text: str, where: str, says: str
) -> None:
    workspace = tmp_path / "ws"
    write(tmp_path, "outside.txt", "secret")
    said = problem(workspace, name, text)
    assert said.startswith(f"{where}: "), said
    assert says in said


def test_a_too_large_template_file_is_refused_at_its_line(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "x" * (MAX_TEMPLATE_BYTES + 1))
    said = problem(tmp_path, "a.yml", "llm_model: m\ntemplate_file: big.txt\n")
    assert said.startswith("a.yml line 2: template_file big.txt: is larger than"), said


def test_a_too_large_prompt_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    text = "llm_model: m\ntemplate: " + "x" * MAX_PROMPT_FILE_BYTES + "\n"
    said = problem(tmp_path, "a.yml", text)
    assert said.startswith("a.yml: is larger than 256 KiB"), said


def test_a_symlink_out_of_the_workspace_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "outside.txt", "secret")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "link.txt").symlink_to(tmp_path / "outside.txt")
    said = problem(workspace, "a.yml", "llm_model: m\ntemplate_file: link.txt\n")
    assert said.startswith("a.yml line 2: template_file 'link.txt' must be a path inside")


def test_a_prompt_file_or_template_file_that_is_not_utf8_text_or_unreadable_is_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "latin1.yml").write_bytes("llm_model: m\ntemplate: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        load_prompt_file(tmp_path / "latin1.yml", tmp_path)
    assert caught.value.problems["prompt-files"] == "latin1.yml: is not UTF-8 text"

    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    said = problem(tmp_path, "a.yml", "llm_model: m\ntemplate_file: latin1.txt\n")
    assert said == "a.yml line 2: template_file latin1.txt: is not UTF-8 text"

    (tmp_path / "folder").mkdir()
    said = problem(tmp_path, "b.yml", "llm_model: m\ntemplate_file: folder\n")
    assert said == "b.yml line 2: template_file folder: is a directory, not a regular file"


# -- content -------------------------------------------------------------------------------------


def test_content_hash_is_sha256_of_model_newline_template() -> None:
    content = content_of("gpt-4o-mini", "Hello {{name}}\r\n  \n")
    assert content.template == "Hello {{name}}"
    expected = hashlib.sha256(b"gpt-4o-mini\nHello {{name}}").hexdigest()
    assert content.digest == expected
    assert candidate_name("support-reply", content) == (
        f"support-reply [ckaction candidate {expected[:12]}]"
    )


lines = st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=20))
models = st.text(min_size=1, max_size=20)


@given(models, lines, st.sampled_from(["\n", "\r\n"]), st.text(alphabet=" \t\r\n", max_size=6))
def test_crlf_and_trailing_whitespace_never_change_the_hash(
    model: str, body: list[str], newline: str, tail: str
) -> None:
    template = "\n".join(body)
    assert content_of(model, template.replace("\n", newline) + tail) == content_of(model, template)


@given(models, models, lines, st.text(min_size=1, max_size=5))
def test_any_change_to_the_model_or_the_inner_template_changes_the_hash(
    model: str, other_model: str, body: list[str], inserted: str
) -> None:
    template = normalise_template("\n".join(body))
    base = content_of(model, template)
    if other_model != model:
        assert content_of(other_model, template).digest != base.digest
    changed = normalise_template(inserted + template)
    if changed != template:
        assert content_of(model, changed).digest != base.digest


def test_differences_name_the_model_and_the_template() -> None:
    file = content_of("a", "t")
    assert file.differences(content_of("a", "t\r\n")) == ()
    assert file.differences(content_of("b", "t")) == ("model",)
    assert file.differences(content_of("b", "u")) == ("model", "template")


# -- the schema ----------------------------------------------------------------------------------


def test_the_committed_schema_is_the_models() -> None:
    committed = (ROOT / "schema" / "prompt.schema.json").read_text(encoding="utf-8")
    assert committed == prompt_json_schema(), "run python schema/generate.py"


def test_the_schema_accepts_the_yaml_examples_and_refuses_what_the_model_refuses() -> None:
    schema = json.loads(prompt_json_schema())
    validator = jsonschema.Draft202012Validator(schema)
    yaml_examples = sorted(EXAMPLES.glob("*.yml"))
    assert len(yaml_examples) >= 2
    for path in yaml_examples:
        validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    for bad in (
        {"llm_model": "m"},
        {"llm_model": "m", "template": "t", "template_file": "f"},
        {"llm_model": "m", "template": "t", "prompt": "42"},
        {"llm_model": "m", "template": "t", "eval": {"dataset_id": 1}},
        {"template": "t"},
    ):
        assert not validator.is_valid(bad), bad


def test_every_example_prompt_file_loads_through_the_model() -> None:
    loaded = resolve_prompt_files("examples/prompts/*.yml\nexamples/prompts/*.md", ROOT)
    assert [f.path for f in loaded] == [
        "examples/prompts/order-summary.yml",
        "examples/prompts/support-reply.yml",
        "examples/prompts/triage.prompt.md",
    ]
    assert loaded[2].prompt == "triage" and loaded[2].create


# -- prompt-files --------------------------------------------------------------------------------


def test_prompt_files_resolve_sorted_by_workspace_relative_path_without_duplicates(
    tmp_path: Path,
) -> None:
    for name in ("prompts/b.yml", "prompts/a.yml", "prompts/sub/c.yml"):
        write(tmp_path, name, "llm_model: m\ntemplate: t\n")
    loaded = resolve_prompt_files("prompts/b.yml, prompts/**/*.yml\n", tmp_path)
    assert [f.path for f in loaded] == ["prompts/a.yml", "prompts/b.yml", "prompts/sub/c.yml"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("prompts/*.yaml", "matches no file"),
        ("../elsewhere/*.yml", "inside the workspace"),
        ("/etc/*.yml", "inside the workspace"),
    ],
)
def test_a_pattern_matching_nothing_or_leaving_the_workspace_is_an_input_error(
    tmp_path: Path, spec: str, says: str
) -> None:
    write(tmp_path, "prompts/a.yml", "llm_model: m\ntemplate: t\n")
    with pytest.raises(InputError) as caught:
        resolve_prompt_files(spec, tmp_path)
    assert says in caught.value.problems["prompt-files"]


BASE = {"api_token": "tok-1234", "org": "acme"}


def test_prompt_files_stand_in_for_prompt_id_and_exclude_the_id_inputs() -> None:
    assert Settings.parse({**BASE, "prompt_files": "prompts/*.yml"}).prompt_files == "prompts/*.yml"
    assert Settings.parse({**BASE, "command": "publish", "prompt_files": "p.yml"}).command == (
        "publish"
    )
    with pytest.raises(InputError) as caught:
        Settings.parse({**BASE, "prompt_files": "p.yml", "prompt_id": "3", "baseline_run_id": "4"})
    assert set(caught.value.problems) == {"prompt-id", "baseline-run-id"}
    assert "prompt-files" in caught.value.problems["prompt-id"]
    with pytest.raises(InputError) as caught:
        Settings.parse({**BASE, "command": "drift"})
    assert set(caught.value.problems) == {"prompt-files"}


def test_pull_reads_only_the_connection_inputs() -> None:
    settings = Settings.for_connection({**BASE, "prompt_id": "not an id"})
    assert settings.org == "acme" and settings.prompt_id is None
    with pytest.raises(InputError) as caught:
        Settings.for_connection({"org": "acme"})
    assert set(caught.value.problems) == {"api-token"}


# -- live prompts, pull and drift (pure halves) --------------------------------------------------


def prompt(id: int, name: str, *, current: bool = True, tags: tuple[str, ...] = ()) -> Prompt:
    return Prompt.model_validate(
        {
            "id": id,
            "name": name,
            "family_key": f"fam-{id}",
            "current": current,
            "version_number": 2,
            "llm_model": "gpt-4o-mini",
            "template": "Hello {{name}}\n",
            "tags": [{"name": tag} for tag in tags],
        }
    )


def test_a_name_lookup_in_the_index_never_returns_a_candidate_or_an_old_version() -> None:
    live = prompt(1, "Support reply")
    candidate = prompt(2, "support-reply", tags=(CANDIDATE_TAG,))
    old = prompt(3, "support-reply", current=False)
    index = (candidate, old, live)
    assert live_in_index(index, "support-reply") == live  # by slug, the only live match
    assert live_in_index(index, "Support reply") == live
    assert live_in_index(index, "fam-1") == live
    assert live_in_index(index, "fam-2") is None
    assert live_in_index((candidate, old), "support-reply") is None


def test_names_is_family_key_exact_name_or_slug() -> None:
    live = prompt(1, "GPT-4.1 reply!")
    assert slug_of(live.name) == "gpt-4-1-reply"
    assert all(names(live, asked) for asked in ("GPT-4.1 reply!", "gpt-4-1-reply", "fam-1"))
    assert not names(live, "gpt-4")  # what a route that stops at a dot would look up


def test_pulled_text_loads_back_to_the_live_content(tmp_path: Path) -> None:
    live = prompt(1, "Support reply").model_copy(
        update={"template": "Line one:\r\n\n  indented {{x}}\n\n", "description": "d"}
    )
    (pulled,) = plan_pull((live,), tmp_path / "prompts")
    assert pulled.path == tmp_path / "prompts" / "support-reply.yml"
    assert "template: |\n  Line one:\n\n    indented {{x}}\n" in pulled.text
    write(tmp_path, "prompts/support-reply.yml", pulled.text)
    loaded = load_prompt_file(pulled.path, tmp_path)
    assert loaded.prompt == "Support reply"
    assert loaded.description == "d"
    assert loaded.content == content_of("gpt-4o-mini", "Line one:\n\n  indented {{x}}")
    assert drift_of(loaded, live).differs == ()


@given(st.text(max_size=80))
def test_any_template_survives_pull_as_yaml(template: str) -> None:
    live = prompt(1, "p").model_copy(update={"template": template})
    data = yaml.safe_load(prompt_file_text(live))
    assert content_of(data["llm_model"], data["template"]) == content_of("gpt-4o-mini", template)


def test_two_prompts_on_one_file_are_refused(tmp_path: Path) -> None:
    from ckaction.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="would both be written"):
        plan_pull((prompt(1, "Support reply"), prompt(2, "support reply")), tmp_path)


def test_drift_of_a_file_names_what_differs(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", "llm_model: gpt-4.1\ntemplate: Hello {{name}}\n")
    file = load_prompt_file(tmp_path / "p.yml", tmp_path)
    row = drift_of(file, prompt(7, "p"))
    assert (row.live_id, row.live_version, row.differs) == (7, 2, ("model",))
    assert drift_of(file, None).differs == ("not live",)
