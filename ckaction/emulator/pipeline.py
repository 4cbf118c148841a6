"""One request, start to finish, whatever carries it (the HTTP server or the in-process transport).

Order of concerns: late writes now due (`Fault.lands_after`) → injected fault (may short-circuit, or rewrite the answer) → rate limit (counts before auth, answers
429 with no Retry-After) → API root prefix → bearer auth → route → state method → the fault's
delay, if any → the request log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from http import HTTPStatus
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ckaction.controllers import controller_of
from ckaction.emulator.compare import TAMPERINGS
from ckaction.emulator.faults import Fault, RequestRecord
from ckaction.emulator.judging import JsonDict
from ckaction.emulator.pages import run_page, run_page_id
from ckaction.emulator.records import ApiError, Query
from ckaction.emulator.routes import JSON_TYPE, ROUTES, BadRequest, Reply, Request
from ckaction.emulator.state import Emulator
from ckaction.emulator.surface import answer

MALFORMED_BODY = b'{"id": 1, "status": "runn'  # truncated JSON: not parseable
WRITE_METHODS = ("POST", "PATCH", "PUT")


def handle(
    emu: Emulator,
    method: str,
    target: str,
    raw_body: bytes,
    headers: Mapping[str, str],
    client: str,
    *,
    wait: Callable[[float], None],
) -> Reply:
    """Answer one request. `target` is the request line's path and query, still percent-encoded;
    `headers` keys are lower-case; `wait(seconds)` makes a fault's answer late (it may raise, e.g.
    a read timeout in process: the request is logged all the same)."""
    emu.land_due()
    arrived = emu.now()
    split = urlsplit(target)
    full_path = split.path
    query = parse_qs(split.query, keep_blank_values=True)
    relative = relative_path(emu.api_root_path, full_path) or full_path

    fault = emu.take_fault(method, relative)
    overrides = fault is not None and (fault.malformed or fault.status is not None)
    if fault is not None and fault.lands_after is not None:
        emu.land_later(
            arrived + fault.lands_after,
            lambda: dispatch(emu, method, full_path, query, raw_body, headers, client),
        )
        reply = fault_reply(fault, headers)
    elif fault is not None and overrides and not fault.after_processing:
        reply = fault_reply(fault, headers)
    else:
        reply = dispatch(emu, method, full_path, query, raw_body, headers, client)
        if fault is not None and overrides:
            reply = fault_reply(fault, headers)
        elif fault is not None and fault.tamper is not None and reply.status == HTTPStatus.OK:
            reply = Reply.json(reply.status, TAMPERINGS[fault.tamper](json.loads(reply.body)))
    if fault is not None and fault.drip > 0:
        reply = replace(reply, drip=fault.drip)
    try:
        if fault is not None and fault.delay > 0:
            wait(fault.delay)  # the work (if any) is done; only the answer is late
    finally:
        emu.record(
            RequestRecord(
                method=method,
                path=relative,
                query={k: list(v) for k, v in query.items()},
                time=arrived,
                status=reply.status,
                full_path=full_path,
                body=_loggable(raw_body),
                client=client,
                fault=fault,
            )
        )
    return reply


def parse_body(raw: bytes) -> JsonDict:
    """Requests are JSON objects with top-level keys; an empty body is {}."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object with top-level keys")
    return data


def relative_path(root: str, path: str) -> str | None:
    """The path below the API root ("/runs/3"), or None when outside it."""
    if path == root:
        return "/"
    if path.startswith(root + "/"):
        return path[len(root) :]
    return None


def dispatch(
    emu: Emulator,
    method: str,
    path: str,
    query: Query,
    raw_body: bytes,
    headers: Mapping[str, str],
    client: str,
) -> Reply:
    """Everything after fault handling: rate limit, prefix, auth, routing, errors.

    `headers` keys are lower-case."""
    relative = relative_path(emu.api_root_path, path)
    page = run_page_id(emu, method, path) if relative is None else None
    if page is not None:
        return run_page(emu, page)
    if not emu.admit(client, controller_of(relative or path)):
        return Reply.error(429, "Rate limit exceeded")
    if relative is None:
        return Reply.error(404, "Not found")
    try:
        emu.authenticate(headers.get("authorization"))
        # Rails routes a HEAD request as a GET (ActionDispatch::Journey::Router); the body is cut
        # where the answer is sent (server.py, transport.py).
        routed_as = "GET" if method == "HEAD" else method
        for route_method, pattern, handler in ROUTES:
            if route_method != routed_as:
                continue
            match = pattern.match(relative)
            if match:
                body = parse_body(raw_body) if method in WRITE_METHODS else {}
                args = tuple(unquote(group) for group in match.groups())
                return answer(emu, handler, Request(method, relative, query, body), args)
        return Reply.error(404, "Not found")
    except ApiError as exc:
        return Reply.json(exc.status, exc.body)
    except BadRequest as exc:
        return Reply.error(400, str(exc))
    except Exception:
        with emu.lock:
            emu.note_error()
        return Reply.error(500, "Internal server error")


def fault_reply(fault: Fault, headers: Mapping[str, str]) -> Reply:
    reply = _fault_answer(fault, headers)
    return replace(reply, headers={**reply.headers, **fault.headers})


def _fault_answer(fault: Fault, headers: Mapping[str, str]) -> Reply:
    if fault.malformed:
        return Reply(200, MALFORMED_BODY, {"Content-Type": JSON_TYPE})
    status = fault.status if fault.status is not None else 500
    if fault.echo is not None:
        return Reply.json(status, echoed(status, fault.echo, headers.get(fault.echo, "")))
    if fault.body is not None:
        content_type = fault.content_type or "text/html; charset=utf-8"
        return Reply(status, fault.body.encode(), {"Content-Type": content_type})
    return Reply.json(status, {"error": f"Injected fault: HTTP {status}"})


def echoed(status: int, header: str, value: str) -> JsonDict:
    """An error body that echoes a request header's value in four spellings."""
    return {
        "error": f"Injected fault: HTTP {status}, echoing {header}",
        "details": {
            header: value,
            "repr": repr(value),
            "url": quote(value, safe=""),
            "base64": base64.b64encode(value.encode()).decode("ascii"),
        },
    }


def _loggable(raw: bytes) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode(errors="replace")
