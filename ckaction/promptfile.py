"""Prompt files: one prompt per file, kept in git, validated by a pydantic model.

    # prompts/support-reply.yml
    prompt: support-reply        # the live prompt: family_key, exact name or slug; default: the stem
    llm_model: gpt-4o-mini       # required
    template: |                  # or template_file: support-reply.md (relative to this file)
      You are a support agent for {{shop}}. Answer: {{customer_message}}
    eval:                        # optional: this prompt's defaults for the step's inputs
      dataset-id: 12

A Markdown or text file with a YAML front-matter block (`---` … `---`) whose body is the template is
the same model. Errors name the file and the line, as the sign-off file's do. The content (what a gate
measures and publish releases) is the model plus the normalised template; its sha256 names the
scratch candidate. Loading reads files; everything else here is pure.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ckaction import safefile
from ckaction.errors import InputError
from ckaction.inputs import (
    Settings,
    parse_decimal,
    parse_finite_float,
    parse_int_id,
    parse_metric_ids,
)

INPUT = "prompt-files"
MAX_PROMPT_FILE_BYTES = safefile.MAX_FILE_BYTES
MAX_TEMPLATE_BYTES = safefile.MAX_FILE_BYTES
CANDIDATE_HASH_CHARS = 12
YAML_SUFFIXES = (".yml", ".yaml")
FRONT_MATTER_FENCE = "---"
DIGITS = re.compile(r"^\d+$")
SCHEMA_ID = "https://github.com/ckaction/ckaction/blob/main/schema/prompt.schema.json"
FILE_HINT = "Fix the prompt file: schema/prompt.schema.json describes every key."


def _numbers_as_text(value: Any) -> Any:
    """YAML reads `-0.2` as a float; the Settings parsers read text, so give them the text. YAML's
    `true` is no number (pydantic would read it as 1)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    if isinstance(value, int | float):
        return str(value)
    return value


class EvalDefaults(BaseModel):
    """This prompt's defaults for the step's inputs, spelled as the inputs; an input the step sets
    explicitly wins. Validated with the parsers `Settings` uses."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # only the inputs' spelling

    dataset_id: int | None = Field(
        None, alias="dataset-id", description="Dataset to score on (`dataset-id`)."
    )
    metric_ids: tuple[int, ...] | None = Field(
        None, alias="metric-ids", description="Metric ids, a list such as [1, 2, 3]."
    )
    judge_model: str | None = Field(
        None, alias="judge-model", min_length=1, description="Judge model for LLM-judge metrics."
    )
    temperature: float | None = Field(
        None, ge=0, le=2, description="Generation temperature, 0 to 2."
    )
    row_tolerance: Decimal | None = Field(
        None, alias="row-tolerance", description="A row regresses when a delta is below this."
    )
    avg_tolerance: Decimal | None = Field(
        None, alias="avg-tolerance", description="A metric regresses when its mean delta is below."
    )

    @field_validator("dataset_id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return parse_int_id(_numbers_as_text(value))

    @field_validator("metric_ids", mode="before")
    @classmethod
    def _metric_ids(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        return parse_metric_ids(str(_numbers_as_text(value))) if value is not None else None

    @field_validator("temperature", mode="before")
    @classmethod
    def _temperature(cls, value: Any) -> Any:
        return parse_finite_float(_numbers_as_text(value))

    @field_validator("row_tolerance", "avg_tolerance", mode="before")
    @classmethod
    def _tolerance(cls, value: Any) -> Any:
        return parse_decimal(_numbers_as_text(value))


class PromptFileModel(BaseModel):
    """What a prompt file says (`schema/prompt.schema.json` is generated from this model)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="ckaction prompt file",
        json_schema_extra={
            "$id": SCHEMA_ID,
            "oneOf": [{"required": ["template"]}, {"required": ["template_file"]}],
        },
    )

    prompt: str | None = Field(
        None,
        min_length=1,
        json_schema_extra={"pattern": r"\D"},  # never all digits: ids belong to prompt-id
        description="The live prompt: its family_key, exact name or slug (never a numeric id). "
        "Default: the file's stem (`support-reply` for support-reply.yml or support-reply.prompt.md).",
    )
    llm_model: str = Field(min_length=1, description="The generation model, e.g. gpt-4o-mini.")
    template: str | None = Field(
        None,
        description="The prompt template with {{variable}} placeholders. "
        "Exactly one of template and template_file.",
    )
    template_file: str | None = Field(
        None,
        min_length=1,
        description="A file holding the template, relative to this file, inside the workspace.",
    )
    description: str | None = Field(None, description="Sent with a content change; not content.")
    create: bool = Field(
        False,
        description="true: when the prompt is not found, this file is a new prompt that publish "
        "creates. Without it a name that is not found is an error (a typo never creates one).",
    )
    eval: EvalDefaults | None = Field(
        None, description="This prompt's defaults for the step's inputs (the step's inputs win)."
    )

    @field_validator("prompt")
    @classmethod
    def _not_an_id(cls, value: str | None) -> str | None:
        if value is not None and DIGITS.fullmatch(value.strip()):
            raise ValueError(
                f"{value!r} is a number: name the prompt by its name, slug or family_key "
                "(ids belong to the prompt-id input)"
            )
        return value

    @model_validator(mode="after")
    def _one_template(self) -> PromptFileModel:
        if (self.template is None) == (self.template_file is None):
            raise ValueError("give exactly one of template and template_file")
        return self


def prompt_json_schema() -> str:
    """`schema/prompt.schema.json`: the JSON Schema of a YAML prompt file, for editors and CI."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(PromptFileModel.model_json_schema())
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Content:
    """What a gate measures and publish releases: the model and the normalised template."""

    llm_model: str
    template: str

    @property
    def digest(self) -> str:
        """sha256 over the UTF-8 of `llm_model + "\\n" + template`, hex. A lone surrogate (JSON
        can carry one) is encoded as is rather than failing."""
        text = f"{self.llm_model}\n{self.template}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def differences(self, other: Content) -> tuple[str, ...]:
        """Which parts differ: ("model",), ("template",), both or none."""
        return tuple(
            part
            for part, differs in (
                ("model", self.llm_model != other.llm_model),
                ("template", self.template != other.template),
            )
            if differs
        )


def normalise_template(template: str) -> str:
    """CRLF → LF; trailing whitespace and newlines at the end removed."""
    return template.replace("\r\n", "\n").rstrip()


def content_of(llm_model: str, template: str) -> Content:
    return Content(llm_model, normalise_template(template))


def candidate_name(live_name: str, content: Content) -> str:
    """The scratch candidate's name: never the live prompt's name or slug."""
    return f"{live_name} [ckaction candidate {content.digest[:CANDIDATE_HASH_CHARS]}]"


def stem_of(path: PurePosixPath | Path) -> str:
    """`support-reply.yml` → `support-reply`; `x.prompt.md` → `x`."""
    return path.name.split(".", 1)[0]


@dataclass(frozen=True)
class PromptFile:
    """A loaded prompt file: `path` is workspace-relative POSIX, `template` read from
    `template_file` when the file names one."""

    path: str
    prompt: str
    llm_model: str
    template: str
    description: str | None = None
    create: bool = False
    eval: EvalDefaults | None = None

    @property
    def content(self) -> Content:
        return content_of(self.llm_model, self.template)


class _Lines:
    """Line numbers of a YAML mapping's keys (1-based, in the prompt file), for errors."""

    def __init__(self, node: yaml.Node | None, offset: int) -> None:
        self.node = node
        self.offset = offset

    def of(self, loc: tuple[int | str, ...]) -> int:
        node = self.node
        line = (node.start_mark.line if node is not None else 0) + 1
        for part in loc:
            if not isinstance(node, yaml.MappingNode):
                break
            match = next((kv for kv in node.value if kv[0].value == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        return line + self.offset


def _error(display: str, line: int | None, problem: str) -> InputError:
    where = f" line {line}" if line is not None else ""
    return InputError({INPUT: f"{display}{where}: {problem}"}, hint=FILE_HINT)


def _split_front_matter(text: str, display: str) -> tuple[str, str]:
    """(front matter YAML, body) of a Markdown or text prompt file."""
    lines = text.split("\n")
    if lines[0].rstrip("\r") != FRONT_MATTER_FENCE:
        raise _error(display, 1, "expected a front-matter block: `---`, the YAML keys, `---`")
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip("\r") == FRONT_MATTER_FENCE:
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise _error(display, 1, "the front matter opened here has no closing `---` line")


def _compose(text: str, display: str, offset: int) -> tuple[Any, yaml.Node | None]:
    try:
        node = safefile.compose(text)
        data = safefile.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 + offset if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise _error(display, line, f"YAML syntax: {problem}") from None
    if not isinstance(data, dict):
        line = (node.start_mark.line + 1 if node is not None else 1) + offset
        raise _error(
            display, line, "expected a mapping of keys such as prompt, llm_model, template"
        )
    return data, node


def _read(path: Path, display: str, limit: int) -> str:
    """A file from the pull request, read as `safefile` reads (a regular file, size capped)."""
    try:
        return safefile.read_text(path, limit)
    except safefile.Refused as exc:
        raise _error(display, None, str(exc)) from None
    except FileNotFoundError:
        raise _error(display, None, "does not exist") from None
    except OSError as exc:
        raise _error(display, None, f"cannot be read ({exc.strerror})") from None


def _inside(path: Path, workspace: Path) -> bool:
    return path.resolve().is_relative_to(workspace.resolve())


def _template_from_file(
    model: PromptFileModel, path: Path, workspace: Path, display: str, line: int
) -> str:
    assert model.template_file is not None
    name = model.template_file
    target = path.parent / name
    if (
        PurePosixPath(name).is_absolute()
        or Path(name).is_absolute()
        or not _inside(target, workspace)
    ):
        raise _error(display, line, f"template_file {name!r} must be a path inside the workspace")
    where = target.resolve().relative_to(workspace.resolve()).as_posix()
    try:
        return _read(target, where, MAX_TEMPLATE_BYTES)
    except InputError as exc:
        raise _error(display, line, f"template_file {exc.problems[INPUT]}") from None


def load_prompt_file(path: Path, workspace: Path) -> PromptFile:
    """Read and validate one prompt file; any problem is an `InputError` naming file and line."""
    display = path.resolve().relative_to(workspace.resolve()).as_posix()
    text = _read(path, display, MAX_PROMPT_FILE_BYTES).removeprefix("\ufeff")
    front_matter = path.suffix.lower() not in YAML_SUFFIXES
    body: str | None = None
    offset = 0
    if front_matter:
        text, body = _split_front_matter(text, display)
        offset = 1  # the opening `---`
    data, node = _compose(text, display, offset)
    lines = _Lines(node, offset)
    if body is not None:
        for key in ("template", "template_file"):
            if key in data:
                raise _error(
                    display, lines.of((key,)), f"{key}: the body after `---` is the template"
                )
        data = {**data, "template": body}
    try:
        model = PromptFileModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = tuple(first.get("loc") or ())
        message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        what = ".".join(str(part) for part in loc)
        raise _error(display, lines.of(loc), f"{what}: {message}" if what else message) from None
    prompt = model.prompt or stem_of(path)
    if model.prompt is None and DIGITS.fullmatch(prompt):
        raise _error(display, lines.of(()), f"the stem {prompt!r} is a number: set `prompt:`")
    if model.template_file is not None:
        template = _template_from_file(
            model, path, workspace, display, lines.of(("template_file",))
        )
    else:
        assert model.template is not None
        template = model.template
    return PromptFile(
        path=display,
        prompt=prompt.strip(),
        llm_model=model.llm_model,
        template=template,
        description=model.description,
        create=model.create,
        eval=model.eval,
    )


def split_spec(spec: str) -> tuple[str, ...]:
    """`prompts/*.yml, other.md` or one per line → the patterns, in order, without blanks."""
    return tuple(part.strip() for part in re.split(r"[,\n]", spec) if part.strip())


WHERE_THE_WORKSPACE_IS = "the repository root in a workflow, the current directory on the CLI"


def resolve_prompt_files(spec: str, workspace: Path) -> tuple[PromptFile, ...]:
    """Every file the `prompt-files` patterns match (relative to the workspace, never outside it),
    loaded, sorted by workspace-relative POSIX path. A pattern that matches no file is an error."""
    root = workspace.resolve()
    found: dict[str, Path] = {}
    for pattern in split_spec(spec):
        if Path(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
            raise InputError(
                {INPUT: f"{pattern!r} must be a path or glob inside the workspace"},
                hint=f"Write paths relative to the workspace ({WHERE_THE_WORKSPACE_IS}), e.g. "
                "prompts/*.yml.",
            )
        matches = [
            Path(match)
            for match in glob.glob(pattern, root_dir=root, recursive=True)
            if (root / match).is_file() and _inside(root / match, root)
        ]
        if not matches:
            raise InputError(
                {INPUT: f"{pattern!r} matches no file in the workspace"},
                hint=f"Check the path: it is relative to the workspace ({WHERE_THE_WORKSPACE_IS}; "
                f"here {root}). In a workflow, check out the repository (actions/checkout) before "
                "this step.",
            )
        for match in matches:
            found[(root / match).resolve().relative_to(root).as_posix()] = root / match
    return tuple(load_prompt_file(found[key], root) for key in sorted(found))


def set_explicitly(settings: Settings, name: str) -> bool:
    """Whether the step set this input: given, and not its default (the runner passes an input's
    default as if it were given, so a step that writes the default cannot be told apart)."""
    default = Settings.model_fields[name].default
    return name in settings.model_fields_set and getattr(settings, name) != default


def settings_for(settings: Settings, file: PromptFile) -> Settings:
    """The step's settings with the file's `eval:` under them: an input the step set explicitly
    wins, the file's value fills in the rest."""
    if file.eval is None:
        return settings
    defaults = file.eval.model_dump(exclude_none=True)  # field names are the Settings' names
    update = {name: value for name, value in defaults.items() if not set_explicitly(settings, name)}
    return settings.model_copy(update=update)
