"""Scratch candidates: the prompt families a gate creates for a prompt file's content.

The engine has no drafts (a REST PATCH on a prompt with runs publishes the new version), so the gate
never touches the live prompt: it scores the file's content as a family of its own, created with
`POST /prompts`, named `<live name> [ckaction candidate <12 hex of the content hash>]` (never the
live name or slug, so no runtime can be served it) and tagged `ckaction-candidate`. A prompt is a
candidate only when it carries **both** the tag and that name pattern.

Content-addressed: the same content on any later commit, job or pull request finds the same
candidate and, with the same settings, its run. A candidate run that passed a gate is tagged
`ckaction-passed`: the record `publish` trusts, and a valid baseline once its content is live.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ckaction.api import CompletionKitClient
from ckaction.errors import UncertainOutcome
from ckaction.models import Prompt, Run
from ckaction.promptfile import Content, candidate_name, content_of

CANDIDATE_TAG = "ckaction-candidate"
PASSED_TAG = "ckaction-passed"
BASELINE_TAG = "ckaction-baseline"
ANCHOR_TAG = "ckaction-version-anchor"
CANDIDATE_NAME = re.compile(r"^.* \[ckaction candidate [0-9a-f]{12}\]$", re.DOTALL)


def is_candidate(prompt: Prompt) -> bool:
    """A scratch candidate: the tag and the name pattern, both."""
    return CANDIDATE_TAG in prompt.tag_names and bool(CANDIDATE_NAME.match(prompt.name))


def content_of_prompt(prompt: Prompt) -> Content | None:
    """The content a prompt version carries; None when the server did not send it."""
    if prompt.template is None or prompt.llm_model is None:
        return None
    return content_of(prompt.llm_model, prompt.template)


def candidates(client: CompletionKitClient) -> Iterator[Prompt]:
    """Every scratch candidate of the org, newest first (one tagged listing, paged)."""
    for prompt in client.list_prompts(**{"tag[]": CANDIDATE_TAG}):
        if is_candidate(prompt):
            yield prompt


def candidate_among(
    prompts: Iterable[Prompt], live_name: str, content: Content | None
) -> Prompt | None:
    """The candidate of `content` for the live prompt `live_name` among candidates already read,
    verified: its name is the content's candidate name and the content it carries is `content` (a
    candidate edited by hand in the web UI is not this content's any more). Of two (two jobs
    created one each), the lowest id: the rule every job applies, so they share one."""
    if content is None:
        return None
    name = candidate_name(live_name, content)
    return min(
        (p for p in prompts if p.name == name and content_of_prompt(p) == content),
        key=lambda p: p.id,
        default=None,
    )


def find_candidate(client: CompletionKitClient, live_name: str, content: Content) -> Prompt | None:
    """The candidate of `content` for the live prompt `live_name`, read from the org's candidates
    (`candidate_among`)."""
    return candidate_among(candidates(client), live_name, content)


def obtain_candidate(
    client: CompletionKitClient, live_name: str, content: Content, description: str | None
) -> tuple[Prompt, bool]:
    """(the candidate for this content, whether it was created now). An existing one is reused; a
    create whose answer was lost is looked up before anything is sent again. After a create the
    candidates are read again: when another job created one first (a lower id), ours, which has
    no run yet, is deleted and theirs is used."""
    found = find_candidate(client, live_name, content)
    if found is not None:
        return found, False
    try:
        created = client.create_prompt(
            candidate_name(live_name, content),
            content.template,
            content.llm_model,
            description=description,
            tag_names=(CANDIDATE_TAG,),
        )
    except UncertainOutcome:
        found = find_candidate(client, live_name, content)
        if found is None:
            raise
        return found, False
    first = find_candidate(client, live_name, content)
    if first is not None and first.id < created.id:
        client.delete_prompt(created.id)
        return first, False
    return created, True


def passed_runs(client: CompletionKitClient, candidate: Prompt) -> Iterator[Run]:
    """The candidate's completed, scored runs that passed a gate (tagged `ckaction-passed`),
    newest first; checked here whatever the list filter returned."""
    for run in client.list_runs(prompt_id=candidate.id, **{"tag[]": PASSED_TAG}):
        if (
            run.prompt_id == candidate.id
            and run.status == "completed"
            and run.has_scores
            and PASSED_TAG in run.tag_names
        ):
            yield run
