"""GitHub through PyGithub: the sticky PR comment (one comment per pull request and per
`comment-id`, edited on every run), the merged pull request a push to the default branch came from
(and who added its sign-off label), and the head commit of a branch that publish checks.

How it is built, and why:

* The upsert rules live in `upsert`, which talks to the small `CommentsAPI` protocol, so they are
  tested with a hand-written fake. `PyGithubComments` is the thin adapter onto PyGithub; PyGithub is
  imported only when a comment is actually posted (it costs ~0.3 s, and most runs are not on PRs).
* A comment is ours when its first line is our marker (`ckaction.render.marker_for`) **and** we wrote
  it: anyone can paste the marker, and a token that may write comments may also edit other people's.
  Comments hidden as outdated or off-topic ("minimized") are skipped, so a fresh one takes their place.
* Who "we" are: `GET /user` names the token's user, but a workflow's `GITHUB_TOKEN` (any GitHub App
  installation token) gets 403 there. Then we assume `github-actions[bot]` of type Bot, the author of
  every comment that `GITHUB_TOKEN` writes. Tokens of other GitHub Apps post as `<app>[bot]`, which we
  cannot learn without GraphQL; when a comment we just created shows another author, a warning says
  the next run will post a new comment instead of editing this one.
* Every page is read (comments are listed oldest first, 100 per request) until our comment is found.
  When older versions left several of ours with the same marker, the first (oldest) one is edited and
  the rest are left alone.
* Two jobs on one pull request (a PR opened with a label fires two events) may both find no comment
  and both create one. So after creating, the comments are read again: the oldest of ours with the
  marker stays (with this job's body), and newer ones of ours with the marker are deleted, so every
  job, applying the same rule, leaves one. Only comments `is_ours` accepts are ever deleted.
* Posting never changes the verdict and never raises: every failure becomes one warning that says
  why and what to do. Messages carry GitHub's own `message` text and status only, never a formatted
  exception (which could carry request details).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ckaction.context import RunContext
from ckaction.gha import Runner
from ckaction.inputs import Settings

if TYPE_CHECKING:
    from github import Github
    from github.IssueComment import IssueComment

MAX_BODY_CHARS = 65_536  # GitHub answers 422 "Body is too long" beyond this
ACTIONS_BOT_LOGIN = "github-actions[bot]"
NOT_ACCESSIBLE = "Resource not accessible by integration"
WARNING_TITLE = "PR comment not posted"
UNAFFECTED = "The verdict is unaffected; the full report is in the job summary."
FORK_RECIPE = (
    'the two-workflow `workflow_run` recipe in the README section "Pull requests from forks"'
)
_MESSAGE_LIMIT = 200
# PyGithub's pacing (GitHub asks integrations not to burst) and our retry backoff; module-level so
# tests against the local fake can set them to zero.
REQUEST_SPACING_SECONDS = 0.25
WRITE_SPACING_SECONDS = 1.0  # between writes, as GitHub's REST guidance asks
RETRY_BACKOFF_SECONDS = 0.5
RATE_LIMIT_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Comment:
    """An issue comment, reduced to what the upsert needs."""

    id: int
    body: str
    author: str  # login; "" for a deleted account
    author_type: str  # "User", "Bot" or "Organization"
    html_url: str
    minimized: bool = False


@dataclass(frozen=True)
class Identity:
    """Whose comments we may edit. `assumed` when GitHub would not tell us (installation tokens)."""

    login: str
    bot: bool = False
    assumed: bool = False

    def wrote(self, comment: Comment) -> bool:
        # An assumed identity also insists on the account type: a User cannot be named `…[bot]`
        # today, but the check costs nothing and keeps the guess from matching a person.
        return comment.author == self.login and (not self.bot or comment.author_type == "Bot")


ACTIONS_BOT = Identity(ACTIONS_BOT_LOGIN, bot=True, assumed=True)


class GitHubError(Exception):
    """A failed GitHub call, reduced to what is safe to print: the status and GitHub's message."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class CommentsAPI(Protocol):
    """One pull request's issue comments, as the upsert sees them. Methods raise `GitHubError`."""

    def authenticated_user(self) -> Identity | None:
        """The token's own account, or None when GitHub refuses to say (403)."""
        ...

    def comments(self) -> Iterable[Comment]:
        """Every comment, oldest first, fetched page by page as the caller iterates."""
        ...

    def create(self, body: str) -> Comment: ...

    def edit(self, comment: Comment, body: str) -> Comment: ...

    def delete(self, comment: Comment) -> None:
        """Delete the comment; one deleted already (by another job) is no error."""
        ...


@dataclass(frozen=True)
class Outcome:
    action: Literal["created", "updated", "unchanged", "merged"]
    comment: Comment
    identity: Identity


def resolve_identity(api: CommentsAPI) -> Identity:
    """The token's account from `GET /user`, or `github-actions[bot]` when that is forbidden."""
    return api.authenticated_user() or ACTIONS_BOT


def first_line(body: str) -> str:
    return body.lstrip("\ufeff").split("\n", 1)[0].strip()


def is_ours(comment: Comment, marker: str, identity: Identity) -> bool:
    """Marker on the first line, written by us, and still visible."""
    return not comment.minimized and first_line(comment.body) == marker and identity.wrote(comment)


def same_body(old: str, new: str) -> bool:
    """Equal up to line endings and trailing whitespace, which GitHub may normalize on storage."""

    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").rstrip()

    return norm(old) == norm(new)


def find_ours(comments: Iterable[Comment], marker: str, identity: Identity) -> Comment | None:
    """The oldest comment of ours; stops reading pages as soon as it is found."""
    return next((c for c in comments if is_ours(c, marker, identity)), None)


def upsert(api: CommentsAPI, body: str, marker: str) -> Outcome:
    """Edit our comment when it exists (unless the body is unchanged), otherwise create it and
    keep one (`keep_oldest`)."""
    identity = resolve_identity(api)
    existing = find_ours(api.comments(), marker, identity)
    if existing is None:
        return keep_oldest(api, api.create(body), marker, identity)
    if same_body(existing.body, body):
        return Outcome("unchanged", existing, identity)
    return Outcome("updated", api.edit(existing, body), identity)


def keep_oldest(api: CommentsAPI, created: Comment, marker: str, identity: Identity) -> Outcome:
    """After creating `created`, read the comments again: another job may have created one too.
    The oldest of ours stays and carries this job's body; every newer one of ours is deleted."""
    ours = [c for c in api.comments() if is_ours(c, marker, identity)]
    oldest = min(ours, key=lambda c: c.id, default=created)
    for duplicate in ours:
        if duplicate.id != oldest.id:
            api.delete(duplicate)
    if oldest.id == created.id:
        return Outcome("created", created, identity)
    if same_body(oldest.body, created.body):
        return Outcome("merged", oldest, identity)
    return Outcome("merged", api.edit(oldest, created.body), identity)


# -- PyGithub adapter ---------------------------------------------------------------------------


def _github_message(data: Any) -> str:
    """GitHub's own error text from a response body, on one short line."""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message.strip():
        return "no message"
    return " ".join(message.split())[:_MESSAGE_LIMIT]


@contextmanager
def _translated() -> Iterator[None]:
    """Turn PyGithub and network exceptions into `GitHubError`, dropping everything but status and
    GitHub's message (`from None`: the originals hold requests and connections)."""
    from github import GithubException
    from requests import RequestException

    try:
        yield
    except GithubException as exc:
        raise GitHubError(exc.status, _github_message(exc.data)) from None
    except RequestException as exc:
        # Connection failures, timeouts, and 5xx answers that outlived the retries.
        raise GitHubError(None, f"no usable answer: {type(exc).__name__}") from None


def _to_comment(obj: IssueComment) -> Comment:
    user = obj.user
    return Comment(
        id=obj.id,
        body=obj.body or "",
        author=user.login if user is not None else "",
        author_type=user.type if user is not None else "",
        html_url=obj.html_url,
        minimized=_minimized(obj),
    )


def _minimized(obj: IssueComment) -> bool:
    """Hidden as outdated, off-topic…? PyGithub has no attribute for it, and `raw_data` would
    re-fetch every lazily listed comment, so read the JSON the list returned."""
    raw = getattr(obj, "_rawData", None)
    return isinstance(raw, dict) and bool(raw.get("minimized"))


def connect(token: str, api_url: str, *, per_page: int = 100) -> Github:
    """The PyGithub client the composition root builds for the sticky comment (no request yet)."""
    import logging

    import github
    from github.GithubRetry import GithubRetry

    from ckaction import __version__

    # PyGithub logs at INFO to stderr on import; its "GET /user failed with 403" (expected for
    # GITHUB_TOKEN) and retry chatter would read as errors in the job log. Failures reach the
    # user as our own warnings instead.
    logging.getLogger("github").setLevel(logging.WARNING)
    return github.Github(
        auth=github.Auth.Token(token),
        base_url=api_url.rstrip("/"),
        per_page=per_page,  # the most GitHub allows: fewest requests on long PRs
        lazy=True,
        timeout=20,
        user_agent=f"ckaction/{__version__}",
        # A few quick retries on 5xx and network errors; wait at most a minute for a rate
        # limit reset (a secondary limit asks for 60 s), then give up: the comment is not
        # worth holding up the job.
        retry=GithubRetry(
            total=3,
            backoff_factor=RETRY_BACKOFF_SECONDS,
            max_rate_limit_wait=RATE_LIMIT_WAIT_SECONDS,
        ),
        seconds_between_requests=REQUEST_SPACING_SECONDS,
        seconds_between_writes=WRITE_SPACING_SECONDS,
    )


class PyGithubComments:
    """`CommentsAPI` over PyGithub. Lazy objects: only the calls listed below reach the network."""

    def __init__(self, client: Github, repository: str, number: int) -> None:
        self._github = client
        self._issue = self._github.get_repo(repository).get_issue(number)
        self._objects: dict[int, IssueComment] = {}

    def authenticated_user(self) -> Identity | None:
        """`GET /user`; 403 (installation tokens) means "unknown", any other failure is raised."""
        from github import GithubException

        with _translated():
            try:
                user = self._github.get_user()
                return Identity(user.login, bot=user.type == "Bot")
            except GithubException as exc:
                if exc.status == 403:
                    return None
                raise

    def comments(self) -> Iterator[Comment]:
        """`GET …/issues/{n}/comments`, following the `Link: rel="next"` headers."""
        with _translated():
            for obj in self._issue.get_comments():
                self._objects[obj.id] = obj
                yield _to_comment(obj)

    def create(self, body: str) -> Comment:
        """`POST …/issues/{n}/comments`."""
        with _translated():
            return _to_comment(self._issue.create_comment(body))

    def edit(self, comment: Comment, body: str) -> Comment:
        """`PATCH …/issues/comments/{id}` on an object seen while listing."""
        obj = self._objects[comment.id]
        with _translated():
            obj.edit(body)
        return _to_comment(obj)

    def delete(self, comment: Comment) -> None:
        """`DELETE …/issues/comments/{id}` on an object seen while listing; 404 (another job
        deleted it first) is no error."""
        from github import GithubException

        obj = self._objects[comment.id]
        with _translated():
            try:
                obj.delete()
            except GithubException as exc:
                if exc.status != 404:
                    raise


# -- the seam called from delivery ----------------------------------------------------------------


def precheck(body: str, token: str, settings: Settings, context: RunContext) -> str | None:
    """Why the comment cannot be posted, found before any request is sent; None when it can."""
    from ckaction.render import marker_for

    if not token:
        return (
            "No github-token, so the PR comment was not posted. The action's default is the "
            "workflow's token (`${{ github.token }}`); if you pass a secret instead, check that it "
            "exists (secrets are empty on pull requests from forks). " + UNAFFECTED
        )
    if context.repository.count("/") != 1:
        return f"GITHUB_REPOSITORY is not owner/name ({context.repository!r}). " + UNAFFECTED
    if first_line(body) != marker_for(settings.comment_id):
        # A comment without its marker could never be found again: every run would add one.
        return "The rendered comment lost its marker line (a bug in ckaction). " + UNAFFECTED
    if len(body) > MAX_BODY_CHARS:
        return (
            f"The comment has {len(body):,} characters, over GitHub's limit of "
            f"{MAX_BODY_CHARS:,}. " + UNAFFECTED
        )
    return None


def forbidden_advice(context: RunContext) -> str:
    """What to do about 403 "Resource not accessible by integration": a read-only token."""
    where = f"pull request {context.repository}#{context.pr_number}"
    grant = "Give the job `permissions: pull-requests: write`."
    if context.is_fork:
        return (
            f"GitHub answered 403 {NOT_ACCESSIBLE}: the github-token may not comment on {where}. "
            "This pull request comes from a fork, and GitHub gives fork pull requests a read-only "
            f"token whatever `permissions:` says: post the comment with {FORK_RECIPE}. "
            f"For pull requests from this repository: {grant} {UNAFFECTED}"
        )
    return (
        f"GitHub answered 403 {NOT_ACCESSIBLE}: the github-token may not comment on {where}. "
        f"{grant} For pull requests from forks, whose token is always read-only, use "
        f"{FORK_RECIPE}. {UNAFFECTED}"
    )


def explain(error: GitHubError, context: RunContext) -> str:
    """One warning for a failed call: what GitHub said and what to do about it."""
    where = f"{context.repository}#{context.pr_number}"
    if error.status == 403 and NOT_ACCESSIBLE.lower() in error.message.lower():
        return forbidden_advice(context)
    if error.status is None:
        return f"Could not talk to GitHub at {context.api_url} ({error.message}). {UNAFFECTED}"
    if error.status == 401:
        advice = "Pass a valid token, or leave github-token unset to use the workflow's token."
    elif error.status == 404:
        advice = f"The token cannot see {where}, or it does not exist."
    elif error.status == 403:
        advice = "The token may lack `pull-requests: write`, or GitHub is rate limiting it."
    else:
        advice = "Re-run the job if this was a temporary problem."
    return f"GitHub answered {error.status} ({error.message}). {advice} {UNAFFECTED}"


def report(outcome: Outcome, runner: Runner) -> None:
    """Log what happened; warn when an assumed identity will not find this comment next time."""
    verbs = {
        "created": "Posted",
        "updated": "Updated",
        "unchanged": "Unchanged:",
        "merged": "Another job posted at the same time; kept the older and updated",
    }
    runner.info(f"{verbs[outcome.action]} the PR comment {outcome.comment.html_url}")
    if outcome.action == "created" and not outcome.identity.wrote(outcome.comment):
        runner.warning(
            f"The PR comment was posted as {outcome.comment.author or 'an unknown account'}, but "
            "this token cannot look up its own account (GET /user is forbidden for GitHub App "
            f"tokens), so ckaction looks for comments by {outcome.identity.login} and the next run "
            "will post a new comment instead of updating this one. Use the workflow's default "
            "github-token, or a personal access token.",
            title="PR comment will not be updated",
        )


def post_comment(
    body: str,
    settings: Settings,
    context: RunContext,
    runner: Runner,
    github: Github | None,
) -> str | None:
    """Create or update the sticky comment through `github` (None: no github-token); its
    html_url, or None (with a warning) if not posted."""
    from ckaction.render import marker_for

    if context.pr_number is None:  # delivery only calls on pull requests; stay safe on our own
        return None
    token = settings.github_token.get_secret_value().strip() if settings.github_token else ""
    problem = precheck(body, token if github is not None else "", settings, context)
    if problem is not None:
        runner.warning(problem, title=WARNING_TITLE)
        return None
    assert github is not None  # precheck refuses a missing token
    runner.redact.add(token)  # the CLI masks it already; this keeps the module safe on its own
    try:
        api = PyGithubComments(github, context.repository, context.pr_number)
        outcome = upsert(api, body, marker_for(settings.comment_id))
    except GitHubError as exc:
        runner.warning(explain(exc, context), title=WARNING_TITLE)
        return None
    except Exception as exc:  # never let the comment take the verdict down with it
        runner.warning(
            f"Unexpected {type(exc).__name__} while posting the PR comment. {UNAFFECTED}",
            title=WARNING_TITLE,
        )
        return None
    report(outcome, runner)
    return outcome.comment.html_url


# -- the merged pull request a push to the default branch came from ------------------------------


@dataclass(frozen=True)
class MergedPull:
    """The pull request a pushed commit was merged from: its number, labels and page."""

    number: int
    labels: tuple[str, ...]
    html_url: str


def merged_pull(github: Github, repository: str, sha: str, base: str) -> MergedPull | None:
    """The pull request merged into `base` as commit `sha`
    (`GET /repos/{o}/{r}/commits/{sha}/pulls`), or None when the commit came from none (a direct
    push); a `GitHubError` when GitHub does not say. A commit a squash or merge created lists the
    pull request it closed; a pull request only containing the commit (still open, or merged as
    another commit) does not count."""
    with _translated():
        for pull in github.get_repo(repository).get_commit(sha).get_pulls():
            if (
                pull.merged_at is not None
                and pull.base.ref == base
                and (pull.merge_commit_sha in (None, sha))
            ):
                labels = tuple(label.name for label in pull.labels)
                return MergedPull(pull.number, labels, pull.html_url)
    return None


def label_added_by(github: Github, repository: str, number: int, label: str) -> str | None:
    """Who last added `label` to pull request `number` (`GET /repos/{o}/{r}/issues/{n}/events`,
    oldest first), or None when no event says; a `GitHubError` when GitHub does not answer."""
    who = None
    with _translated():
        for event in github.get_repo(repository).get_issue(number).get_events():
            if event.event == "labeled" and event.label is not None and event.label.name == label:
                who = event.actor.login if event.actor is not None else None
    return who


# -- the branch head read by publish ------------------------------------------------------------


def branch_head(github: Github, repository: str, branch: str) -> str:
    """The commit `branch` of `repository` points at now (`GET /repos/{o}/{r}/git/ref/heads/…`);
    a `GitHubError` when GitHub does not say."""
    with _translated():
        return github.get_repo(repository).get_git_ref(f"heads/{branch}").object.sha
