"""Serve the sandbox gateway as its own server, e.g. ``manage.py run_sandbox --port 8100``."""

from __future__ import annotations

import socketserver
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

from checkout.sandbox import delivery, wan
from checkout.sandbox.conf import sandbox_allowed, sandbox_settings
from checkout.sandbox.server import SandboxWSGIHandler

__all__ = ["Command", "ConnectionRequestHandler", "ThreadedServer"]


class ConnectionRequestHandler(WSGIRequestHandler):
    """Django's request handler, telling the application which connection a request uses.

    The simulated network (checkout.sandbox.wan) charges the handshakes of a new
    connection to the first request on it.
    """

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ[wan.CONNECTION_KEY] = self.connection
        return environ


class ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per connection; threads do not hold up the process when it stops."""

    daemon_threads = True


class Command(BaseCommand):
    help = (
        "Serve the JCC sandbox gateway on its own port: http://HOST:PORT/payment/ plays "
        "https://gateway-test.jcc.com.cy/payment/. It shares the project's database."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8100, help="Port to listen on.")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        if not sandbox_allowed():
            raise CommandError(
                "The sandbox fakes a bank: it runs only with DEBUG on or "
                "CHECKOUT['SANDBOX_ALLOWED'] = True."
            )
        delivery.ensure_worker()
        round_trip = float(sandbox_settings.ROUND_TRIP)
        network = (
            f", simulated round trip {round_trip * 1000:g} ms "
            f"(+{sandbox_settings.NEW_CONNECTION_ROUND_TRIPS} on a new connection)"
            if round_trip > 0
            else ""
        )
        self.stdout.write(
            f"JCC sandbox gateway at http://{host}:{port}/payment/{network} "
            "(set JCC_GATEWAY_URL to this for the shop). Ctrl-C to stop."
        )
        try:
            server = ThreadedServer((host, port), ConnectionRequestHandler, ipv6=":" in host)
        except OSError as err:
            raise CommandError(f"Cannot listen on {host}:{port}: {err}") from err
        server.set_app(SandboxWSGIHandler())
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
