"""A stateful fake of the slice of GitHub's REST API behind ckaction's sticky PR comment, served over
real HTTP on 127.0.0.1 so PyGithub runs unmodified against it.

What it implements, as api.github.com does (https://docs.github.com/en/rest/issues/comments):

* `GET /repos/{o}/{r}/issues/{n}/comments`: ascending by id, `per_page` (default 30, at most 100)
  and `page`, RFC 5988 `Link` headers in GitHub's order (prev, next, last, first) pointing at the
  `/repositories/{id}/…` alias GitHub itself uses in links (also served).
* `POST /repos/{o}/{r}/issues/{n}/comments` → 201; `PATCH /repos/{o}/{r}/issues/comments/{id}` → 200;
  `DELETE /repos/{o}/{r}/issues/comments/{id}` → 204 (404 once gone).
* `GET /repos/{o}/{r}/git/ref/heads/{branch}` → the branch's head commit (`set_branch`), 404 for
  a branch it does not know (https://docs.github.com/en/rest/git/refs#get-a-reference).
* `GET /repos/{o}/{r}/commits/{sha}/pulls` → the pull requests a commit belongs to (`add_merged_pull`:
  merged ones list the commit GitHub merged them as), open or merged
  (https://docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit).
* `GET /repos/{o}/{r}/issues/{n}/events` → a pull request's issue events, oldest first: `labeled`
  (with the label and who added it) and `unlabeled`
  (https://docs.github.com/en/rest/issues/events#list-issue-events).
* `GET /user` → 200 for a user's token, 403 "Resource not accessible by integration" for an
  installation token (a workflow's `GITHUB_TOKEN`).
* Tokens with `can_write=False` (a fork PR's read-only token) get 403 "Resource not accessible by
  integration" on writes; unknown tokens get 401 "Bad credentials"; unknown routes and issues 404.

Every exchange is logged (`exchanges`, `calls()`), and each one can be handed to a checker (the
OpenAPI contract in tests/github/contract.py) whose complaints are collected in `violations`.
`prefix="/api/v3"` serves it like GitHub Enterprise Server.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DOCS = "https://docs.github.com/rest"
NOT_ACCESSIBLE = "Resource not accessible by integration"


@dataclass(frozen=True)
class Account:
    login: str
    id: int
    type: str = "User"  # "User" | "Bot" | "Organization"


ACTIONS_BOT = Account("github-actions[bot]", 41898282, "Bot")


@dataclass
class Token:
    account: Account
    installation: bool  # a GitHub App installation token, as GITHUB_TOKEN is: GET /user is 403
    can_write: bool = True


@dataclass
class StoredComment:
    id: int
    repo: str
    number: int
    body: str
    author: Account
    created_at: datetime
    updated_at: datetime
    minimized_reason: str | None = None


@dataclass
class StoredPull:
    """A pull request a commit belongs to: merged into `base` as `merge_sha`, or still open."""

    repo: str
    number: int
    base: str
    head_sha: str
    merge_sha: str | None
    labels: list[str]
    author: Account
    created_at: datetime


@dataclass(frozen=True)
class LabelEvent:
    event: str  # "labeled" | "unlabeled"
    label: str
    actor: Account
    created_at: datetime


@dataclass(frozen=True)
class Exchange:
    """One request and the fake's answer, as seen on the wire (paths without the GHES prefix)."""

    method: str
    path: str
    query: dict[str, list[str]]
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes
    operation: str | None  # the OpenAPI operationId served, None for an unknown route

    def json(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None


@dataclass
class Answer:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """A routed request, as an operation handler sees it."""

    token: Token
    match: re.Match[str]
    query: dict[str, list[str]]
    body: bytes
    origin: str  # scheme://host:port the client used, for the URLs in answers


Checker = Callable[[Exchange], list[str]]
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"/user"), "users/get-authenticated"),
    (
        "GET",
        re.compile(
            r"/(?:repos/(?P<repo>[^/]+/[^/]+)|repositories/(?P<rid>\d+))/issues/(?P<n>\d+)/comments"
        ),
        "issues/list-comments",
    ),
    (
        "POST",
        re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/comments"),
        "issues/create-comment",
    ),
    (
        "PATCH",
        re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<cid>\d+)"),
        "issues/update-comment",
    ),
    (
        "DELETE",
        re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<cid>\d+)"),
        "issues/delete-comment",
    ),
    ("GET", re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/git/ref/(?P<ref>.+)"), "git/get-ref"),
    (
        "GET",
        re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[^/]+)/pulls"),
        "repos/list-pull-requests-associated-with-commit",
    ),
    (
        "GET",
        re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/events"),
        "issues/list-events",
    ),
)


def _error(status: int, message: str, doc: str) -> Answer:
    return Answer(
        status, {"message": message, "documentation_url": f"{DOCS}/{doc}", "status": str(status)}
    )


class FakeGitHub:
    """GitHub's state (tokens, pull requests, comments) and its answers; no sockets here."""

    def __init__(self, *, html_root: str = "https://github.com", prefix: str = "") -> None:
        self.html_root = html_root
        self.prefix = prefix
        self.tokens: dict[str, Token] = {}
        self.repo_ids: dict[str, int] = {}
        self.pulls: set[tuple[str, int]] = set()
        self.comments: dict[int, StoredComment] = {}
        self.refs: dict[tuple[str, str], str] = {}  # (repo, "heads/main") → commit SHA
        self.merged: list[StoredPull] = []
        self.label_events: dict[tuple[str, int], list[LabelEvent]] = {}
        self.exchanges: list[Exchange] = []
        self.violations: list[str] = []
        self.checkers: list[Checker] = []
        # Called with each request's headers before it is answered, outside the fake's lock: a
        # test may hold a request back there to interleave two clients deterministically.
        self.before: Callable[[dict[str, str]], None] | None = None
        self._next_id = 1_000_001
        self._clock = datetime(2025, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    # -- seeding and inspection --------------------------------------------------------------------

    def add_token(
        self, token: str, account: Account, *, installation: bool, can_write: bool = True
    ) -> None:
        self.tokens[token] = Token(account, installation, can_write)

    def add_pull(self, repo: str, number: int) -> None:
        self.repo_ids.setdefault(repo, 700_000 + len(self.repo_ids))
        self.pulls.add((repo, number))

    def add_comment(
        self,
        repo: str,
        number: int,
        body: str,
        author: Account,
        *,
        minimized_reason: str | None = None,
    ) -> StoredComment:
        if (repo, number) not in self.pulls:
            self.add_pull(repo, number)
        now = self._tick()
        comment = StoredComment(
            self._new_id(), repo, number, body, author, now, now, minimized_reason
        )
        self.comments[comment.id] = comment
        return comment

    def set_branch(self, repo: str, branch: str, sha: str) -> None:
        """Point `branch` of `repo` at commit `sha` (a push)."""
        self.refs[(repo, f"heads/{branch}")] = sha

    def add_merged_pull(
        self,
        repo: str,
        number: int,
        merge_sha: str | None,
        *,
        base: str = "main",
        labels: tuple[str, ...] = (),
        labeled_by: Account | None = None,
        author: Account = Account("alice", 101),
    ) -> StoredPull:
        """A pull request merged into `base` as commit `merge_sha` (None: still open), carrying
        `labels`; each was added by `labeled_by` (an issue event), when given."""
        self.add_pull(repo, number)
        pull = StoredPull(
            repo, number, base, f"{number:040x}", merge_sha, list(labels), author, self._tick()
        )
        self.merged.append(pull)
        if labeled_by is not None:
            for label in labels:
                self.label(repo, number, label, labeled_by)
        return pull

    def label(
        self, repo: str, number: int, label: str, actor: Account, *, event: str = "labeled"
    ) -> None:
        """An issue event: `actor` added (or, with event="unlabeled", removed) `label`."""
        events = self.label_events.setdefault((repo, number), [])
        events.append(LabelEvent(event, label, actor, self._tick()))

    def comments_on(self, repo: str, number: int) -> list[StoredComment]:
        return sorted(
            (c for c in self.comments.values() if (c.repo, c.number) == (repo, number)),
            key=lambda c: c.id,
        )

    def calls(self) -> list[str]:
        """`METHOD path` of every request so far, in order."""
        return [f"{e.method} {e.path}" for e in self.exchanges]

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _tick(self) -> datetime:
        self._clock += timedelta(minutes=1)
        return self._clock

    # -- serving ---------------------------------------------------------------------------------

    def serve(
        self, method: str, target: str, headers: dict[str, str], body: bytes, origin: str
    ) -> Exchange:
        """Answer one request, log it and run the checkers on it."""
        if self.before is not None:
            self.before(headers)
        split = urlsplit(target)
        path = split.path.removeprefix(self.prefix) if self.prefix else split.path
        query = parse_qs(split.query)
        with self._lock:
            operation, answer = self._dispatch(method, path, query, headers, body, origin)
            data = b"" if answer.payload is None else json.dumps(answer.payload).encode()
            response_headers = {"Content-Type": "application/json; charset=utf-8", **answer.headers}
            exchange = Exchange(
                method, path, query, headers, body, answer.status, response_headers, data, operation
            )
            self.exchanges.append(exchange)
            for check in self.checkers:
                self.violations.extend(
                    f"{method} {path} → {answer.status}: {v}" for v in check(exchange)
                )
        return exchange

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        origin: str,
    ) -> tuple[str | None, Answer]:
        for route_method, pattern, operation in _ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                token = self._token(headers)
                if token is None:
                    return operation, _error(
                        401, "Bad credentials", "overview/troubleshooting-the-rest-api"
                    )
                handler = getattr(self, "_" + operation.split("/")[1].replace("-", "_"))
                return operation, handler(Call(token, match, query, body, origin))
        return None, _error(404, "Not Found", "overview/troubleshooting-the-rest-api")

    def _token(self, headers: dict[str, str]) -> Token | None:
        value = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        scheme, _, secret = value.partition(" ")
        return self.tokens.get(secret) if scheme.lower() in ("token", "bearer") else None

    def _repo(self, match: re.Match[str]) -> str | None:
        if match.groupdict().get("rid"):
            ids = {v: k for k, v in self.repo_ids.items()}
            return ids.get(int(match["rid"]))
        return match["repo"]

    # -- operations ------------------------------------------------------------------------------

    def _get_authenticated(self, call: Call) -> Answer:
        if call.token.installation:
            return _error(403, NOT_ACCESSIBLE, "users/users#get-the-authenticated-user")
        return Answer(200, self._public_user(call.token.account, call.origin))

    def _list_comments(self, call: Call) -> Answer:
        repo, number = self._repo(call.match), int(call.match["n"])
        if repo is None or (repo, number) not in self.pulls:
            return _error(404, "Not Found", "issues/comments#list-issue-comments")
        per_page = min(max(_int(call.query, "per_page", 30), 1), 100)
        page = max(_int(call.query, "page", 1), 1)
        items = self.comments_on(repo, number)
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, math.ceil(len(items) / per_page))
        link = self._link(call.origin, repo, number, per_page, page, last)
        items_json = [self._comment_json(c, call.origin) for c in chunk]
        return Answer(200, items_json, {"Link": link} if link else {})

    def _create_comment(self, call: Call) -> Answer:
        repo, number = call.match["repo"], int(call.match["n"])
        if (repo, number) not in self.pulls:
            return _error(404, "Not Found", "issues/comments#create-an-issue-comment")
        if not call.token.can_write:
            return _error(403, NOT_ACCESSIBLE, "issues/comments#create-an-issue-comment")
        text = _body(call.body)
        if isinstance(text, Answer):
            return text
        comment = self.add_comment(repo, number, text, call.token.account)
        answer = Answer(201, self._comment_json(comment, call.origin))
        answer.headers["Location"] = answer.payload["url"]
        return answer

    def _update_comment(self, call: Call) -> Answer:
        comment = self.comments.get(int(call.match["cid"]))
        if comment is None or comment.repo != call.match["repo"]:
            return _error(404, "Not Found", "issues/comments#update-an-issue-comment")
        if not call.token.can_write:
            return _error(403, NOT_ACCESSIBLE, "issues/comments#update-an-issue-comment")
        text = _body(call.body)
        if isinstance(text, Answer):
            return text
        comment.body = text
        comment.updated_at = self._tick()
        return Answer(200, self._comment_json(comment, call.origin))

    def _delete_comment(self, call: Call) -> Answer:
        comment = self.comments.get(int(call.match["cid"]))
        if comment is None or comment.repo != call.match["repo"]:
            return _error(404, "Not Found", "issues/comments#delete-an-issue-comment")
        if not call.token.can_write:
            return _error(403, NOT_ACCESSIBLE, "issues/comments#delete-an-issue-comment")
        del self.comments[comment.id]
        return Answer(204, None)

    def _get_ref(self, call: Call) -> Answer:
        repo, ref = call.match["repo"], unquote(call.match["ref"])
        sha = self.refs.get((repo, ref))
        if sha is None:
            return _error(404, "Not Found", "git/refs#get-a-reference")
        api = f"{call.origin}{self.prefix}/repos/{repo}/git"
        return Answer(
            200,
            {
                "ref": f"refs/{ref}",
                "node_id": f"REF_kwDO{sha[:12]}",
                "url": f"{api}/refs/{ref}",
                "object": {"type": "commit", "sha": sha, "url": f"{api}/commits/{sha}"},
            },
        )

    def _list_pull_requests_associated_with_commit(self, call: Call) -> Answer:
        repo, sha = call.match["repo"], call.match["sha"]
        found = [p for p in self.merged if p.repo == repo and sha in (p.merge_sha, p.head_sha)]
        return Answer(200, [self._pull_json(p, call.origin) for p in found])

    def _list_events(self, call: Call) -> Answer:
        repo, number = call.match["repo"], int(call.match["n"])
        if (repo, number) not in self.pulls:
            return _error(404, "Not Found", "issues/events#list-issue-events")
        api = f"{call.origin}{self.prefix}/repos/{repo}"
        events = []
        for index, event in enumerate(self.label_events.get((repo, number), []), start=1):
            event_id = number * 1000 + index
            events.append(
                {
                    "id": event_id,
                    "node_id": f"LE_kwDO{event_id}",
                    "url": f"{api}/issues/events/{event_id}",
                    "actor": self._user_json(event.actor, call.origin),
                    "event": event.event,
                    "commit_id": None,
                    "commit_url": None,
                    "created_at": _iso(event.created_at),
                    "performed_via_github_app": None,
                    "label": {"name": event.label, "color": "0e8a16"},
                }
            )
        return Answer(200, events)

    # -- representations -------------------------------------------------------------------------

    def _repository_json(self, repo: str, origin: str) -> dict[str, Any]:
        """A repository as a pull request's head and base carry it (every required field)."""
        api = f"{origin}{self.prefix}/repos/{repo}"
        owner, name = repo.split("/")
        repo_id = self.repo_ids.setdefault(repo, 700_000 + len(self.repo_ids))
        urls = {
            f"{kind}_url": f"{api}/{kind}"
            for kind in (
                "archive", "assignees", "blobs", "branches", "collaborators", "comments",
                "commits", "compare", "contents", "contributors", "deployments", "downloads",
                "events", "forks", "git_commits", "git_refs", "git_tags", "hooks",
                "issue_comment", "issue_events", "issues", "keys", "labels", "languages",
                "merges", "milestones", "notifications", "pulls", "releases", "stargazers",
                "statuses", "subscribers", "subscription", "tags", "teams", "trees",
            )
        }  # fmt: skip
        return {
            **urls,
            "id": repo_id,
            "node_id": f"R_kgDO{repo_id}",
            "name": name,
            "full_name": repo,
            "owner": self._user_json(Account(owner, 9000 + repo_id % 1000, "Organization"), origin),
            "private": False,
            "html_url": f"{self.html_root}/{repo}",
            "description": None,
            "fork": False,
            "url": api,
            "git_url": f"git://github.com/{repo}.git",
            "ssh_url": f"git@github.com:{repo}.git",
            "clone_url": f"{self.html_root}/{repo}.git",
            "svn_url": f"{self.html_root}/{repo}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "size": 100,
            "default_branch": "main",
            "open_issues": 0,
            "open_issues_count": 0,
            "has_downloads": True,
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "archived": False,
            "disabled": False,
            "license": None,
            "pushed_at": "2025-01-01T00:00:00Z",
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
        }

    def _pull_json(self, pull: StoredPull, origin: str) -> dict[str, Any]:
        """A pull request as `pull-request-simple` (the commit's pulls listing)."""
        api = f"{origin}{self.prefix}/repos/{pull.repo}"
        html = f"{self.html_root}/{pull.repo}/pull/{pull.number}"
        url = f"{api}/pulls/{pull.number}"
        owner = pull.repo.split("/")[0]
        merged_at = None if pull.merge_sha is None else _iso(pull.created_at + timedelta(hours=1))

        def side(ref: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self._user_json(pull.author, origin),
                "repo": self._repository_json(pull.repo, origin),
            }

        links = {
            "self": url, "html": html, "issue": f"{api}/issues/{pull.number}",
            "comments": f"{api}/issues/{pull.number}/comments",
            "review_comments": f"{url}/comments", "review_comment": f"{api}/pulls/comments{{/number}}",
            "commits": f"{url}/commits", "statuses": f"{api}/statuses/{pull.head_sha}",
        }  # fmt: skip
        return {
            "url": url,
            "id": 900_000 + pull.number,
            "node_id": f"PR_kwDO{pull.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": links["statuses"],
            "number": pull.number,
            "state": "open" if pull.merge_sha is None else "closed",
            "locked": False,
            "title": f"Pull request {pull.number}",
            "user": self._user_json(pull.author, origin),
            "body": None,
            "labels": [
                {
                    "id": 5_000_000 + index,
                    "node_id": f"LA_kwDO{index}",
                    "url": f"{api}/labels/{name}",
                    "name": name,
                    "description": "",
                    "color": "0e8a16",
                    "default": False,
                }
                for index, name in enumerate(pull.labels)
            ],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(pull.created_at),
            "updated_at": merged_at or _iso(pull.created_at),
            "closed_at": merged_at,
            "merged_at": merged_at,
            "merge_commit_sha": pull.merge_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": side(f"change-{pull.number}", pull.head_sha),
            "base": side(pull.base, "f" * 40),
            "_links": {key: {"href": href} for key, href in links.items()},
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": False,
        }

    def _link(
        self, origin: str, repo: str, number: int, per_page: int, page: int, last: int
    ) -> str:
        base = f"{origin}{self.prefix}/repositories/{self.repo_ids[repo]}/issues/{number}/comments"

        def url(target: int) -> str:
            return f"<{base}?{urlencode({'per_page': per_page, 'page': target})}>"

        rels = []
        if page > 1:
            rels.append(f'{url(min(page - 1, last))}; rel="prev"')
        if page < last:
            rels += [f'{url(page + 1)}; rel="next"', f'{url(last)}; rel="last"']
        if page > 1:
            rels.append(f'{url(1)}; rel="first"')
        return ", ".join(rels)

    def _user_json(self, account: Account, origin: str) -> dict[str, Any]:
        api = f"{origin}{self.prefix}/users/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": f"MDQ6VXNlcj{account.id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{account.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.html_root}/{account.login.removesuffix('[bot]')}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": account.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _public_user(self, account: Account, origin: str) -> dict[str, Any]:
        return {
            **self._user_json(account, origin),
            "name": account.login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "public_repos": 1,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }

    def _comment_json(self, comment: StoredComment, origin: str) -> dict[str, Any]:
        api = f"{origin}{self.prefix}/repos/{comment.repo}"
        data: dict[str, Any] = {
            "id": comment.id,
            "node_id": f"IC_kwDO{comment.id}",
            "url": f"{api}/issues/comments/{comment.id}",
            "html_url": f"{self.html_root}/{comment.repo}/pull/{comment.number}#issuecomment-{comment.id}",
            "body": comment.body,
            "user": self._user_json(comment.author, origin),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "issue_url": f"{api}/issues/{comment.number}",
            "author_association": "NONE" if comment.author.type == "Bot" else "MEMBER",
            "performed_via_github_app": None,
            "reactions": {
                "url": f"{api}/issues/comments/{comment.id}/reactions",
                "total_count": 0,
                "+1": 0,
                "-1": 0,
                "laugh": 0,
                "hooray": 0,
                "confused": 0,
                "heart": 0,
                "rocket": 0,
                "eyes": 0,
            },
        }
        if comment.minimized_reason:
            data["minimized"] = {"reason": comment.minimized_reason}
        return data


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    return int(values[0]) if values and values[0].isdigit() else default


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(raw: bytes) -> str | Answer:
    """The `body` of a create/update request, or GitHub's 422 for a missing or too long one."""
    try:
        payload = json.loads(raw or b"null")
    except json.JSONDecodeError:
        return _error(400, "Problems parsing JSON", "issues/comments")
    text = payload.get("body") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        return Answer(
            422,
            {
                "message": 'Invalid request.\n\n"body" wasn\'t supplied.',
                "documentation_url": f"{DOCS}/issues/comments",
                "status": "422",
            },
        )
    if len(text) > 65_536:
        return Answer(
            422,
            {
                "message": "Validation Failed",
                "documentation_url": f"{DOCS}/issues/comments",
                "errors": [
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": "body is too long (maximum is 65536 characters)",
                    }
                ],
                "status": "422",
            },
        )
    return text


# -- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' connection pool expects

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
        exchange = self.server.fake.serve(
            self.command, self.path, dict(self.headers.items()), body, f"http://{host}"
        )
        self.send_response(exchange.status)
        for name, value in exchange.response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(exchange.response_body)))
        self.end_headers()
        self.wfile.write(exchange.response_body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the fake keeps its own log
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeGitHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def serve_github(fake: FakeGitHub) -> Iterator[str]:
    """Serve `fake` on 127.0.0.1 (a free port) in a thread; yields the API URL (GITHUB_API_URL)."""
    server = _Server(fake)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-github", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{fake.prefix}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
