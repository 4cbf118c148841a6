"""Facts about the workflow run we are in, read from the runner's environment and event payload.

The commit is the pull request's head, a push's `after`, else `GITHUB_SHA`; a push's branch comes
from `GITHUB_REF`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BRANCH_REF_PREFIX = "refs/heads/"
PR_EVENTS = (
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
)


@dataclass(frozen=True)
class RunContext:
    event_name: str = ""
    repository: str = ""
    sha: str | None = None
    branch: str | None = None  # the branch a push event pushed to
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    run_id: str = ""
    workspace: Path = field(default_factory=Path.cwd)
    pr_number: int | None = None
    is_fork: bool = False
    pr_labels: tuple[str, ...] = ()
    event: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def workflow_run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def pr_facts(
    event_name: str, event: Mapping[str, Any], repository: str
) -> tuple[int | None, bool, tuple[str, ...]]:
    """(PR number or None, whether the PR comes from a fork, the PR's labels) for an event payload."""
    pull: Any = None
    if event_name in PR_EVENTS:
        pull = event.get("pull_request")
    elif event_name == "issue_comment":
        issue = event.get("issue") or {}
        if isinstance(issue, dict) and issue.get("pull_request"):
            number = issue.get("number")
            labels = tuple(
                str(label.get("name"))
                for label in issue.get("labels") or []
                if isinstance(label, dict)
            )
            return (number if isinstance(number, int) else None, False, labels)
        return (None, False, ())
    elif event_name == "workflow_run":
        pulls = (event.get("workflow_run") or {}).get("pull_requests") or []
        pull = pulls[0] if pulls else None
    if not isinstance(pull, dict):
        return (None, False, ())
    number = pull.get("number")
    head_repo = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
    base_repo = ((pull.get("base") or {}).get("repo") or {}).get("full_name") or repository
    is_fork = bool(head_repo) and head_repo != base_repo
    labels = tuple(
        str(label.get("name")) for label in pull.get("labels") or [] if isinstance(label, dict)
    )
    return (number if isinstance(number, int) else None, is_fork, labels)


def load_event(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def context_from_env(environ: Mapping[str, str]) -> RunContext:
    event_name = environ.get("GITHUB_EVENT_NAME", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    event = load_event(environ.get("GITHUB_EVENT_PATH"))
    number, is_fork, labels = pr_facts(event_name, event, repository)
    sha = environ.get("GITHUB_SHA") or None
    if event_name in ("pull_request", "pull_request_target"):
        head_sha = ((event.get("pull_request") or {}).get("head") or {}).get("sha")
        sha = head_sha if isinstance(head_sha, str) and head_sha else sha
    branch = None
    if event_name == "push":
        after = event.get("after")
        sha = after if isinstance(after, str) and after else sha
        ref = environ.get("GITHUB_REF", "")
        branch = ref.removeprefix(BRANCH_REF_PREFIX) if ref.startswith(BRANCH_REF_PREFIX) else None
    workspace = environ.get("GITHUB_WORKSPACE")
    return RunContext(
        event_name=event_name,
        repository=repository,
        sha=sha,
        branch=branch,
        server_url=environ.get("GITHUB_SERVER_URL", "https://github.com"),
        api_url=environ.get("GITHUB_API_URL", "https://api.github.com"),
        run_id=environ.get("GITHUB_RUN_ID", ""),
        workspace=Path(workspace) if workspace else Path.cwd(),
        pr_number=number,
        is_fork=is_fork,
        pr_labels=labels,
        event=event,
    )
