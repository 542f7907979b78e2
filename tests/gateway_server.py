"""A scriptable HTTP server on 127.0.0.1 that plays the gateway's transport for client tests.

Each route answers with a list of actions, used in turn (the last one repeats): canned
bodies, slow answers, dropped or reset connections, HTTP errors. Every request is
recorded so tests can check exactly what went over the wire.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: Published gateway answers, kept with the tests (see fixtures/gateway/README.md).
EXAMPLES = Path(__file__).parent / "fixtures" / "gateway"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    body: bytes
    headers: dict[str, str]
    client_port: int


Action = Callable[["_Handler"], None]


def reply(
    body: Any, *, status: int = 200, content_type: str = "application/json;charset=UTF-8"
) -> Action:
    """Answer with ``body`` (a dict/list is sent as JSON, str/bytes as is)."""
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = bytes(body)

    def action(handler: _Handler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    return action


def example(name: str, **kwargs: Any) -> Action:
    """Answer with one of the published examples, byte for byte."""
    return reply((EXAMPLES / name).read_bytes(), **kwargs)


def slow(seconds: float, then: Action) -> Action:
    """Wait (past the client's read timeout) before answering."""

    def action(handler: _Handler) -> None:
        time.sleep(seconds)
        then(handler)

    return action


def drop() -> Action:
    """Read the request, then close the connection without a word."""

    def action(handler: _Handler) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    return action


def reset() -> Action:
    """Read the request, then reset the connection (TCP RST)."""

    def action(handler: _Handler) -> None:
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()

    return action


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
        gateway = self.server.gateway
        gateway.received.append(
            Received(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query)),
                form=form,
                body=body,
                headers={k.lower(): v for k, v in self.headers.items()},
                client_port=self.client_address[1],
            )
        )
        action = gateway.next_action(self.command, parts.path)
        # OSError: the client gave up (read timeout), nothing left to say.
        with suppress(OSError):
            action(self)

    do_GET = _handle
    do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    gateway: FakeGateway


@dataclass
class FakeGateway:
    """Routes by path below ``/payment/``; see the module docstring."""

    server: _Server
    routes: dict[tuple[str, str], list[Action]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    scheme: str = "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_port}/payment/"

    def on(self, path: str, *actions: Action, method: str = "POST") -> None:
        """Script the answers to ``<base><path>`` (e.g. "rest/deposit.do")."""
        self.routes[(method, "/payment/" + path)] = list(actions)

    def next_action(self, method: str, path: str) -> Action:
        actions = self.routes.get((method, path))
        if not actions:
            return reply({"error": "no route"}, status=404)
        return actions.pop(0) if len(actions) > 1 else actions[0]

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == "/payment/" + path]


@contextmanager
def running_gateway(ssl_context: ssl.SSLContext | None = None) -> Iterator[FakeGateway]:
    server = _Server(("127.0.0.1", 0), _Handler)
    gateway = FakeGateway(server=server)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
        gateway.scheme = "https"
    server.gateway = gateway
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port with nobody listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: connecting times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()
