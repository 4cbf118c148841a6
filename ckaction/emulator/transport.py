"""The emulator in-process: an httpx transport that runs the HTTP server's request pipeline
(fault → rate limit → prefix → auth → route → record) with no socket.

    client = httpx.Client(transport=EmulatorTransport(emulator), base_url=url)

A fault's `delay` never sleeps for real here: a delay at least the request's read timeout raises
`httpx.ReadTimeout` (after the processing, as a late answer from a real server would), a shorter one
calls the emulator's `sleep` (a fake clock's, in tests).

Temporary stand-in with the constructor of the transport being written on another branch; that one
replaces this file at merge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx

from ckaction.emulator.faults import RequestRecord
from ckaction.emulator.server import _loggable, dispatch, fault_reply, relative_path
from ckaction.emulator.state import Emulator


class EmulatorTransport(httpx.BaseTransport):
    def __init__(self, emulator: Emulator, client_ip: str = "127.0.0.1") -> None:
        self.emulator = emulator
        self.client_ip = client_ip

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        emu = self.emulator
        arrived = emu.now()
        method = request.method
        split = urlsplit(request.url.raw_path.decode("ascii"))
        query = parse_qs(split.query, keep_blank_values=True)
        raw_body = request.read()
        relative = relative_path(emu.api_root_path, split.path) or split.path

        fault = emu.take_fault(method, relative)
        overrides = fault is not None and (fault.malformed or fault.status is not None)
        if fault is not None and overrides and not fault.after_processing:
            reply = fault_reply(fault)
        else:
            headers = {key.lower(): value for key, value in request.headers.items()}
            reply = dispatch(emu, method, split.path, query, raw_body, headers, self.client_ip)
            if fault is not None and overrides:
                reply = fault_reply(fault)
        emu.record(
            RequestRecord(
                method=method,
                path=relative,
                query={k: list(v) for k, v in query.items()},
                time=arrived,
                status=reply.status,
                full_path=split.path,
                body=_loggable(raw_body),
                client=self.client_ip,
                fault=fault,
            )
        )
        if fault is not None and fault.delay > 0:
            read_timeout = request.extensions.get("timeout", {}).get("read")
            if read_timeout is not None and fault.delay >= read_timeout:
                raise httpx.ReadTimeout("the emulator answered too late", request=request)
            sleep: Callable[[float], None] = getattr(emu, "sleep", time.sleep)
            sleep(fault.delay)
        body = b"" if method == "HEAD" or reply.status == 204 else reply.body
        return httpx.Response(reply.status, headers=reply.headers, content=body, request=request)
