"""The live prompt a prompt file names (its `prompt:`: a family_key, exact name or slug).

Two ways to read it: `find_live` asks `GET /prompts/<value>` (each such GET counts as a production
serve) and checks that the answer is what was asked, since Rails route ids stop at a dot and
`gpt-4.1-reply` may resolve to another prompt; `live_in_index` finds it in the `GET /prompts` index
the caller read once. Neither ever takes a scratch candidate (tagged `ckaction-candidate`) for live.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

from ckaction.api import CompletionKitClient
from ckaction.candidates import CANDIDATE_TAG
from ckaction.errors import ConfigurationError, NotFound
from ckaction.models import Prompt


def slug_of(name: str) -> str:
    """The engine's slug: lower-case, each run of non-alphanumerics → `-`, trimmed."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def names(prompt: Prompt, asked: str) -> bool:
    """Whether `asked` is this prompt's family_key, exact name or slug."""
    return asked in (prompt.family_key, prompt.name, slug_of(prompt.name))


def is_live(prompt: Prompt) -> bool:
    """The current version of its family, and not a scratch candidate."""
    return prompt.current and CANDIDATE_TAG not in prompt.tag_names


def find_live(client: CompletionKitClient, asked: str) -> Prompt | None:
    """The live version `asked` names, through `GET /prompts/<asked>`; None when it is not found
    (the caller decides whether `create: true` makes that a new prompt)."""
    try:
        prompt = client.get_prompt(quote(asked, safe=""))
    except NotFound:
        return None
    if not names(prompt, asked) or not is_live(prompt):
        state = "a scratch candidate" if CANDIDATE_TAG in prompt.tag_names else "not current"
        why = "is named differently" if not names(prompt, asked) else f"is {state}"
        raise ConfigurationError(
            f"`{asked}` resolved to prompt {prompt.id} named {prompt.name!r}, which {why}.",
            hint="Set `prompt:` in the prompt file to the live prompt's exact name or its "
            "family_key (CompletionKit's routes cut a value at its first dot).",
        )
    return prompt


def live_in_index(prompts: Iterable[Prompt], asked: str) -> Prompt | None:
    """The live version `asked` names among index rows, in the engine's lookup order (family_key,
    then exact name, then slug); None when no live prompt has that name."""
    live = sorted((p for p in prompts if is_live(p)), key=lambda p: p.id)
    for field in (
        lambda p: p.family_key,
        lambda p: p.name,
        lambda p: slug_of(p.name),
    ):
        found = next((p for p in live if field(p) == asked), None)
        if found is not None:
            return found
    return None
