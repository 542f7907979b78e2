"""run_sandbox: the sandbox as a server of its own, at /payment/ like the real host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from checkout.cards import CardData
from checkout.gateway import GatewayClient
from checkout.sandbox import defaults
from tests.test_sandbox_api import BACK_URL, CHALLENGE, FUTURE, order_number

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_run_sandbox_serves_the_gateway_on_its_own_port():
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    server = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}/payment/"
        client = GatewayClient(base, defaults.MERCHANT_LOGIN, defaults.MERCHANT_PASSWORD)
        result = client.instant_payment(
            order_number=order_number(),
            amount=100,
            currency="EUR",
            back_url=BACK_URL,
            card=CardData(pan=CHALLENGE, cvc="123", expiry=FUTURE),
        )
        assert result.requires_3ds
        assert result.acs_url.startswith(base + "rest/getwhitepageurl.do?mdOrder=")
        assert client.order_status(order_id=result.order_id).order_status == 0
        assert client.setoken_keys()[0].protocol_version == "RSA"
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()


def test_run_sandbox_refuses_when_not_allowed(settings):
    settings.DEBUG = False
    settings.CHECKOUT = {**settings.CHECKOUT, "SANDBOX_ALLOWED": False}
    with pytest.raises(CommandError, match="fakes a bank"):
        call_command("run_sandbox", "--port", "1")


@pytest.mark.django_db(transaction=True)
def test_the_rest_api_skips_the_project_middleware_the_pages_keep_it():
    """A gateway's REST API has no sessions or shopper language; its pages do."""
    from io import BytesIO

    from checkout.sandbox.server import SandboxWSGIHandler

    app = SandboxWSGIHandler()

    def get(path: str, body: bytes = b"", method: str = "POST") -> tuple[str, dict[str, str]]:
        seen: dict[str, object] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            seen["status"], seen["headers"] = status, dict(headers)

        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "HTTP_HOST": "localhost",
            "HTTP_ACCEPT_LANGUAGE": "el",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": BytesIO(body),
            "wsgi.url_scheme": "http",
        }
        answer = app(environ, start_response)
        try:
            b"".join(answer)
        finally:
            # As a WSGI server does: request_finished resets the thread's URLconf.
            answer.close()  # type: ignore[attr-defined]
        return str(seen["status"]), seen["headers"]  # type: ignore[return-value]

    login = f"userName={defaults.MERCHANT_LOGIN}&password={defaults.MERCHANT_PASSWORD}"
    status, headers = get("/payment/rest/getOrderStatusExtended.do", f"{login}&orderId=x".encode())
    assert status.startswith("200") and headers["Content-Type"].startswith("application/json")
    # No LocaleMiddleware (Content-Language), no XFrameOptionsMiddleware.
    assert "Content-Language" not in headers and "X-Frame-Options" not in headers
    status, headers = get("/payment/sandbox/orders/", method="GET")
    assert status.startswith("200")
    assert headers.get("Content-Language") == "el" and headers["X-Frame-Options"] == "DENY"
