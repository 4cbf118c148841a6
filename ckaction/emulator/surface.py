"""Which server the emulator plays: today's engine, a listing that misbehaves, or an old engine.

Four switches on the `Emulator`, all off by default (today's engine):

* `ignores_offset`: index endpoints answer the first page whatever `offset` asks for, as a proxy
  or a server that drops the parameter would;
* `ignores_filters`: index endpoints answer as if no filter (`prompt_id`, `status`, `tag[]`, ...)
  had been sent, as an engine that does not know one would;
* `drops_paging_headers`: index endpoints send no `X-Total-Count` / `X-Limit` / `X-Offset`;
* `old_engine`: the 0.3.0 surface (completion-kit v0.3.0, `config/routes.rb` and
  `app/controllers/completion_kit/api/v1/runs_controller.rb`): no `compare`, `rerun`, `regrade` or
  `retry_failures` route (Rails answers an unrouted path 404 `{"status":404,"error":"Not Found"}`),
  every index is `Model.order(created_at: :desc)` whole (no paging, no filters, no headers), and
  `run_params` / `prompt_params` permit no `tag_names`, so tags sent are dropped silently. Compare,
  rerun, regrade and retry_failures came to the REST API in 0.7.0 with paging and list filters
  (CHANGELOG 0.7.0); tags in 0.5.0. It plays the absences a gate must notice, not every other
  difference of 0.3.0 (its runs' JSON, say, had no `progress`).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from ckaction.emulator.records import MAX_LIMIT, Query
from ckaction.emulator.routes import Handler, Reply, Request
from ckaction.emulator.state import Emulator

PAGING_HEADERS = ("X-Total-Count", "X-Limit", "X-Offset")
# Member routes the 0.3.0 engine did not have.
ABSENT_IN_OLD_ENGINE = re.compile(r"^/runs/[^/]+/(compare|rerun|regrade|retry_failures)$")
INDEX = re.compile(r"^/(runs|prompts|datasets|metrics)$|^/runs/[^/]+/responses$")
UNROUTED = {"status": 404, "error": "Not Found"}  # ActionDispatch::PublicExceptions, as JSON


def answer(emu: Emulator, handler: Handler, request: Request, args: tuple[str, ...]) -> Reply:
    """The route's answer as the server the switches describe would give it."""
    if emu.old_engine:
        return _old_engine(emu, handler, request, args)
    if request.method == "GET" and INDEX.match(request.path):
        request = replace(request, query=_heeded(emu, request.query))
    reply = handler(emu, request, args)
    return _without_paging_headers(reply) if emu.drops_paging_headers else reply


def _heeded(emu: Emulator, query: Query) -> Query:
    """What of an index request's query the server acts on."""
    paging = {"limit"} if emu.ignores_offset else {"limit", "offset"}
    return {
        key: value
        for key, value in query.items()
        if key in paging or (key not in ("limit", "offset") and not emu.ignores_filters)
    }


def _old_engine(emu: Emulator, handler: Handler, request: Request, args: tuple[str, ...]) -> Reply:
    if ABSENT_IN_OLD_ENGINE.match(request.path):
        return Reply.json(404, UNROUTED)
    body = {key: value for key, value in request.body.items() if key != "tag_names"}
    request = replace(request, body=body)
    if request.method == "GET" and INDEX.match(request.path):
        return _whole_index(emu, handler, request, args)
    return handler(emu, request, args)


def _whole_index(emu: Emulator, handler: Handler, request: Request, args: tuple[str, ...]) -> Reply:
    """Every item of an index, unfiltered, as one bare array with no paging headers."""
    items: list[object] = []
    while True:
        query = {"limit": [str(MAX_LIMIT)], "offset": [str(len(items))]}
        page = handler(emu, replace(request, query=query), args)
        chunk = json.loads(page.body)
        items.extend(chunk)
        if not chunk or len(items) >= int(page.headers["X-Total-Count"]):
            return Reply.json(200, items)


def _without_paging_headers(reply: Reply) -> Reply:
    headers = {key: value for key, value in reply.headers.items() if key not in PAGING_HEADERS}
    return replace(reply, headers=headers)
