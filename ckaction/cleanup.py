"""`command: cleanup`: delete the scratch candidates nobody needs any more.

Only scratch candidates (tag **and** name pattern, `candidates.is_candidate`) are ever deleted, and
only those whose newest run is older than `keep-days` (a candidate without runs counts from when it
was created or last changed). Two kinds are always kept: a candidate whose content is live (its passed
run is the live version's baseline) and one whose content passed a gate but is not live yet (a
long-lived pull request still needs it). `dry-run` (the default) only lists what would go.

Confirm datasets (`confirm-runs`: tag `ckaction-confirm` **and** a `ckaction confirm ` name) created
more than `keep-days` ago go too, and their runs with them (the engine deletes a dataset's runs with
it: `has_many :runs, dependent: :destroy`, `app/models/completion_kit/dataset.rb`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ckaction.api import CompletionKitClient
from ckaction.candidates import content_of_prompt, is_candidate, passed_runs
from ckaction.flow import Log
from ckaction.inputs import Settings
from ckaction.liveprompt import is_live
from ckaction.models import Dataset, Prompt
from ckaction.promptfile import Content
from ckaction.report import Facts, Report, tolerances_of
from ckaction.runtags import CONFIRM_NAME_PREFIX, CONFIRM_TAG
from ckaction.wording import counted, plural


@dataclass(frozen=True)
class Candidate:
    """What cleanup knows of one scratch candidate."""

    prompt: Prompt
    last_active: dt.datetime | None  # its newest run's creation, else its own; None: unknown
    live: bool  # its content is a live prompt's
    passed: bool  # it has a ckaction-passed run


def parse_time(stamp: str | None) -> dt.datetime | None:
    """An API timestamp (ISO 8601, `Z` for UTC) as an aware datetime; None when absent or unreadable."""
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def newest(stamps: Iterable[str | None]) -> dt.datetime | None:
    return max((t for t in map(parse_time, stamps) if t is not None), default=None)


def why_kept(candidate: Candidate, cutoff: dt.datetime) -> str | None:
    """Why this candidate stays; None when it may be deleted (pure)."""
    if candidate.live:
        return "its content is live"
    if candidate.passed:
        return "its content passed a gate and is not live yet"
    if candidate.last_active is None:
        return "its age is unknown"
    if candidate.last_active >= cutoff:
        return "it was active recently"
    return None


def survey(client: CompletionKitClient) -> list[Candidate]:
    """Every scratch candidate, with its age and whether its content is live or passed."""
    index = list(client.list_prompts())
    live: set[Content | None] = {content_of_prompt(p) for p in index if is_live(p)}
    found = []
    for prompt in (p for p in index if is_candidate(p)):
        runs = [r for r in client.list_runs(prompt_id=prompt.id) if r.prompt_id == prompt.id]
        stamps = [r.created_at for r in runs] or [prompt.created_at, prompt.updated_at]
        is_live_content = content_of_prompt(prompt) in live - {None}
        passed = not is_live_content and next(passed_runs(client, prompt), None) is not None
        found.append(Candidate(prompt, newest(stamps), is_live_content, passed))
    return found


def is_confirm_dataset(dataset: Dataset) -> bool:
    """A dataset a confirm made: the tag and the name, both."""
    return CONFIRM_TAG in dataset.tag_names and dataset.name.startswith(CONFIRM_NAME_PREFIX)


def stale_confirm_datasets(client: CompletionKitClient, cutoff: dt.datetime) -> list[Dataset]:
    """Confirm datasets created before `cutoff` (one of unknown age is kept)."""
    return [
        dataset
        for dataset in client.list_datasets(**{"tag[]": CONFIRM_TAG})
        if is_confirm_dataset(dataset)
        and (created := parse_time(dataset.created_at)) is not None
        and created < cutoff
    ]


def cleanup(
    settings: Settings, client: CompletionKitClient, facts: Facts, *, log: Log, now: dt.datetime
) -> Report:
    """Delete (or, in a dry run, list) the scratch candidates older than keep-days."""
    cutoff = now - dt.timedelta(days=settings.keep_days)
    surveyed = survey(client)
    stale = [c for c in surveyed if why_kept(c, cutoff) is None]
    verb = "Would delete" if settings.dry_run else "Deleted"
    done: list[str] = []
    for candidate in stale:
        prompt = candidate.prompt
        if not settings.dry_run:
            client.delete_prompt(prompt.id)
        when = candidate.last_active.date().isoformat() if candidate.last_active else "?"
        done.append(f"{verb} scratch candidate {prompt.id} `{prompt.name}` (last active {when}).")
    kept = len(surveyed) - len(stale)
    summary = (
        f"{verb} {len(stale)} of {counted(len(surveyed), 'scratch candidate')} inactive for more "
        f"than {counted(settings.keep_days, 'day')}; kept {kept} (recent, live content, or passed and not live "
        "yet)."
    )
    confirms = stale_confirm_datasets(client, cutoff)
    for dataset in confirms:
        if not settings.dry_run:
            client.delete_dataset(dataset.id)
        done.append(f"{verb} confirm dataset {dataset.id} `{dataset.name}` and its runs.")
    if confirms:
        summary += (
            f" {verb} {counted(len(confirms), 'confirm dataset')} older than "
            f"{counted(settings.keep_days, 'day')}, with {plural(len(confirms), 'its', 'their')} runs."
        )
    if settings.dry_run and (stale or confirms):
        summary += " This was a dry run: set dry-run to false (`--dry-run false` on the CLI) to delete them."
    for sentence in (*done, summary):
        log.info(sentence)
    facts = replace(facts, done=(*done, summary))
    return Report(result="passed", tolerances=tolerances_of(settings), facts=facts)
