"""HTTP front of the emulator: routing, JSON (de)serialization, faults, rate limit, auth.

Standard library only: a `ThreadingHTTPServer` on a daemon thread. Order of concerns per request:
injected fault (may short-circuit) → rate limit (counts before auth, answers 429 with no
Retry-After) → API root prefix → bearer auth → route → state method.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ckaction.emulator.faults import Fault, RequestRecord
from ckaction.emulator.judging import JsonDict
from ckaction.emulator.records import ApiError, Page, Query, first
from ckaction.emulator.state import Emulator

JSON_TYPE = "application/json; charset=utf-8"
MALFORMED_BODY = b'{"id": 1, "status": "runn'  # truncated JSON: not parseable


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        data = json.dumps(payload, ensure_ascii=False).encode()
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


_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^{pattern}/?$"), handler))
        return handler

    return register


# -- runs ---------------------------------------------------------------------------------------


@route("GET", "/runs")
def _list_runs(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_runs(req.query))


@route("POST", "/runs")
def _create_run(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_run(req.body))


@route("GET", "/runs/([^/]+)")
def _get_run(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_run(args[0]))


@route("PATCH", "/runs/([^/]+)")
@route("PUT", "/runs/([^/]+)")
def _update_run(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_run(args[0], req.body))


@route("DELETE", "/runs/([^/]+)")
def _delete_run(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_run(args[0])
    return _no_content()


@route("POST", "/runs/([^/]+)/generate")
def _generate(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(202, emu.generate(args[0]))


@route("POST", "/runs/([^/]+)/rerun")
def _rerun(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(202, emu.rerun(args[0]))


@route("POST", "/runs/([^/]+)/retry_failures")
def _retry_failures(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    body = dict(req.body)
    only = [*req.query.get("only[]", []), *req.query.get("only", [])]
    if "only" not in body and only:
        body["only"] = only
    return _ok(202, emu.retry_failures(args[0], body))


@route("POST", "/runs/([^/]+)/regrade")
def _regrade(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(202, emu.regrade(args[0]))


@route("GET", "/runs/([^/]+)/compare")
def _compare(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.compare(args[0], first(req.query, "with") or None))


@route("GET", "/runs/([^/]+)/responses")
def _list_responses(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_responses(args[0], req.query))


@route("GET", "/runs/([^/]+)/responses/([^/]+)")
def _get_response(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_response(args[0], args[1]))


# -- prompts, datasets, metrics ------------------------------------------------------------------


@route("GET", "/prompts")
def _list_prompts(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_prompts(req.query))


@route("POST", "/prompts")
def _create_prompt(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_prompt(req.body))


@route("GET", "/prompts/([^/]+)")
def _get_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_prompt(args[0]))


@route("PATCH", "/prompts/([^/]+)")
@route("PUT", "/prompts/([^/]+)")
def _update_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_prompt(args[0], req.body))


@route("DELETE", "/prompts/([^/]+)")
def _delete_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_prompt(args[0])
    return _no_content()


@route("POST", "/prompts/([^/]+)/publish")
def _publish_prompt(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.publish_prompt(args[0]))


@route("GET", "/datasets")
def _list_datasets(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_datasets(req.query))


@route("POST", "/datasets")
def _create_dataset(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_dataset(req.body))


@route("GET", "/datasets/([^/]+)")
def _get_dataset(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_dataset(args[0]))


@route("PATCH", "/datasets/([^/]+)")
@route("PUT", "/datasets/([^/]+)")
def _update_dataset(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_dataset(args[0], req.body))


@route("DELETE", "/datasets/([^/]+)")
def _delete_dataset(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_dataset(args[0])
    return _no_content()


@route("GET", "/metrics")
def _list_metrics(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return Reply.page(emu.list_metrics(req.query))


@route("POST", "/metrics")
def _create_metric(emu: Emulator, req: Request, _: tuple[str, ...]) -> Reply:
    return _ok(201, emu.create_metric(req.body))


@route("GET", "/metrics/([^/]+)")
def _get_metric(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.get_metric(args[0]))


@route("PATCH", "/metrics/([^/]+)")
@route("PUT", "/metrics/([^/]+)")
def _update_metric(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    return _ok(200, emu.update_metric(args[0], req.body))


@route("DELETE", "/metrics/([^/]+)")
def _delete_metric(emu: Emulator, req: Request, args: tuple[str, ...]) -> Reply:
    emu.delete_metric(args[0])
    return _no_content()


# -- request processing ------------------------------------------------------------------------------


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
    if not emu.admit(client):
        return Reply.error(429, "Rate limit exceeded")
    relative = relative_path(emu.api_root_path, path)
    if relative is None:
        return Reply.error(404, "Not found")
    try:
        emu.authenticate(headers.get("authorization"))
        for route_method, pattern, handler in _ROUTES:
            if route_method != method:
                continue
            match = pattern.match(relative)
            if match:
                body = parse_body(raw_body) if method in ("POST", "PATCH", "PUT") else {}
                args = tuple(unquote(group) for group in match.groups())
                return handler(emu, Request(method, relative, query, body), args)
        return Reply.error(404, "Not found")
    except ApiError as exc:
        return Reply.json(exc.status, exc.body)
    except BadRequest as exc:
        return Reply.error(400, str(exc))
    except Exception:
        with emu.lock:
            emu.note_error()
        return Reply.error(500, "Internal server error")


def fault_reply(fault: Fault) -> Reply:
    if fault.malformed:
        return Reply(200, MALFORMED_BODY, {"Content-Type": JSON_TYPE})
    status = fault.status if fault.status is not None else 500
    if fault.body is not None:
        content_type = fault.content_type or "text/html; charset=utf-8"
        return Reply(status, fault.body.encode(), {"Content-Type": content_type})
    return Reply.json(status, {"error": f"Injected fault: HTTP {status}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "CompletionKitEmulator/1"
    sys_version = ""
    wbufsize = -1  # buffer the reply: headers and body leave in one write (no Nagle stalls)
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "").strip()
        if length.isdigit():
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        arrived = emu.now()
        split = urlsplit(self.path)
        full_path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        raw_body = self._read_body()
        relative = relative_path(emu.api_root_path, full_path) or full_path

        fault = emu.take_fault(method, relative)
        overrides = fault is not None and (fault.malformed or fault.status is not None)
        if fault is not None and overrides and not fault.after_processing:
            reply = fault_reply(fault)
        else:
            headers = {key.lower(): value for key, value in self.headers.items()}
            client = str(self.client_address[0])
            reply = dispatch(emu, method, full_path, query, raw_body, headers, client)
            if fault is not None and overrides:
                reply = fault_reply(fault)
        if fault is not None and fault.delay > 0:
            time.sleep(fault.delay)  # the work (if any) is done; only the answer is late

        emu.record(
            RequestRecord(
                method=method,
                path=relative,
                query={k: list(v) for k, v in query.items()},
                time=arrived,
                status=reply.status,
                full_path=full_path,
                body=_loggable(raw_body),
                client=self.client_address[0],
                fault=fault,
            )
        )
        self._send(reply, head=method == "HEAD")

    def _send(self, reply: Reply, *, head: bool) -> None:
        try:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.status != 204:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body and not head and reply.status != 204:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout) or the server is stopping
            self.close_connection = True


def _loggable(raw: bytes) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode(errors="replace")


class EmulatorServer:
    """Serves an `Emulator` over real HTTP on a daemon thread."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self.emulator)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"ck-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None
        self._thread = None
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """Scheme, host and port: http://127.0.0.1:53211."""
        if self._server is None:
            raise RuntimeError("EmulatorServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API root, no trailing slash: http://127.0.0.1:53211/orgs/acme/api/v1."""
        return self.base_url + self.emulator.api_root_path

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[EmulatorServer]:
    """Start a server for `emulator`, yield it, stop it."""
    server = EmulatorServer(emulator, host, port).start()
    try:
        yield server
    finally:
        server.stop()
