"""Callback replays are bounded: one callback-triggered status query per payment per
CALLBACK_QUERY_INTERVAL; the deliveries in between are stored, answered 200 and settled by
one follow-up query. None is dropped."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from checkout.callbacks import DEFERRED, claim_query, release_query
from checkout.cards import CardData
from checkout.models import Exchange, Notification, Payment, PaymentStatus, StatusChange
from checkout.sandbox import crypto, defaults
from checkout.services import create_order, start_payment, submit_payment
from tests.factories import PaymentFactory

S = PaymentStatus
SSL_CARD = CardData(pan="4444555511113333", cvc="123", expiry="203012")


@pytest.fixture
def interval(settings):
    def set_interval(seconds: float) -> None:
        settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_QUERY_INTERVAL": seconds}

    return set_interval


def status_queries(payment: Payment) -> int:
    return Exchange.objects.filter(payment=payment, operation="getOrderStatusExtended.do").count()


def paid_payment(base_url: str) -> Payment:
    order = create_order(amount=1450, currency="EUR", description="Replays")
    payment = start_payment(order)
    back = base_url + reverse("jcc_checkout:return")
    payment, _ = submit_payment(payment, back_url=back, fail_url=back, card=SSL_CARD)
    assert payment.status == S.PAID
    return payment


def signed_notification(payment: Payment) -> str:
    params = {
        "mdOrder": payment.gateway_order_id,
        "orderNumber": payment.order_number,
        "operation": "deposited",
        "status": "1",
    }
    params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
    return urlencode(params)


def wait_until_all_processed(payment: Payment, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    waiting = Notification.objects.filter(payment=payment, processed_at__isnull=True)
    while waiting.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not waiting.exists(), list(waiting.values_list("error", flat=True))


@pytest.mark.django_db
def test_one_slot_per_interval_and_a_failed_query_gives_it_back(interval):
    interval(2)
    payment = PaymentFactory()
    t0 = timezone.now()
    assert claim_query(payment.pk, now=t0)
    assert not claim_query(payment.pk, now=t0 + timedelta(seconds=1))
    assert claim_query(payment.pk, now=t0 + timedelta(seconds=2))
    t2 = t0 + timedelta(seconds=2)
    # A query that got no answer releases its slot, so a redelivery may ask at once.
    release_query(payment.pk, t2)
    assert claim_query(payment.pk, now=t2 + timedelta(milliseconds=100))


@pytest.mark.django_db
def test_an_interval_of_zero_never_defers(interval):
    interval(0)
    payment = PaymentFactory()
    now = timezone.now()
    assert all(claim_query(payment.pk, now=now) for _ in range(3))


@pytest.mark.django_db(transaction=True)
def test_replays_make_at_most_one_query_per_interval_and_none_is_lost(
    sandbox_url, live_server, interval
):
    interval(0.4)
    payment = paid_payment(live_server.url)
    before = status_queries(payment)
    body = signed_notification(payment)
    http = Client(raise_request_exception=True)
    started = time.monotonic()
    answers = [
        http.post(
            reverse("jcc_checkout:callback"), body, "application/x-www-form-urlencoded"
        ).status_code
        for _ in range(60)
    ]
    elapsed = time.monotonic() - started
    assert answers == [200] * 60
    deferred = Notification.objects.filter(payment=payment, error=DEFERRED).count()
    assert deferred > 0  # the bound applied: some deliveries waited for the follow-up

    wait_until_all_processed(payment)
    queries = status_queries(payment) - before
    # One per window the replays spanned, plus the follow-up after the last window.
    assert 1 <= queries <= int(elapsed / 0.4) + 2, (queries, elapsed)
    print(f"60 replays over {elapsed:.2f} s: {queries} status queries")
    assert Notification.objects.filter(payment=payment).count() == 60
    assert StatusChange.objects.filter(payment=payment, to_status=S.PAID).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_deferred_delivery_is_settled_by_the_follow_up_query(sandbox_url, live_server, interval):
    interval(0.3)
    payment = paid_payment(live_server.url)
    body = signed_notification(payment)
    http = Client(raise_request_exception=True)
    url = reverse("jcc_checkout:callback")
    assert http.post(url, body, "application/x-www-form-urlencoded").status_code == 200
    before = status_queries(payment)
    assert http.post(url, body, "application/x-www-form-urlencoded").status_code == 200
    second = Notification.objects.filter(payment=payment).latest("pk")
    assert second.error == DEFERRED and second.processed_at is None

    wait_until_all_processed(payment)
    second.refresh_from_db()
    assert second.error == "settled by a later status query"
    # Covered by a query that started after it arrived.
    assert status_queries(payment) == before + 1
    follow_up = Exchange.objects.filter(payment=payment).latest("pk")
    assert follow_up.created_at >= second.received_at


@pytest.mark.django_db(transaction=True)
def test_two_partial_refunds_a_moment_apart_are_both_reflected(sandbox_url, live_server, interval):
    from checkout.sandbox import processing
    from checkout.sandbox.models import Order as BankOrder

    interval(0.5)
    payment = paid_payment(live_server.url)
    body = signed_notification(payment)
    http = Client(raise_request_exception=True)
    url = reverse("jcc_checkout:callback")
    # Refunds made at the gateway itself (its merchant portal), each followed by its
    # notification: the second arrives inside the first one's window.
    processing.refund(BankOrder.objects.get(pk=payment.gateway_order_id), 400)
    assert http.post(url, body, "application/x-www-form-urlencoded").status_code == 200
    processing.refund(BankOrder.objects.get(pk=payment.gateway_order_id), 300)
    assert http.post(url, body, "application/x-www-form-urlencoded").status_code == 200
    payment.refresh_from_db()
    assert payment.refunded_amount == 400  # the second one waits for the follow-up

    wait_until_all_processed(payment)
    payment.refresh_from_db()
    assert payment.refunded_amount == 700 and payment.status == S.PARTLY_REFUNDED
