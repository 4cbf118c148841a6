"""The emulator over real HTTP: a standard-library `ThreadingHTTPServer` on a daemon thread.

Each request goes through `pipeline.handle`; a fault's delay waits with the emulator's `sleep`.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ckaction.emulator.pipeline import handle
from ckaction.emulator.routes import Reply
from ckaction.emulator.state import Emulator


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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a read timeout on its side) is expected here; anything
        else is printed as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

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
        raw_body = self._read_body()
        headers = {key.lower(): value for key, value in self.headers.items()}
        client = str(self.client_address[0])
        reply = handle(emu, method, self.path, raw_body, headers, client, wait=emu.sleep)
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
                self._write_body(reply)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout) or the server is stopping
            self.close_connection = True

    def _write_body(self, reply: Reply) -> None:
        if not reply.drip:
            self.wfile.write(reply.body)
            return
        for index in range(len(reply.body)):
            self.wfile.write(reply.body[index : index + 1])
            self.wfile.flush()
            self.server.emulator.sleep(reply.drip)


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
