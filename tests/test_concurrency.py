"""Races that only a database with real row locks can settle (PostgreSQL).

Run with ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/pytest
tests/test_concurrency.py``. SQLite serialises every writer, so these would prove nothing
there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.db import connection
from django.urls import reverse

from checkout import backoffice, signals, sync
from checkout.cards import CardData
from checkout.exceptions import OperationNotAllowed
from checkout.models import Notification, Payment, PaymentStatus, StatusChange
from checkout.sandbox import crypto, defaults
from checkout.services import create_order, start_payment, submit_payment
from tests.factories import OperatorFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL row locks (set DATABASE_URL=postgres://…)",
    ),
    pytest.mark.django_db(transaction=True),
]

S = PaymentStatus
SSL_CARD = CardData(pan="4444555511113333", cvc="123", expiry="203012")
FRICTIONLESS_CARD = CardData(pan="4111111111111111", cvc="123", expiry="203012")
#: Deliveries of one notification at once; with the status queries they cause and the
#: return view this stays well below PostgreSQL's default of 100 connections.
DELIVERIES = 32


def pay(base_url: str, card: CardData, *, preauth: bool = False) -> Payment:
    order = create_order(amount=1999, currency="EUR", description="Race")
    payment = start_payment(order, preauth=preauth)
    back = base_url + reverse("jcc_checkout:return")
    payment, _ = submit_payment(payment, back_url=back, fail_url=back, card=card)
    return payment


def race(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Start every job at the same moment in its own thread; results (or exceptions)."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def runner(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = job()
        except Exception as err:
            results[index] = err
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def live(sandbox_url, live_server):
    return live_server.url


@pytest.fixture
def paid_events():
    seen: list[dict] = []
    lock = threading.Lock()

    def on_paid(sender, **kwargs):
        with lock:
            seen.append(kwargs)

    signals.order_paid.connect(on_paid, dispatch_uid="race-paid")
    yield seen
    signals.order_paid.disconnect(dispatch_uid="race-paid")


def test_same_notification_32_times_while_the_shopper_returns(live, paid_events):
    from checkout.sandbox.models import Order as BankOrder
    from checkout.sandbox.processing import start_acs

    payment = pay(live, FRICTIONLESS_CARD)
    assert payment.status == S.AWAITING_3DS
    start_acs(BankOrder.objects.get(pk=payment.gateway_order_id))
    params = {
        "mdOrder": payment.gateway_order_id,
        "orderNumber": payment.order_number,
        "operation": "deposited",
        "status": "1",
    }
    params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
    callback_url = live + reverse("jcc_checkout:callback")
    return_url = live + reverse("jcc_checkout:return")

    def deliver() -> int:
        return requests.get(callback_url, params=params, timeout=60).status_code

    def shopper_returns() -> int:
        query = {"orderId": payment.gateway_order_id, "lang": "en"}
        return requests.get(return_url, params=query, timeout=60).status_code

    results = race([deliver] * DELIVERIES + [shopper_returns])
    assert results[:DELIVERIES] == [200] * DELIVERIES
    assert results[-1] == 200

    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert StatusChange.objects.filter(payment=payment, to_status=S.PAID).count() == 1
    assert len(paid_events) == 1
    rows = Notification.objects.filter(payment=payment)
    assert rows.count() == DELIVERIES
    assert not rows.filter(processed_at__isnull=True).exists()


def test_concurrent_refunds_never_exceed_the_captured_amount(live):
    operator = OperatorFactory(permissions=["jcc_checkout.refund_payment"])
    payment = pay(live, SSL_CARD)

    def refund(amount: int) -> Callable[[], Any]:
        return lambda: backoffice.refund(payment, amount, operator=operator, reason="race")

    results = race([refund(1200), refund(1200)])
    done = [r for r in results if isinstance(r, Payment)]
    refused = [r for r in results if isinstance(r, OperationNotAllowed)]
    assert (len(done), len(refused)) == (1, 1), results
    payment.refresh_from_db()
    assert payment.refunded_amount == 1200

    # Smaller amounts that fit together: each either goes through or is turned away
    # while the other is in flight; what went through is what the bank refunded.
    results = race([refund(300), refund(300), refund(300)])
    done = [r for r in results if isinstance(r, Payment)]
    assert all(isinstance(r, Payment | OperationNotAllowed) for r in results), results
    payment.refresh_from_db()
    assert payment.refunded_amount == 1200 + 300 * len(done) <= payment.captured_amount
    from checkout.sandbox.models import Order as BankOrder

    bank = BankOrder.objects.get(pk=payment.gateway_order_id)
    assert bank.refunded_amount == payment.refunded_amount
    assert payment.pending_operation == ""


def test_two_sync_runs_share_the_work(live):
    from checkout.sandbox.models import Order as BankOrder
    from checkout.sandbox.processing import start_acs

    payments = [pay(live, FRICTIONLESS_CARD) for _ in range(6)]
    for payment in payments:
        start_acs(BankOrder.objects.get(pk=payment.gateway_order_id))
    options = sync.Options(older_than=sync.parse_duration("0"), workers=2, report=False)
    summaries = race([lambda: sync.run(options), lambda: sync.run(options)])
    assert sum(s.checked for s in summaries) == len(payments)
    for payment in payments:
        assert StatusChange.objects.filter(payment=payment, to_status=S.PAID).count() == 1
    assert not Payment.objects.filter(lease_until__isnull=False).exists()


def test_two_sync_runs_share_a_larger_backlog_without_doubling(live, monkeypatch):
    """Small batches, so that the two runs' claims interleave many times."""
    from checkout.models import Exchange
    from checkout.sandbox.models import Order as BankOrder
    from checkout.sandbox.processing import start_acs

    monkeypatch.setattr(sync, "BATCH_SIZE", 4)
    payments = [pay(live, FRICTIONLESS_CARD) for _ in range(60)]
    for payment in payments:
        start_acs(BankOrder.objects.get(pk=payment.gateway_order_id))
    queries = Exchange.objects.filter(operation="getOrderStatusExtended.do")
    before = queries.count()
    options = sync.Options(older_than=sync.parse_duration("0"), workers=4, report=False)
    summaries = race([lambda: sync.run(options), lambda: sync.run(options)])
    assert all(isinstance(s, sync.Summary) for s in summaries), summaries
    # Each payment was queried once, by one of the two runs, and settled once.
    per_payment = {p.pk: 0 for p in payments}
    for pk in queries.order_by("pk")[before:].values_list("payment_id", flat=True):
        per_payment[pk] += 1
    assert per_payment == {p.pk: 1 for p in payments}
    assert sorted(s.checked for s in summaries) != [0, len(payments)], "one run did it all"
    assert sum(s.checked for s in summaries) == len(payments)
    assert sum(s.failed for s in summaries) == 0
    for payment in payments:
        assert StatusChange.objects.filter(payment=payment, to_status=S.PAID).count() == 1
    assert not Payment.objects.filter(lease_until__isnull=False).exists()


def test_twenty_clicks_on_pay_charge_once_and_none_is_refused(live, settings):
    """Clicks while the first attempt runs get that attempt's page, not "too many attempts",
    and only the attempt that ran is counted, then given back once it is paid."""
    import re

    from django.core.cache import cache

    from checkout import access, ratelimit

    settings.CHECKOUT = {**settings.CHECKOUT, "RATE_LIMITS": {"per_ip": 10, "per_order": 5}}
    cache.clear()
    order = create_order(amount=1999, currency="EUR", description="Twenty clicks")
    page_url = live + access.signed_url(order)
    browser = requests.Session()
    page = browser.get(page_url, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    form = {
        "csrfmiddlewaretoken": token,
        "cardholder_name": "Ann Smith",
        "pan": SSL_CARD.pan,
        "expiry": "12/30",
        "cvc": "123",
    }
    headers = {"Referer": page_url}

    def click() -> int:
        answer = browser.post(page_url, data=form, headers=headers, timeout=60)
        return answer.status_code

    statuses = race([click for _ in range(20)])
    assert 429 not in statuses and all(code == 200 for code in statuses), statuses
    payments = list(Payment.objects.filter(order=order))
    assert [p.status for p in payments] == [S.PAID]
    # One attempt counted and given back when paid: the other clicks were never counted.
    per_order = cache.get(f"{ratelimit.KEY_PREFIX}:order:{order.pk}")
    assert per_order == 0


def test_25_simultaneous_duplicates_make_at_most_two_status_queries(live, settings, paid_events):
    from checkout.models import Exchange

    # The default interval: the duplicates all arrive inside one window.
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_QUERY_INTERVAL": 2}
    payment = pay(live, SSL_CARD)
    assert payment.status == S.PAID
    queries = Exchange.objects.filter(payment=payment, operation="getOrderStatusExtended.do")
    before = queries.count()
    params = {
        "mdOrder": payment.gateway_order_id,
        "orderNumber": payment.order_number,
        "operation": "deposited",
        "status": "1",
    }
    params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
    callback_url = live + reverse("jcc_checkout:callback")

    def deliver() -> tuple[int, str]:
        answer = requests.post(callback_url, data=params, timeout=60)
        return answer.status_code, answer.text

    assert race([deliver] * 25) == [(200, "OK")] * 25
    rows = Notification.objects.filter(payment=payment)
    deadline = time.monotonic() + 15
    while rows.filter(processed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rows.count() == 25
    assert not rows.filter(processed_at__isnull=True).exists()
    assert 1 <= queries.count() - before <= 2
    assert StatusChange.objects.filter(payment=payment, to_status=S.PAID).count() == 1
