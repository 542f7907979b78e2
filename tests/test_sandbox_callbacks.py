"""The sandbox's callback notifications: outbox, checksums, retries and delivery faults."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.urls import reverse
from django.utils import timezone

from checkout.sandbox import defaults, outbox
from checkout.sandbox import delivery as sender
from checkout.sandbox.models import CallbackAttempt, CallbackDelivery, Merchant
from tests.test_sandbox_api import APPROVES, Gateway

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """The merchant's callback endpoint: records what arrives, answers as told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, params: dict[str, str]) -> None:
                receiver.calls.append((self.command, params))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def do_GET(self) -> None:
                self._answer(dict(parse_qsl(urlsplit(self.path).query)))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self._answer(dict(parse_qsl(self.rfile.read(length).decode())))

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/shop/callback/?site=demo"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def params(self) -> list[dict[str, str]]:
        return [params for _method, params in self.calls]

    def operations(self) -> list[tuple[str, str]]:
        return [(p["operation"], p["status"]) for p in self.params()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def merchant(receiver) -> Merchant:
    merchant = Merchant.objects.default()
    merchant.callback_url = receiver.url
    merchant.save()
    return merchant


@pytest.fixture
def sync_callbacks(settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync", "CALLBACK_RETRY_INTERVAL": 0}


@pytest.fixture
def gateway(sandbox_url, merchant, sync_callbacks) -> Gateway:
    return Gateway(sandbox_url)


def expected_hmac(params: dict[str, str], key: str) -> str:
    text = "".join(
        f"{k};{params[k]};" for k in sorted(params) if k not in ("checksum", "sign_alias")
    )
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def test_payment_sends_a_signed_get_callback(gateway, receiver):
    paid = gateway.pay(APPROVES, amount=1500)

    ((method, params),) = receiver.calls
    assert method == "GET"
    assert params.pop("site") == "demo"  # the callback URL's own query is kept
    assert params["mdOrder"] == paid["orderId"]
    assert params["orderNumber"] == paid["orderNumber"]
    assert (params["operation"], params["status"]) == ("deposited", "1")
    assert set(params) == {
        "mdOrder",
        "orderNumber",
        "operation",
        "status",
        "callbackCreationDate",
        "checksum",
    }
    assert re.fullmatch(
        r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}", params["callbackCreationDate"]
    )
    assert params["checksum"] == expected_hmac(params, defaults.CALLBACK_SECRET)
    delivery = CallbackDelivery.objects.get()
    assert delivery.state == CallbackDelivery.State.DELIVERED
    assert delivery.attempt_log.get().http_status == 200


def test_each_state_change_is_notified(gateway, receiver):
    held = gateway.pay(APPROVES, amount=1000, preAuth="true")
    gateway.json("deposit.do", orderId=held["orderId"], amount="400")
    gateway.json("refund.do", orderId=held["orderId"], amount="100")
    other = gateway.pay(APPROVES, amount=1000, preAuth="true")
    gateway.json("reverse.do", orderId=other["orderId"])
    gateway.pay("4000000000001166")
    gateway.pay("4000000000001166", preAuth="true")

    assert receiver.operations() == [
        ("approved", "1"),
        ("deposited", "1"),
        ("refunded", "1"),
        ("approved", "1"),
        ("reversed", "1"),
        ("deposited", "0"),
        ("approved", "0"),
    ]


def test_post_callbacks_and_extra_parameters(gateway, receiver, merchant):
    merchant.callback_method = "POST"
    merchant.callback_extra_params = True
    merchant.save()
    paid = gateway.pay(APPROVES, amount=1234)

    ((method, params),) = receiver.calls
    assert method == "POST"
    assert params["amount"] == "1234"
    assert params["currency"] == "978"
    assert params["depositedAmount"] == "1234"
    assert params["callbackCreationDate"].endswith(str(timezone.now().year))
    assert params["mdOrder"] == paid["orderId"]
    assert params["checksum"] == expected_hmac(params, defaults.CALLBACK_SECRET)


def test_asymmetric_checksum_is_rsa_sha512(gateway, receiver, merchant, sandbox_url):
    merchant.callback_signing = Merchant.Signing.RSA
    merchant.save()
    gateway.pay(APPROVES)

    (params,) = receiver.params()
    params.pop("site")
    assert params["sign_alias"]
    pem = requests.get(sandbox_url + "sandbox/callback-key.pem", timeout=5).text
    key = serialization.load_pem_public_key(pem.encode())
    text = "".join(
        f"{k};{params[k]};" for k in sorted(params) if k not in ("checksum", "sign_alias")
    )
    key.verify(
        bytes.fromhex(params["checksum"]), text.encode(), padding.PKCS1v15(), hashes.SHA512()
    )


def test_dynamic_callback_url_wins(gateway, receiver, merchant):
    merchant.callback_url = "http://127.0.0.1:9/never/"
    merchant.save()
    gateway.pay(APPROVES, dynamicCallbackUrl=receiver.url)
    assert len(receiver.calls) == 1


def test_non_200_answers_are_retried_then_given_up(gateway, receiver, settings):
    receiver.statuses = [500, 404]
    gateway.pay(APPROVES)
    assert len(receiver.calls) == 3
    delivery = CallbackDelivery.objects.get()
    assert delivery.state == CallbackDelivery.State.DELIVERED
    assert [a.http_status for a in delivery.attempt_log.all()] == [500, 404, 200]

    receiver.calls.clear()
    receiver.statuses = [503] * 10
    gateway.pay(APPROVES)
    assert len(receiver.calls) == 3  # CALLBACK_ATTEMPTS
    assert CallbackDelivery.objects.filter(state=CallbackDelivery.State.FAILED).count() == 1


def test_retries_wait_for_the_interval(gateway, receiver, settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync", "CALLBACK_RETRY_INTERVAL": 30}
    receiver.statuses = [500]
    gateway.pay(APPROVES)
    delivery = CallbackDelivery.objects.get()
    assert delivery.state == CallbackDelivery.State.PENDING
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert sender.deliver_due() == 0
    CallbackDelivery.objects.update(next_attempt_at=timezone.now())
    assert sender.deliver_due() == 1
    assert CallbackDelivery.objects.get().state == CallbackDelivery.State.DELIVERED
    assert len(receiver.calls) == 2


def test_unreachable_endpoint_is_recorded(gateway, merchant):
    merchant.callback_url = "http://127.0.0.1:9/closed/"
    merchant.save()
    gateway.pay(APPROVES)
    attempt = CallbackAttempt.objects.first()
    assert attempt.http_status is None
    assert "ConnectionError" in attempt.error


def test_callbacks_off_and_no_url(sandbox_url, merchant, settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off"}
    Gateway(sandbox_url).pay(APPROVES)
    assert CallbackDelivery.objects.get().state == CallbackDelivery.State.PENDING
    merchant.callbacks_enabled = False
    merchant.save()
    Gateway(sandbox_url).pay(APPROVES)
    assert CallbackDelivery.objects.count() == 1


def test_default_callback_url_is_the_shops(sandbox_url, live_server):
    merchant = Merchant.objects.default()
    assert merchant.callback_url == ""
    assert outbox.merchant_callback_url(merchant) == live_server.url + reverse(
        "jcc_checkout:callback"
    )


# --- delivery faults ----------------------------------------------------------------------------


def test_duplicated_callbacks(gateway, receiver, merchant):
    merchant.callback_fault = "duplicate"
    merchant.save()
    gateway.pay(APPROVES)
    first, second = receiver.params()
    assert first == second


def test_never_sent_callbacks(gateway, receiver):
    gateway.pay(APPROVES, amount=9604)
    assert receiver.calls == []
    assert CallbackDelivery.objects.get().state == CallbackDelivery.State.SUPPRESSED


def test_delayed_callbacks(gateway, receiver):
    gateway.pay(APPROVES, amount=9603)
    assert receiver.calls == []
    delivery = CallbackDelivery.objects.get()
    assert delivery.state == CallbackDelivery.State.PENDING
    assert delivery.next_attempt_at > timezone.now()
    CallbackDelivery.objects.update(next_attempt_at=timezone.now())
    sender.deliver_due()
    assert receiver.operations() == [("deposited", "1")]


def test_reordered_callbacks(gateway, receiver):
    held = gateway.pay(APPROVES, amount=9602, preAuth="true")
    assert receiver.calls == []
    gateway.json("deposit.do", orderId=held["orderId"], amount="0")
    assert receiver.operations() == [("deposited", "1"), ("approved", "1")]


# --- the background sender ----------------------------------------------------------------------


def test_thread_mode_sends_what_an_earlier_process_left(sandbox_url, receiver, merchant, settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off"}
    Gateway(sandbox_url).pay(APPROVES)
    assert receiver.calls == []
    # A server process starting in thread mode picks the outbox up with its first request.
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "thread", "POLL_INTERVAL": 0.05}
    requests.get(sandbox_url, timeout=5)
    deadline = time.monotonic() + 10
    while not receiver.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.operations() == [("deposited", "1")]
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off"}
    deadline = time.monotonic() + 5
    while (
        CallbackDelivery.objects.get().state != CallbackDelivery.State.DELIVERED
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert CallbackDelivery.objects.get().state == CallbackDelivery.State.DELIVERED
