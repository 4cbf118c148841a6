"""`find_live` over the emulator in process: a name lookup never returns a scratch candidate, whatever
of its family_key, exact name or slug is asked, and whether or not a live prompt shares the name.
(`live_in_index`'s side is in test_promptfile.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.candidates import CANDIDATE_TAG
from ckaction.emulator import Emulator, EmulatorTransport
from ckaction.errors import ConfigurationError
from ckaction.liveprompt import find_live, live_in_index, slug_of
from ckaction.models import Prompt
from ckaction.promptfile import candidate_name, content_of

TOKEN = "ck-test-token-liveprompt"
ROOT = "http://emulator.test/orgs/acme/api/v1"
LIVE_NAME = "Support reply"
TEMPLATE = "Answer {{question}} kindly."


@pytest.fixture
def emu() -> Emulator:
    return Emulator(token=TOKEN, org="acme")


@pytest.fixture
def ck(emu: Emulator) -> Iterator[CompletionKitClient]:
    http = build_http_client(
        ROOT, TOKEN, transport=EmulatorTransport(emu), timeout=httpx.Timeout(5)
    )
    yield CompletionKitClient(http, sleep=lambda _: None)
    http.close()


def add_candidate(emu: Emulator, name: str) -> dict:
    return emu.add_prompt(name, TEMPLATE + " v2", "gpt-4o-mini", tag_names=[CANDIDATE_TAG])


def spellings(prompt: dict) -> list[str]:
    """Every value a prompt file's `prompt:` may name it by."""
    return [prompt["family_key"], prompt["name"], slug_of(prompt["name"])]


def test_asking_for_a_candidate_by_any_spelling_is_refused(
    emu: Emulator, ck: CompletionKitClient
) -> None:
    emu.add_prompt(LIVE_NAME, TEMPLATE, "gpt-4o-mini")
    candidate = add_candidate(emu, candidate_name(LIVE_NAME, content_of("gpt-4o-mini", TEMPLATE)))
    for asked in spellings(candidate):
        with pytest.raises(ConfigurationError, match="is a scratch candidate"):
            find_live(ck, asked)


@pytest.mark.parametrize("asked", [LIVE_NAME, slug_of(LIVE_NAME)])
def test_a_candidate_named_like_the_live_prompt_is_never_returned(
    emu: Emulator, ck: CompletionKitClient, asked: str
) -> None:
    """The engine's lookup finds the newest family of a name first: here the candidate. The answer
    is refused, never taken for live; the index lookup skips it and finds the live prompt."""
    live = emu.add_prompt(LIVE_NAME, TEMPLATE, "gpt-4o-mini")
    candidate = add_candidate(emu, LIVE_NAME)
    with pytest.raises(ConfigurationError, match=f"resolved to prompt {candidate['id']}"):
        find_live(ck, asked)
    index = [Prompt.model_validate(p) for p in emu.list_prompts().items]
    found = live_in_index(index, asked)
    assert found is not None and found.id == live["id"]


def test_a_candidate_alone_under_a_name_is_never_returned(
    emu: Emulator, ck: CompletionKitClient
) -> None:
    candidate = add_candidate(emu, "Order summary")
    index = [Prompt.model_validate(p) for p in emu.list_prompts().items]
    for asked in spellings(candidate):
        with pytest.raises(ConfigurationError, match="is a scratch candidate"):
            find_live(ck, asked)
        assert live_in_index(index, asked) is None
