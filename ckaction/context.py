"""Facts about the workflow run we are in, read from the runner's environment and event payload.

The commit is the pull request's head, a push's `after`, else `GITHUB_SHA`; outside GitHub, the CI's
own commit variable (`CI_COMMIT_VARIABLES`), so a retried job reuses its run instead of paying for a
second one. A push's branch comes from `GITHUB_REF`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ckaction.errors import CkError
from ckaction.inputs import SHA_PATTERN

BRANCH_REF_PREFIX = "refs/heads/"
PR_EVENTS = (
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
)

# Where each CI names the commit it builds, GitHub's first; the first one set to a SHA is the commit.
# Buildkite's may be `HEAD` before its checkout resolves it: a value that is not a SHA is skipped.
CI_COMMIT_VARIABLES = (
    "GITHUB_SHA",
    "CI_COMMIT_SHA",  # GitLab CI
    "BUILDKITE_COMMIT",  # Buildkite
    "CIRCLE_SHA1",  # CircleCI
    "GIT_COMMIT",  # Jenkins (git plugin)
    "BUILD_SOURCEVERSION",  # Azure Pipelines
)

# GitHub caps webhook payloads at 25 MB; the runner writes the event it received.
MAX_EVENT_BYTES = 25 * 2**20
EVENT_HINT = (
    "GITHUB_EVENT_PATH should hold the event GitHub sent. If a step before this one rewrites "
    "the event file, or the workflow is run by hand with a crafted event, fix that payload."
)
# What a field of the payload should be, by pydantic's error type (strict mode).
_EXPECTED = {
    "model_type": "an object",
    "dict_type": "an object",
    "list_type": "an array",
    "string_type": "a string",
    "int_type": "a whole number",
}
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


@dataclass(frozen=True)
class RunContext:
    event_name: str = ""
    repository: str = ""
    sha: str | None = None
    branch: str | None = None  # the branch a push event pushed to
    default_branch: str | None = None  # the repository's, as a push event names it
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    run_id: str = ""
    workspace: Path = field(default_factory=Path.cwd)
    pr_number: int | None = None
    is_fork: bool = False
    pr_labels: tuple[str, ...] = ()
    event: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Why the event payload was not used (then `event` is empty): the command stops with it.
    event_error: EventError | None = field(default=None, compare=False)

    def in_workspace(self, relative: str) -> Path | None:
        """`relative` under the workspace, or None when it resolves (through a symlink) outside."""
        target = self.workspace / relative
        return target if target.resolve().is_relative_to(self.workspace.resolve()) else None

    @property
    def pushed_to_default_branch(self) -> bool:
        """A push to the repository's default branch (a merge, usually): "push to main"."""
        return (
            self.event_name == "push" and bool(self.branch) and self.branch == self.default_branch
        )

    @property
    def workflow_run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


class EventError(CkError):
    """The event payload is not what GitHub sends: unreadable, too large, or a field of the wrong
    type. The message names the field."""

    title = "Unreadable event payload"


class _Payload(BaseModel):
    """The parts of an event payload ckaction reads, typed; everything else is ignored."""

    model_config = ConfigDict(frozen=True, strict=True)


class Repo(_Payload):
    full_name: str | None = None
    url: str | None = None  # workflow_run's pull_requests carry only id, url and name
    default_branch: str | None = None  # a push event's `repository` names it

    @property
    def slug(self) -> str | None:
        """owner/name, from full_name or from the API URL (`…/repos/owner/name`)."""
        if self.full_name:
            return self.full_name
        if self.url and "/repos/" in self.url:
            return self.url.rsplit("/repos/", 1)[1].strip("/") or None
        return None


class Ref(_Payload):
    sha: str | None = None
    repo: Repo | None = None


class Label(_Payload):
    name: str


class Pull(_Payload):
    number: int | None = None
    head: Ref | None = None
    base: Ref | None = None
    labels: list[Label] | None = None


class Issue(_Payload):
    number: int | None = None
    pull_request: dict[str, Any] | None = None
    labels: list[Label] | None = None


class WorkflowRun(_Payload):
    pull_requests: list[Pull] | None = None


class Sender(_Payload):
    login: str | None = None


class Event(_Payload):
    action: str | None = None
    after: str | None = None  # a push: the commit pushed
    pull_request: Pull | None = None
    issue: Issue | None = None
    workflow_run: WorkflowRun | None = None
    label: Label | None = None
    sender: Sender | None = None
    repository: Repo | None = None


def parse_event(event: Mapping[str, Any]) -> Event:
    """The payload's fields ckaction reads, checked; an `EventError` names the first wrong one."""
    try:
        return Event.model_validate(event)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        expected = _EXPECTED.get(error["type"])
        if error["type"] == "missing":
            problem = "is missing"
        elif expected is None:
            problem = f"is not what GitHub sends ({error['msg'].lower()})"
        else:
            problem = f"should be {expected}, not {_JSON_TYPES.get(type(error['input']), 'that')}"
        raise EventError(
            f"The event payload's field `{where}` {problem}.",
            hint=EVENT_HINT,
        ) from None


def _labels(labels: list[Label] | None) -> tuple[str, ...]:
    return tuple(label.name for label in labels or ())


def pr_facts(
    event_name: str, event: Event, repository: str
) -> tuple[int | None, bool, tuple[str, ...]]:
    """(PR number or None, whether the PR comes from a fork, the PR's labels) for an event payload.

    A `workflow_run` lists pull requests by head branch, from any repository: only one whose base
    is this repository is this repository's PR (the same number elsewhere is another PR)."""
    pull: Pull | None = None
    if event_name in PR_EVENTS:
        pull = event.pull_request
    elif event_name == "issue_comment":
        issue = event.issue
        if issue is not None and issue.pull_request:
            return (issue.number, False, _labels(issue.labels))
        return (None, False, ())
    elif event_name == "workflow_run" and event.workflow_run is not None:
        pulls = event.workflow_run.pull_requests or []
        pull = pulls[0] if pulls and _base_slug(pulls[0]) == repository.lower() else None
    if pull is None:
        return (None, False, ())
    head_repo = pull.head.repo.slug if pull.head and pull.head.repo else None
    base_repo = _base_slug(pull) or repository.lower()
    is_fork = bool(head_repo) and str(head_repo).lower() != base_repo
    return (pull.number, is_fork, _labels(pull.labels))


def _base_slug(pull: Pull) -> str | None:
    slug = pull.base.repo.slug if pull.base and pull.base.repo else None
    return slug.lower() if slug else None


def load_event(path: str | None) -> dict[str, Any]:
    """The event payload as JSON, read defensively: none when there is no event file (a local CLI
    run); an `EventError` when it is larger than GitHub sends, not UTF-8 JSON, nested too deep
    for the parser, or not an object."""
    if not path:
        return {}
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_EVENT_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise EventError(f"The event payload cannot be read ({exc.strerror}).") from None
    if len(raw) > MAX_EVENT_BYTES:
        raise EventError(
            f"The event payload is larger than {MAX_EVENT_BYTES // 2**20} MB, the most GitHub "
            "sends.",
            hint=EVENT_HINT,
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise EventError("The event payload is not UTF-8 text.", hint=EVENT_HINT) from None
    except json.JSONDecodeError as exc:
        raise EventError(
            f"The event payload is not valid JSON (line {exc.lineno}).", hint=EVENT_HINT
        ) from None
    except RecursionError:
        raise EventError("The event payload nests too deep to parse.", hint=EVENT_HINT) from None
    if not isinstance(data, dict):
        raise EventError("The event payload is not a JSON object.", hint=EVENT_HINT)
    return data


def ci_commit(environ: Mapping[str, str]) -> str | None:
    """The commit the CI says it builds: the first of `CI_COMMIT_VARIABLES` that holds a SHA."""
    for name in CI_COMMIT_VARIABLES:
        value = environ.get(name, "").strip()
        if SHA_PATTERN.fullmatch(value):
            return value
    return None


def context_from_env(environ: Mapping[str, str]) -> RunContext:
    event_name = environ.get("GITHUB_EVENT_NAME", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    event_error: EventError | None = None
    try:
        event = load_event(environ.get("GITHUB_EVENT_PATH"))
        payload = parse_event(event)
    except EventError as exc:  # App.run reports it: exit 2, the field named
        event, payload, event_error = {}, Event(), exc
    number, is_fork, labels = pr_facts(event_name, payload, repository)
    sha = ci_commit(environ)
    if event_name in ("pull_request", "pull_request_target"):
        head = payload.pull_request.head if payload.pull_request else None
        sha = head.sha if head and head.sha else sha
    branch = None
    if event_name == "push":
        sha = payload.after or sha
        ref = environ.get("GITHUB_REF", "")
        branch = ref.removeprefix(BRANCH_REF_PREFIX) if ref.startswith(BRANCH_REF_PREFIX) else None
    workspace = environ.get("GITHUB_WORKSPACE")
    return RunContext(
        event_name=event_name,
        repository=repository,
        sha=sha,
        branch=branch,
        default_branch=payload.repository.default_branch if payload.repository else None,
        server_url=environ.get("GITHUB_SERVER_URL", "https://github.com"),
        api_url=environ.get("GITHUB_API_URL", "https://api.github.com"),
        run_id=environ.get("GITHUB_RUN_ID", ""),
        workspace=Path(workspace) if workspace else Path.cwd(),
        pr_number=number,
        is_fork=is_fork,
        pr_labels=labels,
        event=event,
        event_error=event_error,
    )
