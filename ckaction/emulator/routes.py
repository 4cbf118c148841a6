"""The API's routes: each (method, path pattern) to the `Emulator` method that answers it.

`Reply` is what a route returns; `pipeline.dispatch` finds the route for a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ckaction.emulator.judging import JsonDict
from ckaction.emulator.records import Page, Query, first
from ckaction.emulator.state import Emulator

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between the body's bytes over real HTTP (a fault's `drip`)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        try:
            data = json.dumps(payload, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate travels only as a `\ud800` escape
            data = json.dumps(payload).encode()
        return cls(status, data, {"Content-Type": JSON_TYPE, **(headers or {})})

    @classmethod
    def error(cls, status: int, message: str) -> Reply:
        return cls.json(status, {"error": message})

    @classmethod
    def page(cls, page: Page) -> Reply:
        return cls.json(
            200,
            page.items,
            {
                "X-Total-Count": str(page.total),
                "X-Limit": str(page.limit),
                "X-Offset": str(page.offset),
            },
        )


class BadRequest(Exception):
    pass


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # relative to the API root
    query: Query
    body: JsonDict


Handler = Callable[[Emulator, Request, tuple[str, ...]], Reply]


def _ok(status: int, payload: Any) -> Reply:
    return Reply.json(status, payload)


def _no_content() -> Reply:
    return Reply(204)


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []

# Rails' default segment constraint: a route id stops at the first dot of the (still
# percent-encoded) path, and what follows is the optional `(.:format)`. So `prompts/gpt-4.1-reply`
# looks up "gpt-4"; `prompts/gpt-4%2E1-reply` looks up "gpt-4.1-reply".
ID = "([^/.]+)"
FORMAT = r"(?:\.[^/]+)?"


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}{FORMAT}/?$"), handler))
        return handler

    return register


# -- runs ---------------------------------------------------------------------------------------


@route("GET", "/runs")
def _list_runs(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_runs(req.query))


@route("POST", "/runs")
def _create_run(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_run(req.body))


@route("GET", f"/runs/{ID}")
def _get_run(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_run(args[0]))


@route("PATCH", f"/runs/{ID}")
@route("PUT", f"/runs/{ID}")
def _update_run(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_run(args[0], req.body))


@route("DELETE", f"/runs/{ID}")
def _delete_run(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_run(args[0])
    return _no_content()


@route("POST", f"/runs/{ID}/generate")
def _generate(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(202, emu.generate(args[0]))


@route("POST", f"/runs/{ID}/rerun")
def _rerun(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(202, emu.rerun(args[0]))


@route("POST", f"/runs/{ID}/retry_failures")
def _retry_failures(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    body = dict(req.body)
    only = [*req.query.get("only[]", []), *req.query.get("only", [])]
    if "only" not in body and only:
        body["only"] = only
    return _ok(202, emu.retry_failures(args[0], body))


@route("POST", f"/runs/{ID}/regrade")
def _regrade(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(202, emu.regrade(args[0]))


@route("GET", f"/runs/{ID}/compare")
def _compare(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.compare(args[0], first(req.query, "with") or None))


@route("GET", f"/runs/{ID}/responses")
def _list_responses(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_responses(args[0], req.query))


@route("GET", f"/runs/{ID}/responses/{ID}")
def _get_response(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_response(args[0], args[1]))


# -- prompts, datasets, metrics ------------------------------------------------------------------


@route("GET", "/prompts")
def _list_prompts(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_prompts(req.query))


@route("POST", "/prompts")
def _create_prompt(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_prompt(req.body))


@route("GET", f"/prompts/{ID}")
def _get_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_prompt(args[0]))


@route("PATCH", f"/prompts/{ID}")
@route("PUT", f"/prompts/{ID}")
def _update_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_prompt(args[0], req.body))


@route("DELETE", f"/prompts/{ID}")
def _delete_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_prompt(args[0])
    return _no_content()


@route("POST", f"/prompts/{ID}/publish")
def _publish_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.publish_prompt(args[0]))


@route("GET", "/datasets")
def _list_datasets(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_datasets(req.query))


@route("POST", "/datasets")
def _create_dataset(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_dataset(req.body))


@route("GET", f"/datasets/{ID}")
def _get_dataset(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_dataset(args[0]))


@route("PATCH", f"/datasets/{ID}")
@route("PUT", f"/datasets/{ID}")
def _update_dataset(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_dataset(args[0], req.body))


@route("DELETE", f"/datasets/{ID}")
def _delete_dataset(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_dataset(args[0])
    return _no_content()


@route("GET", "/metrics")
def _list_metrics(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_metrics(req.query))


@route("POST", "/metrics")
def _create_metric(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_metric(req.body))


@route("GET", f"/metrics/{ID}")
def _get_metric(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_metric(args[0]))


@route("PATCH", f"/metrics/{ID}")
@route("PUT", f"/metrics/{ID}")
def _update_metric(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_metric(args[0], req.body))


@route("DELETE", f"/metrics/{ID}")
def _delete_metric(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_metric(args[0])
    return _no_content()
