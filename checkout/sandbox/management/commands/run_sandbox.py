"""Serve the sandbox gateway as its own server, e.g. ``manage.py run_sandbox --port 8100``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import run

from checkout.sandbox import delivery
from checkout.sandbox.conf import sandbox_allowed
from checkout.sandbox.server import SandboxWSGIHandler

__all__ = ["Command"]


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
        self.stdout.write(
            f"JCC sandbox gateway at http://{host}:{port}/payment/ "
            "(set JCC_GATEWAY_URL to this for the shop). Ctrl-C to stop."
        )
        try:
            run(host, port, SandboxWSGIHandler(), ipv6=":" in host, threading=True)
        except KeyboardInterrupt:
            pass
        except OSError as err:
            raise CommandError(f"Cannot listen on {host}:{port}: {err}") from err
