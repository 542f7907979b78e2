"""Resuming 3-D Secure after the answer of instantPayment.do was lost with its process.

The gateway registered the order and waits for the shopper's 3-D Secure step, but the
request that sent it died before it could record the answer: the attempt is PROCESSING
and the shop does not know the gateway's order id. A status query by order number finds
the order (and its id); once nobody can still be waiting for that answer, the attempt
moves to AWAITING_3DS and the shopper finishes the payment through acsRedirect.do.
"""

from __future__ import annotations

import dataclasses
import html
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import IO
from urllib.parse import urljoin

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import F
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from checkout import access, signals, sync
from checkout.cards import CardData
from checkout.exceptions import GatewayUnavailable
from checkout.gateway import PaymentAmountInfo, get_client
from checkout.models import Order, Payment, PaymentStatus, Source, StatusChange
from checkout.sandbox import cards as sandbox_cards
from checkout.sandbox import defaults
from checkout.sandbox.models import Fault, Merchant
from checkout.sandbox.models import Order as BankOrder
from checkout.services import (
    apply_order_status,
    create_order,
    refresh_payment,
    start_payment,
)
from tests.factories import PaymentFactory
from tests.test_callbacks import SECRET, URL, signed
from tests.test_flow import come_back, through_acs
from tests.test_sandbox_server import _database_url, _free_port
from tests.test_services import answer

S = PaymentStatus
ROOT = Path(__file__).resolve().parent.parent

CHALLENGE = "5555555555555599"  # 3-D Secure challenge (ONE_TIME_CODE), then approved
APPROVE = "4444555511113333"  # no 3-D Secure, approved
CHALLENGE_CARD = CardData(pan=CHALLENGE, cvc="123", expiry="203412")
#: Longer ago than any instantPayment call can take with the default timeouts (5 + 2 * 30 s).
LONG_AGO = timedelta(minutes=5)
AWAITING_AUTHENTICATION = [0, 5]  # registered; 3-D Secure started at the ACS


def history(payment: Payment) -> list[tuple[str, str, str]]:
    rows = StatusChange.objects.filter(payment=payment).order_by("pk")
    return [(r.from_status, r.to_status, r.source) for r in rows]


def aged(payment: Payment, by: timedelta = LONG_AGO) -> Payment:
    """The attempt as it stands once ``by`` has passed since it was claimed."""
    Payment.objects.filter(pk=payment.pk).update(created_at=F("created_at") - by)
    payment.refresh_from_db()
    return payment


@pytest.fixture
def oncommit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def apply(payment: Payment, status, oncommit, source: str = Source.RECONCILIATION):
    with oncommit(execute=True):
        return apply_order_status(payment, status, source=source)


# --- the settlement rule, answer by answer --------------------------------------------------


@pytest.mark.django_db
class TestApplyingAWaitingOrder:
    @pytest.mark.parametrize("order_status", AWAITING_AUTHENTICATION)
    def test_lost_answer_found_waiting_for_3ds_resumes(self, order_status, oncommit):
        payment = PaymentFactory(status=S.PROCESSING, created_at=timezone.now() - LONG_AGO)
        status = answer(payment, order_status, None, order_id="gw-resume-1")
        payment, changed = apply(payment, status, oncommit)
        assert changed and payment.status == S.AWAITING_3DS
        assert Payment.objects.get(pk=payment.pk).gateway_order_id == "gw-resume-1"
        assert history(payment) == [(S.PROCESSING, S.AWAITING_3DS, Source.RECONCILIATION)]
        assert payment.history.get().note == "found waiting for 3-D Secure"
        # The same answer again (the next page load, a callback): no second transition.
        payment, changed = apply(payment, status, oncommit)
        assert not changed and payment.status == S.AWAITING_3DS
        assert payment.history.count() == 1

    @pytest.mark.parametrize("order_status", AWAITING_AUTHENTICATION)
    def test_unknown_outcome_found_waiting_for_3ds_resumes_at_once(self, order_status, oncommit):
        payment = PaymentFactory(status=S.OUTCOME_UNKNOWN)
        status = answer(payment, order_status, None, order_id="gw-resume-2")
        payment, changed = apply(payment, status, oncommit)
        assert changed and payment.status == S.AWAITING_3DS
        assert payment.gateway_order_id == "gw-resume-2"
        assert history(payment) == [(S.OUTCOME_UNKNOWN, S.AWAITING_3DS, Source.RECONCILIATION)]

    @pytest.mark.parametrize("order_status", AWAITING_AUTHENTICATION)
    def test_while_the_call_may_still_be_running_the_attempt_waits(self, order_status, oncommit):
        """Its own request applies the answer: the order may be approved a moment later."""
        payment = PaymentFactory(status=S.PROCESSING)
        status = answer(payment, order_status, None, order_id="gw-resume-3")
        payment, changed = apply(payment, status, oncommit)
        assert not changed and payment.status == S.PROCESSING
        assert payment.history.count() == 0
        # The id is kept: the next query asks by it, and resumes once the call's time is up.
        assert Payment.objects.get(pk=payment.pk).gateway_order_id == "gw-resume-3"
        payment = aged(payment)
        payment, changed = apply(payment, answer(payment, order_status, None), oncommit)
        assert changed and payment.status == S.AWAITING_3DS
        assert payment.gateway_order_id == "gw-resume-3" and payment.history.count() == 1

    def test_the_call_time_follows_the_configured_timeouts(self, settings, oncommit):
        settings.CHECKOUT = {**settings.CHECKOUT, "TIMEOUTS": {"connect": 1, "read": 2}}
        now = timezone.now()
        young = PaymentFactory(status=S.PROCESSING, created_at=now - timedelta(seconds=4))
        old = PaymentFactory(status=S.PROCESSING, created_at=now - timedelta(seconds=6))
        young, _ = apply(young, answer(young, 0, None, order_id="gw-young"), oncommit)
        old, _ = apply(old, answer(old, 0, None, order_id="gw-old"), oncommit)
        assert (young.status, old.status) == (S.PROCESSING, S.AWAITING_3DS)

    @pytest.mark.parametrize("from_status", [S.PROCESSING, S.OUTCOME_UNKNOWN])
    def test_without_a_gateway_order_id_nothing_can_resume(self, from_status, oncommit):
        payment = PaymentFactory(status=from_status, created_at=timezone.now() - LONG_AGO)
        payment, changed = apply(payment, answer(payment, 0, None, order_id=""), oncommit)
        assert not changed and payment.status == from_status
        assert payment.gateway_order_id is None and payment.history.count() == 0

    @pytest.mark.parametrize("order_status", [7, None])
    def test_other_news_free_answers_leave_the_attempt(self, order_status, oncommit):
        payment = PaymentFactory(status=S.PROCESSING, created_at=timezone.now() - LONG_AGO)
        status = answer(payment, order_status, None, order_id="gw-resume-4")
        payment, changed = apply(payment, status, oncommit)
        assert not changed and payment.status == S.PROCESSING

    def test_a_waiting_order_of_another_amount_needs_review(self, oncommit):
        payment = PaymentFactory(status=S.PROCESSING, created_at=timezone.now() - LONG_AGO)
        status = answer(payment, 0, None, order_id="gw-resume-5", amount=payment.amount + 1)
        payment, changed = apply(payment, status, oncommit)
        assert changed and payment.status == S.NEEDS_REVIEW


# --- every path that asks the gateway, against the sandbox ------------------------------------


@pytest.fixture
def live(sandbox_url, live_server, settings) -> str:
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": [SECRET]}
    cache.clear()  # the sandbox's key of the previous test, the page-load throttles
    return live_server.url


@pytest.fixture
def paid_events():
    seen: list[dict] = []

    def on_paid(sender, **kwargs):
        seen.append(kwargs)

    signals.order_paid.connect(on_paid, dispatch_uid="resume-paid")
    yield seen
    signals.order_paid.disconnect(dispatch_uid="resume-paid")


def answer_lost() -> Payment:
    """An attempt whose instantPayment.do reached the bank, its answer lost with the process.

    The bank registered the order and waits for 3-D Secure; the shop kept nothing of it.
    """
    order = create_order(amount=1999, currency="EUR", description="Resume test")
    payment = start_payment(order)
    back = "http://testserver" + reverse("jcc_checkout:return")
    result = get_client().instant_payment(
        order_number=payment.order_number,
        amount=payment.amount,
        currency=payment.currency,
        back_url=back,
        fail_url=back + "?failed=1",
        card=CHALLENGE_CARD,
    )
    assert result.requires_3ds and result.order_id
    payment.refresh_from_db()
    assert payment.status == S.PROCESSING and not payment.gateway_order_id
    return payment


def bank_order(payment: Payment) -> BankOrder:
    return BankOrder.objects.get(order_number=payment.order_number)


def shopper(payment: Payment) -> Client:
    """The browser session that placed the payment's order."""
    client = Client()
    session = client.session
    session[access.SESSION_KEY] = [str(payment.order.public_id)]
    session.save()
    return client


def payment_url(payment: Payment) -> str:
    return reverse("jcc_checkout:payment", args=[payment.public_id])


def threeds_url(payment: Payment) -> str:
    return reverse("jcc_checkout:threeds", args=[payment.public_id])


@pytest.mark.django_db(transaction=True)
class TestResumedBy:
    def test_checkout_sync(self, live):
        payment = answer_lost()
        # Not yet: the request that claimed it might still be waiting for its answer.
        assert payment.pk in sync.candidates(sync.Options(older_than=timedelta(0))).values_list(
            "pk", flat=True
        )
        call_command("checkout_sync", "--older-than", "0s", "--workers", "1", "--no-report")
        payment.refresh_from_db()
        assert payment.status == S.PROCESSING
        assert payment.gateway_order_id == str(bank_order(payment).id)

        # Past the default --older-than (10 minutes) the cron run picks it up by itself.
        payment = aged(payment, timedelta(minutes=11))
        assert payment.pk in sync.candidates(sync.Options()).values_list("pk", flat=True)
        call_command("checkout_sync", "--workers", "1", "--no-report")
        payment.refresh_from_db()
        assert payment.status == S.AWAITING_3DS
        assert payment.gateway_order_id == str(bank_order(payment).id)
        assert history(payment) == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.AWAITING_3DS, Source.RECONCILIATION),
        ]

    def test_the_shoppers_page_load(self, live, paid_events):
        payment = answer_lost()
        client = shopper(payment)
        page = client.get(payment_url(payment)).content.decode()
        assert "We are confirming your payment" in page
        payment.refresh_from_db()
        assert payment.status == S.PROCESSING

        payment = aged(payment)
        cache.clear()  # the page throttles its status queries
        page = client.get(payment_url(payment)).content.decode()
        payment.refresh_from_db()
        assert payment.status == S.AWAITING_3DS
        assert "Continue to your bank" in page and f'href="{threeds_url(payment)}"' in page
        # The link works with the order id the status query brought.
        hop = client.get(threeds_url(payment))
        assert hop.status_code == 302
        assert (
            hop["Location"]
            == f"{live}/sandbox/payment/acsRedirect.do?orderId={bank_order(payment).id}"
        )
        back = through_acs(
            client, HttpResponse(status=303, headers={"Location": threeds_url(payment)})
        )
        page = come_back(client, back).content.decode()
        payment.refresh_from_db()
        assert payment.status == S.PAID and "Payment received" in page
        assert history(payment) == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.AWAITING_3DS, Source.RECONCILIATION),
            (S.AWAITING_3DS, S.PAID, Source.THREEDS_RETURN),
        ]
        assert len(paid_events) == 1

    def test_a_callback(self, live):
        payment = aged(answer_lost())
        params = {"orderNumber": payment.order_number, "operation": "approved", "status": "1"}
        assert Client().get(URL, signed(params)).status_code == 200
        payment.refresh_from_db()
        assert payment.status == S.AWAITING_3DS
        assert payment.gateway_order_id == str(bank_order(payment).id)
        assert history(payment)[-1] == (S.PROCESSING, S.AWAITING_3DS, Source.CALLBACK)


# --- a status query while the card call is still running --------------------------------------


def card_form(pan: str) -> dict[str, str]:
    return {"cardholder_name": "Test Shopper", "pan": pan, "expiry": "12/34", "cvc": "859"}


@pytest.fixture
def browser(live) -> tuple[Client, Order]:
    order = create_order(amount=1999, currency="EUR", description="Race test")
    client = Client()
    session = client.session
    session[access.SESSION_KEY] = [str(order.public_id)]
    session.save()
    return client, order


def meanwhile(monkeypatch, action) -> None:
    """Run ``action(payment, result)`` while the card call is still waiting for its answer.

    As another request would: the shopper's other tab, a callback, checkout_sync.
    """
    client = get_client()
    real = client.instant_payment

    def instant_payment(**kwargs):
        result = real(**kwargs)
        action(Payment.objects.get(order_number=kwargs["order_number"]), result)
        return result

    monkeypatch.setattr(client, "instant_payment", instant_payment)


def briefly_registered(payment: Payment, result) -> None:
    """A status query saw the order registered (0) before the gateway approved it."""
    status = get_client().order_status(order_id=result.order_id)
    seen = dataclasses.replace(status, order_status=0, amounts=PaymentAmountInfo())
    apply_order_status(payment, seen, source=Source.RECONCILIATION)


@pytest.mark.django_db(transaction=True)
class TestStatusQueryDuringTheCardCall:
    def test_approved_card_seen_registered_is_not_sent_to_3ds(self, browser, monkeypatch):
        client, order = browser
        meanwhile(monkeypatch, briefly_registered)
        response = client.post(
            reverse("jcc_checkout:card", args=[order.public_id]), card_form(APPROVE)
        )
        payment = order.payments.get()
        assert response.status_code == 303 and response["Location"] == payment_url(payment)
        assert payment.status == S.PAID
        assert history(payment) == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.PAID, Source.CARD_ENTRY),
        ]

    def test_3ds_card_seen_registered_goes_to_3ds_once(self, browser, monkeypatch):
        client, order = browser
        meanwhile(
            monkeypatch,
            lambda payment, result: refresh_payment(payment, source=Source.RECONCILIATION),
        )
        response = client.post(
            reverse("jcc_checkout:card", args=[order.public_id]), card_form(CHALLENGE)
        )
        payment = order.payments.get()
        assert response.status_code == 303 and response["Location"] == threeds_url(payment)
        assert payment.status == S.AWAITING_3DS
        assert history(payment) == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.AWAITING_3DS, Source.CARD_ENTRY),
        ]

    def test_3ds_answer_after_the_call_time_was_up(self, browser, monkeypatch):
        """The call outlived its timeouts and a query resumed the attempt first."""
        client, order = browser

        def resumed(payment, result):
            refresh_payment(aged(payment), source=Source.RECONCILIATION)

        meanwhile(monkeypatch, resumed)
        response = client.post(
            reverse("jcc_checkout:card", args=[order.public_id]), card_form(CHALLENGE)
        )
        payment = order.payments.get()
        assert response.status_code == 303 and response["Location"] == threeds_url(payment)
        assert payment.status == S.AWAITING_3DS and payment.gateway_order_id
        assert history(payment) == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.AWAITING_3DS, Source.RECONCILIATION),
        ]

    @pytest.mark.parametrize("confirmed", [True, False])
    def test_approval_after_the_call_time_was_up(self, browser, monkeypatch, confirmed):
        """Resumed on a brief 0 first: the approval still leads to the result, not the bank."""
        client, order = browser
        gateway = get_client()
        real_status = gateway.order_status

        def resumed(payment, result):
            briefly_registered(aged(payment), result)
            if not confirmed:
                # The confirming query of the card call fails: the gateway is out of reach.
                monkeypatch.setattr(
                    gateway,
                    "order_status",
                    lambda **kw: (_ for _ in ()).throw(GatewayUnavailable("down")),
                )

        meanwhile(monkeypatch, resumed)
        response = client.post(
            reverse("jcc_checkout:card", args=[order.public_id]), card_form(APPROVE)
        )
        payment = order.payments.get()
        assert response.status_code == 303 and response["Location"] == payment_url(payment)
        if not confirmed:
            assert payment.status == S.AWAITING_3DS
            monkeypatch.setattr(gateway, "order_status", real_status)
            page = client.get(response["Location"]).content.decode()
            assert "Payment received" in page
            payment.refresh_from_db()
        assert payment.status == S.PAID
        assert history(payment) == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.AWAITING_3DS, Source.RECONCILIATION),
            (
                S.AWAITING_3DS,
                S.PAID,
                Source.CARD_ENTRY if confirmed else Source.RECONCILIATION,
            ),
        ]


# --- end to end: a real shop process killed mid-payment ----------------------------------------


class Server:
    """``manage.py`` serving as a process of its own, its output in a file."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], port: int, logs: Path):
        self.name, self.port = name, port
        self.path = logs / f"{name}.log"
        self.log: IO[bytes] = self.path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.flush()
        return self.path.read_text(errors="replace")

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.output()}"
            try:
                with socket_to(self.port):
                    return
            except OSError:
                assert time.monotonic() < deadline, f"{self.name} not listening:\n{self.output()}"
                time.sleep(0.05)

    def kill(self) -> None:
        """kill -9: no cleanup, no answer to the request in flight."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def socket_to(port: int):
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=0.2)


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_shop_killed_while_the_bank_answers_then_the_shopper_finishes_3ds(tmp_path):
    database = _database_url()
    sandbox_port, shop_port = _free_port(), _free_port()
    gateway = f"http://127.0.0.1:{sandbox_port}/payment/"
    shop = f"http://127.0.0.1:{shop_port}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("JCC_", "CACHE_URL"))}
    sandbox_env = {
        **base_env,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        # Far longer than the test needs to see the order registered and kill the shop.
        "SANDBOX_FAULT_LATENCY": "60",
    }
    shop_env = {
        **base_env,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "merchant_site.settings",
        "JCC_GATEWAY_URL": gateway,
        "JCC_USERNAME": defaults.MERCHANT_LOGIN,
        "JCC_PASSWORD": defaults.MERCHANT_PASSWORD,
        "JCC_CALLBACK_SECRET": defaults.CALLBACK_SECRET,
        "SITE_URL": shop,
    }
    shop_args = ["runserver", "--noreload", f"127.0.0.1:{shop_port}"]
    servers: list[Server] = []
    poster: threading.Thread | None = None
    try:
        sandbox = Server(
            "sandbox",
            ["run_sandbox", "--port", str(sandbox_port)],
            env=sandbox_env,
            port=sandbox_port,
            logs=tmp_path,
        )
        servers.append(sandbox)
        first_shop = Server("shop", shop_args, env=shop_env, port=shop_port, logs=tmp_path)
        servers.append(first_shop)
        sandbox.wait_listening()
        first_shop.wait_listening()

        # The bank registers the next order, starts 3-D Secure, then holds its answer.
        merchant = Merchant.objects.default()
        merchant.fault = Fault.LATENCY_AFTER
        merchant.fault_endpoints, merchant.fault_remaining = "instantPayment.do", 1
        merchant.save()
        order = create_order(amount=2500, currency="EUR", description="Crash test")
        card = shop + reverse("jcc_checkout:card", args=[order.public_id])

        browser = requests.Session()
        form = browser.get(shop + access.signed_url(order), timeout=30)
        assert form.status_code == 200, form.text[:500]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
        posted: list[object] = []

        def submit() -> None:
            data = {**card_form(CHALLENGE), "csrfmiddlewaretoken": token}
            try:
                posted.append(browser.post(card, data=data, allow_redirects=False, timeout=120))
            except requests.RequestException as err:
                posted.append(err)

        poster = threading.Thread(target=submit)
        poster.start()
        wait_for(
            lambda: BankOrder.objects.filter(status=0).exists(),
            timeout=30,
            what="the bank to register the order",
        )
        assert poster.is_alive(), posted  # the shop still waits for the bank's answer
        first_shop.kill()
        poster.join(30)
        assert len(posted) == 1 and isinstance(posted[0], requests.ConnectionError), posted

        payment = Payment.objects.get(order=order)
        bank = BankOrder.objects.get()
        assert payment.status == S.PROCESSING and not payment.gateway_order_id
        assert bank.order_number == payment.order_number and bank.status == 0
        assert history(payment) == [(S.CREATED, S.PROCESSING, Source.CARD_ENTRY)]

        shop_again = Server(
            "shop-restarted", shop_args, env=shop_env, port=shop_port, logs=tmp_path
        )
        servers.append(shop_again)
        shop_again.wait_listening()

        # The shopper comes straight back: the card page shows the running attempt, and the
        # shop cannot tell yet whether another process is still waiting for the bank.
        back = browser.get(card, allow_redirects=False, timeout=30)
        status_page = shop + payment_url(payment)
        assert back.status_code == 303 and back.headers["Location"] == payment_url(payment)
        page = browser.get(status_page, timeout=30)
        assert "We are confirming your payment" in page.text
        payment.refresh_from_db()
        assert payment.status == S.PROCESSING

        # Once the card call's time (connect + 2 * read timeout) is up, the cron run resumes it.
        aged(payment, timedelta(minutes=2))
        run = subprocess.run(
            [sys.executable, "manage.py", "checkout_sync", "--older-than", "0s", "--no-report"],
            cwd=ROOT,
            env=shop_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "processing -> awaiting_3ds" in run.stdout, run.stdout
        payment.refresh_from_db()
        assert payment.status == S.AWAITING_3DS and payment.gateway_order_id == str(bank.id)

        # The shopper's page offers the bank again; its link leads to the ACS challenge.
        page = browser.get(status_page, timeout=30)
        assert "Continue to your bank" in page.text
        link = re.search(r'href="([^"]+/3ds/)"', page.text)[1]
        hop = browser.get(shop + link, allow_redirects=False, timeout=30)
        assert hop.status_code == 302
        url = hop.headers["Location"]
        assert url == f"{gateway}acsRedirect.do?orderId={bank.id}"
        answer_page = browser.get(url, allow_redirects=False, timeout=30)
        while answer_page.is_redirect:
            url = urljoin(url, answer_page.headers["Location"])
            answer_page = browser.get(url, allow_redirects=False, timeout=30)
        assert 'name="otp"' in answer_page.text, answer_page.text[:500]
        action = html.unescape(
            re.search(r'<form method="post" action="([^"]+)"', answer_page.text)[1]
        )
        fields = dict(
            re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', answer_page.text)
        )
        done = browser.post(
            urljoin(url, action),
            data={**fields, "action": "submit", "otp": sandbox_cards.ONE_TIME_CODE},
            allow_redirects=False,
            timeout=30,
        )
        assert done.is_redirect, done.text[:500]
        returned = done.headers["Location"]
        assert returned.startswith(shop + reverse("jcc_checkout:return") + "?orderId=")

        # Back at the shop's return view: settled by a status query, shown as paid.
        result = browser.get(returned, timeout=30)
        assert result.url == status_page and "Payment received" in result.text
        payment.refresh_from_db()
        assert payment.status == S.PAID and payment.captured_amount == order.amount
        assert history(payment) == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.AWAITING_3DS, Source.RECONCILIATION),
            (S.AWAITING_3DS, S.PAID, Source.THREEDS_RETURN),
        ]
        assert StatusChange.objects.filter(payment=payment, to_status=S.PAID).count() == 1
        assert BankOrder.objects.get().status == 2 and BankOrder.objects.count() == 1
    finally:
        for server in servers:
            server.stop()
        if poster is not None:
            poster.join(10)
        for server in servers:
            print(f"--- {server.name} ---\n{server.path.read_text(errors='replace')}")
