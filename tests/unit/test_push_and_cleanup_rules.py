"""A push's commit and branch as publish reads them, and cleanup's pure rule: what stays, and
from when a candidate counts as inactive."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ckaction.cleanup import Candidate, newest, parse_time, why_kept
from ckaction.context import context_from_env
from ckaction.models import Prompt

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
CUTOFF = NOW - dt.timedelta(days=30)
OLD = NOW - dt.timedelta(days=31)


def push_context(tmp_path: Path, payload: dict, ref: str = "refs/heads/main"):
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    return context_from_env(
        {
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_SHA": "c" * 40,
            "GITHUB_REF": ref,
        }
    )


def test_a_push_commit_is_the_events_after_and_its_branch_comes_from_the_ref(tmp_path):
    context = push_context(tmp_path, {"after": "a" * 40})
    assert (context.sha, context.branch) == ("a" * 40, "main")


def test_without_after_the_commit_is_github_sha_and_a_tag_is_no_branch(tmp_path):
    context = push_context(tmp_path, {}, ref="refs/tags/v1")
    assert (context.sha, context.branch) == ("c" * 40, None)


def test_only_a_push_has_a_branch(tmp_path):
    event = tmp_path / "event.json"
    event.write_text("{}")
    context = context_from_env(
        {
            "GITHUB_EVENT_NAME": "schedule",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REF": "refs/heads/main",
        }
    )
    assert context.branch is None


def candidate(last_active: dt.datetime | None, *, live: bool = False, passed: bool = False):
    return Candidate(Prompt(id=1, name="x"), last_active, live, passed)


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        (candidate(OLD), None),
        (candidate(CUTOFF + dt.timedelta(seconds=1)), "it was active recently"),
        (candidate(OLD, live=True), "its content is live"),
        (candidate(OLD, passed=True), "its content passed a gate and is not live yet"),
        (candidate(None), "its age is unknown"),
    ],
)
def test_what_cleanup_keeps(state: Candidate, kept: str | None) -> None:
    assert why_kept(state, CUTOFF) == kept


def test_the_newest_stamp_counts_and_unreadable_ones_are_ignored() -> None:
    stamps = ["2026-10-01T00:00:00.000Z", None, "not a time", "2026-11-02T10:00:00.500Z"]
    assert newest(stamps) == dt.datetime(2026, 11, 2, 10, 0, 0, 500_000, tzinfo=dt.UTC)
    assert newest([None, ""]) is None
    assert parse_time("2026-11-02T10:00:00") == dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
