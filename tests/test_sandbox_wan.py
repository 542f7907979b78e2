"""The sandbox's simulated wide-area network: a round trip per request, handshakes per
new connection.

What each request is charged is checked exactly, from the delays the sandbox computes and
the order in which it sleeps and processes. Served for real (run_sandbox, gunicorn), the
delays are checked with lower bounds only: a request takes at least what it is held.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from checkout.sandbox import api, wan
from checkout.sandbox.conf import sandbox_settings
from tests.test_sandbox_api import CREDENTIALS, order_number

ROOT = Path(__file__).resolve().parent.parent
STATUS_URL = "/sandbox/payment/rest/getOrderStatusExtended.do"
KEYS_URL = "/sandbox/payment/se/keys.do"


class Connection:
    """Stands for the socket a server puts in the environ (weakly referenceable)."""


def network(round_trip: float, handshakes: int = 2):
    return override_settings(
        CHECKOUT_SANDBOX={
            "CALLBACK_DELIVERY": "off",
            "ROUND_TRIP": round_trip,
            "NEW_CONNECTION_ROUND_TRIPS": handshakes,
        }
    )


# --- settings ------------------------------------------------------------------------------


def test_no_network_by_default():
    assert sandbox_settings.ROUND_TRIP == 0
    assert sandbox_settings.NEW_CONNECTION_ROUND_TRIPS == 2
    assert wan.delay_for({"gunicorn.socket": Connection()}) == wan.Delay()


@pytest.mark.parametrize(
    "setting",
    [
        {"ROUND_TRIP": -0.01},
        {"ROUND_TRIP": "30ms"},
        {"ROUND_TRIP": True},
        {"NEW_CONNECTION_ROUND_TRIPS": -1},
        {"NEW_CONNECTION_ROUND_TRIPS": 1.5},
    ],
)
def test_invalid_network_settings_are_refused(setting):
    with override_settings(CHECKOUT_SANDBOX=setting), pytest.raises(ImproperlyConfigured):
        sandbox_settings.ROUND_TRIP


def test_settings_come_from_the_environment():
    env = {
        **os.environ,
        "CHECKOUT_SANDBOX_ROUND_TRIP": "0.03",
        "CHECKOUT_SANDBOX_NEW_CONNECTION_ROUND_TRIPS": "1",
        "CHECKOUT_SANDBOX_CALLBACK_DELIVERY": "off",
        "DJANGO_SETTINGS_MODULE": "merchant_site.settings",
    }
    code = (
        "import django; django.setup(); "
        "from checkout.sandbox.conf import sandbox_settings as s; "
        "print(s.ROUND_TRIP, s.NEW_CONNECTION_ROUND_TRIPS, s.CALLBACK_DELIVERY)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0.03", "1", "off"]


# --- what each request is charged ---------------------------------------------------------------


def test_first_request_on_a_connection_pays_the_handshakes():
    first, second = Connection(), Connection()
    with network(0.1):
        charged = [
            wan.delay_for({"gunicorn.socket": first}),
            wan.delay_for({"gunicorn.socket": first}),
            wan.delay_for({"gunicorn.socket": second}),
            wan.delay_for({"gunicorn.socket": first}),
            wan.delay_for({wan.CONNECTION_KEY: second}),
        ]
    new = wan.Delay(before=pytest.approx(0.25), after=pytest.approx(0.05))
    kept = wan.Delay(before=pytest.approx(0.05), after=pytest.approx(0.05))
    assert charged == [new, kept, new, kept, kept]
    assert charged[0].total == pytest.approx(0.3)
    assert charged[1].total == pytest.approx(0.1)


def test_handshake_round_trips_are_configurable():
    with network(0.1, handshakes=0):
        assert wan.delay_for({"gunicorn.socket": Connection()}).total == pytest.approx(0.1)
    with network(0.1, handshakes=3):
        assert wan.delay_for({"gunicorn.socket": Connection()}).total == pytest.approx(0.4)


def test_without_a_socket_in_the_environ_only_the_round_trip_is_charged():
    with network(0.1):
        assert wan.delay_for({}).total == pytest.approx(0.1)
        assert wan.delay_for({"REMOTE_ADDR": "127.0.0.1"}).total == pytest.approx(0.1)


def test_a_closed_connection_is_forgotten():
    connection = Connection()
    assert wan.is_new_connection({"gunicorn.socket": connection})
    assert not wan.is_new_connection({"gunicorn.socket": connection})
    probe = weakref.ref(connection)
    del connection
    gc.collect()
    # Remembering a connection does not keep its socket alive.
    assert probe() is None
    assert all(seen is not None for seen in wan._seen)


def test_a_connection_that_cannot_be_tracked_pays_no_handshake():
    # An int cannot be weakly referenced: better no handshake than a wrong one.
    assert not wan.is_new_connection({"gunicorn.socket": 12345})


# --- in the views ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rest_methods_wait_half_before_and_half_after_processing(client, monkeypatch):
    events: list[str] = []
    monkeypatch.setattr(wan.time, "sleep", lambda seconds: events.append(f"sleep {seconds:.3f}"))
    real_status = api.status_payload

    def recorded(order):
        events.append("processed")
        return real_status(order)

    monkeypatch.setattr(api, "status_payload", recorded)
    connection = Connection()
    with network(0.1):
        paid = client.post(
            "/sandbox/payment/rest/instantPayment.do",
            {
                **CREDENTIALS,
                "orderNumber": order_number(),
                "amount": "100",
                "backUrl": "https://shop.example/return/",
                "pan": "4444555511113333",
                "cvc": "123",
                "expiry": f"{time.localtime().tm_year + 2}12",
            },
            **{"gunicorn.socket": connection},
        )
        assert paid.json()["errorCode"] == "0"
        assert events == ["sleep 0.250", "sleep 0.050"]
        events.clear()
        status = client.post(
            STATUS_URL,
            {**CREDENTIALS, "orderId": paid.json()["orderId"]},
            **{"gunicorn.socket": connection},
        )
    assert status.json()["orderStatus"] == 2
    assert events == ["sleep 0.050", "processed", "sleep 0.050"]


@pytest.mark.django_db
def test_errors_and_the_key_method_cross_the_network_too(client, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(wan.time, "sleep", slept.append)
    with network(0.1):
        refused = client.post(STATUS_URL, {"userName": "nobody", "password": "x"})
        assert refused.json()["errorCode"] == "5"
        assert client.get(KEYS_URL).json()["keys"]
    assert slept == [pytest.approx(0.05)] * 4


@pytest.mark.django_db
def test_a_request_takes_at_least_its_round_trips(client):
    with network(0.15):
        started = time.monotonic()
        first = client.post(
            STATUS_URL,
            {**CREDENTIALS, "orderNumber": "none"},
            **{"gunicorn.socket": (connection := Connection())},
        )
        first_took = time.monotonic() - started
        started = time.monotonic()
        client.post(
            STATUS_URL, {**CREDENTIALS, "orderNumber": "none"}, **{"gunicorn.socket": connection}
        )
        second_took = time.monotonic() - started
    assert first.json()["errorCode"] == "6"
    assert first_took >= 0.45
    assert second_took >= 0.15


# --- served for real ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _serve(command: list[str], port: int, round_trip: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CHECKOUT_SANDBOX_ROUND_TRIP": str(round_trip),
        "CHECKOUT_SANDBOX_NEW_CONNECTION_ROUND_TRIPS": "2",
    }
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise AssertionError(server.stdout.read().decode()) from None
            time.sleep(0.1)
    server.kill()
    raise AssertionError("the sandbox did not start")


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)
    server.stdout.close()


def _timed_status_calls(base: str, session: requests.Session, count: int) -> list[float]:
    took = []
    for _ in range(count):
        started = time.monotonic()
        answer = session.post(
            base + "rest/getOrderStatusExtended.do",
            data={**CREDENTIALS, "orderNumber": "none"},
            timeout=30,
        )
        took.append(time.monotonic() - started)
        assert answer.json()["errorCode"] == "6"
    return took


def _check_served(base: str, round_trip: float) -> None:
    with requests.Session() as session:
        # The key method warms the server up (the sandbox generates its key once).
        assert session.get(base + "se/keys.do", timeout=60).json()["keys"]
    with requests.Session() as session:
        first, *kept = _timed_status_calls(base, session, 3)
    assert first >= 3 * round_trip  # one round trip and the two handshakes
    assert all(took >= round_trip for took in kept)
    # Each fresh connection pays the handshakes again.
    for _ in range(2):
        with requests.Session() as session:
            (took,) = _timed_status_calls(base, session, 1)
        assert took >= 3 * round_trip


@pytest.mark.django_db(transaction=True)
def test_run_sandbox_simulates_the_network():
    port = _free_port()
    server = _serve([sys.executable, "manage.py", "run_sandbox", "--port", str(port)], port, 0.2)
    try:
        _check_served(f"http://127.0.0.1:{port}/payment/", 0.2)
    finally:
        _stop(server)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None,
    reason="gunicorn is not installed (it is in the dev dependency group)",
)
def test_gunicorn_served_sandbox_simulates_the_network():
    port = _free_port()
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    command = [gunicorn, "checkout.sandbox.wsgi", "-b", f"127.0.0.1:{port}"]
    command += ["-w", "1", "-k", "gthread", "--threads", "4", "--graceful-timeout", "2"]
    server = _serve(command, port, 0.2)
    try:
        _check_served(f"http://127.0.0.1:{port}/payment/", 0.2)
    finally:
        _stop(server)
