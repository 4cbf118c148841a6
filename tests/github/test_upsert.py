"""The upsert rules against a hand-written fake: which comment is ours, when to edit, when to create."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from ckaction.github import (
    ACTIONS_BOT,
    Comment,
    GitHubError,
    Identity,
    is_ours,
    same_body,
    upsert,
)
from ckaction.render import marker_for

MARKER = marker_for(None)
BOT = ("github-actions[bot]", "Bot")


def comment(
    cid: int, body: str, author: tuple[str, str] = BOT, *, minimized: bool = False
) -> Comment:
    login, kind = author
    url = f"https://github.com/acme/prompts/pull/7#issuecomment-{cid}"
    return Comment(cid, body, login, kind, url, minimized)


def ours(
    cid: int,
    text: str = "old",
    marker: str = MARKER,
    *,
    author: tuple[str, str] = BOT,
    minimized: bool = False,
) -> Comment:
    return comment(cid, f"{marker}\n{text}", author, minimized=minimized)


def chatter(start: int, count: int) -> list[Comment]:
    return [comment(start + i, f"LGTM {i}", ("alice", "User")) for i in range(count)]


class FakeComments:
    """`CommentsAPI` over pages held in memory; records what the upsert read and wrote."""

    def __init__(self, pages: list[list[Comment]], user: Identity | None = None) -> None:
        self.pages = pages
        self.user = user
        self.pages_read = 0
        self.created: list[str] = []
        self.edited: list[tuple[int, str]] = []
        self.deleted: list[int] = []
        self.fail: GitHubError | None = None
        # Comments another job posts between our listing and our create (a race on one PR).
        self.posted_meanwhile: list[Comment] = []

    def authenticated_user(self) -> Identity | None:
        return self.user

    def comments(self) -> Iterator[Comment]:
        for page in self.pages:
            self.pages_read += 1
            yield from page

    def create(self, body: str) -> Comment:
        if self.fail:
            raise self.fail
        self.created.append(body)
        made = comment(999, body)
        self.pages[-1:] = [[*(self.pages[-1] if self.pages else []), *self.posted_meanwhile, made]]
        return made

    def edit(self, existing: Comment, body: str) -> Comment:
        if self.fail:
            raise self.fail
        self.edited.append((existing.id, body))
        return replace(existing, body=body)

    def delete(self, existing: Comment) -> None:
        self.deleted.append(existing.id)
        self.pages = [[c for c in page if c.id != existing.id] for page in self.pages]


def test_creates_when_no_comment_is_ours() -> None:
    api = FakeComments([chatter(1, 30), chatter(31, 5)])
    outcome = upsert(api, f"{MARKER}\nnew", MARKER)
    assert outcome.action == "created"
    assert api.created == [f"{MARKER}\nnew"] and api.edited == []
    assert api.pages_read == 4  # every page before concluding there is none, and again after


def test_finds_ours_on_the_third_page_and_edits_it() -> None:
    api = FakeComments([chatter(1, 30), chatter(31, 30), [*chatter(61, 15), ours(76)]])
    outcome = upsert(api, f"{MARKER}\nnew", MARKER)
    assert outcome.action == "updated"
    assert api.edited == [(76, f"{MARKER}\nnew")] and api.created == []
    assert api.pages_read == 3


def test_stops_reading_pages_once_found() -> None:
    api = FakeComments([[ours(1)], chatter(2, 30), chatter(32, 30)])
    upsert(api, f"{MARKER}\nnew", MARKER)
    assert api.pages_read == 1


def test_another_bots_comment_with_our_marker_is_not_edited() -> None:
    api = FakeComments([[ours(1, author=("renovate[bot]", "Bot"))]])
    outcome = upsert(api, f"{MARKER}\nnew", MARKER)
    assert outcome.action == "created" and api.edited == []


def test_a_person_quoting_our_marker_is_not_edited() -> None:
    api = FakeComments([[ours(1, author=("alice", "User"))]])
    assert upsert(api, f"{MARKER}\nnew", MARKER).action == "created"


def test_the_marker_must_be_the_first_line() -> None:
    quoted = comment(1, f"Why does the bot write\n{MARKER}\nat the top?")
    assert not is_ours(quoted, MARKER, ACTIONS_BOT)
    assert is_ours(comment(2, f"\ufeff{MARKER}\r\nbody"), MARKER, ACTIONS_BOT)


def test_assumed_identity_insists_on_a_bot_account() -> None:
    impostor = ours(1, author=("github-actions[bot]", "User"))
    assert not is_ours(impostor, MARKER, ACTIONS_BOT)


def test_known_identity_from_get_user_is_used_instead_of_the_actions_bot() -> None:
    alice = Identity("alice")
    api = FakeComments([[ours(1), ours(2, author=("alice", "User"))]], user=alice)
    outcome = upsert(api, f"{MARKER}\nnew", MARKER)
    assert api.edited == [(2, f"{MARKER}\nnew")]
    assert outcome.identity == alice


def test_comment_ids_keep_separate_comments() -> None:
    first, second = marker_for("api"), marker_for("web")
    api = FakeComments([[ours(1, marker=MARKER), ours(2, marker=first), ours(3, marker=second)]])
    upsert(api, f"{second}\nnew", second)
    upsert(api, f"{first}\nnew", first)
    assert api.edited == [(3, f"{second}\nnew"), (2, f"{first}\nnew")]
    assert not is_ours(ours(4, marker=first), MARKER, ACTIONS_BOT)


def test_unchanged_body_is_not_sent_again() -> None:
    api = FakeComments([[ours(1, "same")]])
    outcome = upsert(api, f"{MARKER}\nsame", MARKER)
    assert outcome.action == "unchanged" and outcome.comment.id == 1
    assert api.edited == [] and api.created == []


@pytest.mark.parametrize(
    ("stored", "new", "same"),
    [
        ("a\r\nb\r\n", "a\nb\n", True),
        ("a\nb", "a\nb\n\n", True),
        ("a\nb", "a\nc", False),
        ("  a", "a", False),
    ],
)
def test_same_body_ignores_only_line_endings_and_trailing_space(
    stored: str, new: str, same: bool
) -> None:
    assert same_body(stored, new) is same


def test_with_several_of_ours_the_oldest_is_edited_and_the_rest_left_alone() -> None:
    api = FakeComments([[ours(1), chatter(2, 1)[0], ours(3)]])
    upsert(api, f"{MARKER}\nnew", MARKER)
    assert api.edited == [(1, f"{MARKER}\nnew")]


def test_a_minimized_comment_of_ours_is_replaced_by_a_new_one() -> None:
    api = FakeComments([[ours(1, minimized=True)]])
    assert upsert(api, f"{MARKER}\nnew", MARKER).action == "created"


def test_comments_of_deleted_accounts_are_skipped() -> None:
    api = FakeComments([[ours(1, author=("", ""))]])
    assert upsert(api, f"{MARKER}\nnew", MARKER).action == "created"


def test_github_errors_reach_the_caller_unchanged() -> None:
    api = FakeComments([[]])
    api.fail = GitHubError(403, "Resource not accessible by integration")
    with pytest.raises(GitHubError) as caught:
        upsert(api, f"{MARKER}\nnew", MARKER)
    assert caught.value.status == 403


def test_two_jobs_creating_at_once_leave_the_oldest_comment_with_this_jobs_body() -> None:
    api = FakeComments([chatter(1, 3)])
    api.posted_meanwhile = [ours(500, "the other job's report")]
    outcome = upsert(api, f"{MARKER}\nnew", MARKER)
    assert api.created == [f"{MARKER}\nnew"]
    assert api.deleted == [999]  # ours was the newer duplicate
    assert api.edited == [(500, f"{MARKER}\nnew")]
    assert outcome.action == "merged" and outcome.comment.id == 500
    remaining = [c for page in api.pages for c in page if is_ours(c, MARKER, ACTIONS_BOT)]
    assert [c.id for c in remaining] == [500]


def test_the_job_whose_comment_is_oldest_deletes_the_newer_duplicate() -> None:
    api = FakeComments([chatter(1, 3)])
    api.posted_meanwhile = [ours(1500, "the other job's report")]
    outcome = upsert(api, f"{MARKER}\nnew", MARKER)
    assert outcome.action == "created" and outcome.comment.id == 999
    assert api.deleted == [1500] and api.edited == []


def test_a_duplicate_by_someone_else_is_never_deleted() -> None:
    api = FakeComments([chatter(1, 3)])
    api.posted_meanwhile = [ours(500, author=("alice", "User")), ours(501, minimized=True)]
    outcome = upsert(api, f"{MARKER}\nnew", MARKER)
    assert outcome.action == "created" and api.deleted == [] and api.edited == []
