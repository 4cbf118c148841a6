"""The emulator in process: an httpx transport that runs the server's request pipeline, no socket.

    client = httpx.Client(transport=EmulatorTransport(emu), base_url="http://emulator.test")

Same answers as over HTTP (same `pipeline.handle`); the client address is 127.0.0.1 for the rate
limit. A fault's delay never sleeps for real unless the emulator's own `sleep` does: a delay of at
least the request's read timeout raises `httpx.ReadTimeout` (after any processing, as a late
answer would), a shorter one calls `emulator.sleep`.
"""

from __future__ import annotations

import httpx

from ckaction.emulator.pipeline import handle
from ckaction.emulator.state import Emulator

CLIENT_ADDRESS = "127.0.0.1"


class EmulatorTransport(httpx.BaseTransport):
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        read_timeout = request.extensions.get("timeout", {}).get("read")

        def wait(delay: float) -> None:
            if read_timeout is not None and delay >= read_timeout:
                raise httpx.ReadTimeout(
                    f"The emulator answers {delay} s late; the read timeout is {read_timeout} s",
                    request=request,
                )
            self.emulator.sleep(delay)

        reply = handle(
            self.emulator,
            request.method,
            request.url.raw_path.decode("ascii"),
            request.read(),
            {key.lower(): value for key, value in request.headers.items()},
            CLIENT_ADDRESS,
            wait=wait,
        )
        body = b"" if request.method == "HEAD" else reply.body
        return httpx.Response(reply.status, headers=reply.headers, content=body, request=request)
