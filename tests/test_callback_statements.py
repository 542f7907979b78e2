"""Data statements per callback delivery, counted on the delivery's own connection.

BEGIN, COMMIT and SAVEPOINT are not counted; the shop's own signal receivers would be.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checkout.cards import CardData
from checkout.models import Notification, Payment, PaymentStatus
from checkout.sandbox import crypto, defaults
from checkout.sandbox.models import Order as BankOrder
from checkout.sandbox.processing import start_acs
from checkout.services import create_order, start_payment, submit_payment

pytestmark = pytest.mark.django_db(transaction=True)
S = PaymentStatus
NO_3DS = CardData(pan="4444555511113333", cvc="123", expiry="203012")
FRICTIONLESS = CardData(pan="4111111111111111", cvc="123", expiry="203012")


@pytest.fixture(autouse=True)
def default_interval(settings):
    # The shipped bound, not the test settings' query for every delivery.
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_QUERY_INTERVAL": 2}


def pay(base_url: str, card: CardData) -> Payment:
    order = create_order(amount=1999, currency="EUR", description="Counted")
    back = base_url + reverse("jcc_checkout:return")
    payment, _ = submit_payment(start_payment(order), back_url=back, fail_url=back, card=card)
    return payment


def deliver(payment: Payment) -> tuple[int, int]:
    """(HTTP status, data statements) of one signed delivery about ``payment``."""
    params = {
        "mdOrder": payment.gateway_order_id,
        "orderNumber": payment.order_number,
        "operation": "deposited",
        "status": "1",
    }
    params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
    with CaptureQueriesContext(connection) as queries:
        answer = Client().post(
            reverse("jcc_checkout:callback"), urlencode(params), "application/x-www-form-urlencoded"
        )
    data = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE"))
    ]
    return answer.status_code, len(data)


def test_the_delivery_that_settles_a_3ds_payment(sandbox_url, live_server):
    payment = pay(live_server.url, FRICTIONLESS)
    assert payment.status == S.AWAITING_3DS
    start_acs(BankOrder.objects.get(pk=payment.gateway_order_id))
    status, statements = deliver(payment)
    payment.refresh_from_db()
    assert status == 200 and payment.status == S.PAID
    # Payment found with its query slot taken (one UPDATE … RETURNING), stored verified,
    # payment (and order) lock, update, history row, no other secured attempt, exchange
    # row and delivery marked processed in the transaction that applies the answer.
    assert statements <= 8
    print(f"first delivery, settles the payment: {statements} data statements")


def test_the_first_delivery_about_a_payment_already_settled(sandbox_url, live_server):
    payment = pay(live_server.url, NO_3DS)
    assert payment.status == S.PAID
    status, statements = deliver(payment)
    assert status == 200
    assert Notification.objects.get(payment=payment).processed_at is not None
    assert statements <= 8
    print(f"first delivery, details only: {statements} data statements")


def test_a_duplicate_inside_the_interval(sandbox_url, live_server):
    payment = pay(live_server.url, NO_3DS)
    deliver(payment)
    status, statements = deliver(payment)
    assert status == 200
    assert Notification.objects.filter(payment=payment).count() == 2
    # Stored verified and deferred in one INSERT: this process took the slot and knows it
    # is taken (another host's process also asks the row: slot taken, payment found).
    assert statements <= 3
    print(f"duplicate delivery: {statements} data statements")


def test_a_duplicate_another_process_took_the_slot_for(sandbox_url, live_server):
    from checkout import callbacks

    payment = pay(live_server.url, NO_3DS)
    deliver(payment)
    callbacks._taken.clear()  # as on another host: the slot is only in the payment's row
    status, statements = deliver(payment)
    assert status == 200
    deferred = Notification.objects.filter(payment=payment).order_by("pk").last()
    assert deferred is not None and deferred.error == callbacks.DEFERRED
    # Slot asked for (taken), payment found, stored verified and deferred.
    assert statements <= 3
    print(f"duplicate delivery, slot taken elsewhere: {statements} data statements")
