"""Prompt files and the live prompts, kept in step: `ckaction pull` writes files from the live
versions; `drift` says which files no longer equal their live version (someone edited the prompt in
the web UI). Drift reads the `GET /prompts` index once, never `GET /prompts/:id` per file: each of
those counts as a production serve."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ckaction.api import CompletionKitClient
from ckaction.errors import ConfigurationError, InputError
from ckaction.inputs import Settings
from ckaction.liveprompt import find_live, live_in_index, slug_of
from ckaction.models import Prompt
from ckaction.promptfile import DIGITS, PromptFile, content_of, resolve_prompt_files
from ckaction.report import Drift, Facts, Report, tolerances_of
from ckaction.wording import counted, plural

PULLED_HEADER = "# Written by `ckaction pull` from the live prompt; edit it and gate the change.\n"


# -- pull ----------------------------------------------------------------------------------------


class _PromptFileDumper(yaml.SafeDumper):
    """Multi-line text as a block scalar, so a template reads like the prompt it is."""


# Breaks a YAML reader folds into "\n" unless they are escaped: text with them is double-quoted.
OTHER_LINE_BREAKS = re.compile("[\r\x85\u2028\u2029]")


def _style(text: str) -> str | None:
    if OTHER_LINE_BREAKS.search(text):
        return '"'
    return "|" if "\n" in text else None


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=_style(data))


_PromptFileDumper.add_representer(str, _text)


def prompt_file_text(prompt: Prompt) -> str:
    """The YAML prompt file of a live prompt: `prompt:` its name, the model, the description when
    there is one, and the template (normalised) as a block scalar."""
    content = content_of(prompt.llm_model or "", prompt.template or "")
    data: dict[str, Any] = {"prompt": prompt.name, "llm_model": content.llm_model}
    if prompt.description:
        data["description"] = prompt.description
    data["template"] = content.template + "\n"
    return PULLED_HEADER + yaml.dump(
        data, Dumper=_PromptFileDumper, sort_keys=False, allow_unicode=True, width=100
    )


@dataclass(frozen=True)
class Pulled:
    """One file `pull` plans to write: where, what, and whether it is already there."""

    path: Path
    text: str
    prompt: Prompt

    @property
    def unchanged(self) -> bool:
        return self.path.is_file() and self.path.read_text(encoding="utf-8") == self.text


def plan_pull(prompts: Sequence[Prompt], directory: Path) -> tuple[Pulled, ...]:
    """One file per prompt, named by the slug of its name; two prompts on one file is an error."""
    planned: dict[Path, Pulled] = {}
    for prompt in prompts:
        path = directory / f"{slug_of(prompt.name) or prompt.family_key or prompt.id}.yml"
        if path in planned:
            raise ConfigurationError(
                f"Prompts {planned[path].prompt.id} and {prompt.id} would both be written to {path}.",
                hint="Pull them into separate directories.",
            )
        planned[path] = Pulled(path, prompt_file_text(prompt), prompt)
    return tuple(planned.values())


def pull(
    client: CompletionKitClient, asked: Sequence[str], directory: Path, *, force: bool
) -> tuple[str, ...]:
    """Write a prompt file for each live prompt `asked` names; what was done, one line each.
    Nothing is written when a prompt is not found or an existing different file is in the way."""
    for name in asked:
        if DIGITS.fullmatch(name):
            raise InputError(
                {"prompt": f"{name!r} is a number: pull prompts by name, slug or family_key"}
            )
    prompts = []
    for name in asked:
        prompt = find_live(client, name)
        if prompt is None:
            raise ConfigurationError(
                f"No live prompt is named `{name}`.",
                hint="Give the prompt's exact name, its slug or its family_key.",
            )
        prompts.append(prompt)
    plan = plan_pull(prompts, directory)
    in_the_way = [p.path for p in plan if p.path.exists() and not p.unchanged]
    if in_the_way and not force:
        raise ConfigurationError(
            f"{', '.join(map(str, in_the_way))} already "
            + ("exists and differs" if len(in_the_way) == 1 else "exist and differ")
            + " from the live prompt; nothing was written.",
            hint="Pass --force to overwrite them.",
        )
    said = []
    directory.mkdir(parents=True, exist_ok=True)
    for pulled in plan:
        what = f"prompt {pulled.prompt.id} `{pulled.prompt.name}` v{pulled.prompt.version_number}"
        if pulled.unchanged:
            said.append(f"{pulled.path}: unchanged ({what})")
            continue
        pulled.path.write_text(pulled.text, encoding="utf-8")
        said.append(f"{pulled.path}: written from {what}")
    return tuple(said)


# -- drift ---------------------------------------------------------------------------------------


def drift_of(file: PromptFile, live: Prompt | None) -> Drift:
    """What differs between a prompt file and its live version (pure)."""
    if live is None:
        return Drift(file.path, file.prompt, None, None, ("not live",))
    differs = file.content.differences(content_of(live.llm_model or "", live.template or ""))
    return Drift(file.path, file.prompt, live.id, live.version_number, differs)


def drift(settings: Settings, client: CompletionKitClient, workspace: Path, facts: Facts) -> Report:
    """`command: drift`: passed when every prompt file equals its live version, regressed (exit 1)
    with a table when any differs. A file whose prompt is not live is an error unless it says
    `create: true` (then publish will create it: it differs)."""
    assert settings.prompt_files is not None
    files = resolve_prompt_files(settings.prompt_files, workspace)
    index = tuple(client.list_prompts())
    checked = tuple(drift_of(file, live_in_index(index, file.prompt)) for file in files)
    unknown = [file for file, row in zip(files, checked, strict=True) if row.live_id is None]
    typos = [file for file in unknown if not file.create]
    if typos:
        raise ConfigurationError(
            "No live prompt is named "
            + ", ".join(f"`{file.prompt}` ({file.path})" for file in typos)
            + ".",
            hint="Fix `prompt:` in the file, or set `create: true` for a prompt publish should "
            "create.",
        )
    differing = [row for row in checked if row.differs]
    done = (
        f"{len(differing)} of {counted(len(checked), 'prompt file')} "
        f"{plural(len(differing), 'differs', 'differ')} from the live prompt: publish the file "
        "(gate it first), or `ckaction pull` the live version."
        if differing
        else f"All {counted(len(checked), 'prompt file')} equal their live prompts."
        if len(checked) != 1
        else "The prompt file equals its live prompt.",
    )
    facts = replace(facts, drift=checked, done=done)
    return Report(
        result="regressed" if differing else "passed",
        tolerances=tolerances_of(settings),
        facts=facts,
    )
