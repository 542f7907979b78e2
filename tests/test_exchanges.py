"""checkout.exchanges: the app's exchange hook stores what the client reports."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from checkout.exchanges import record_exchange
from checkout.gateway import ExchangeRecord, GatewayClient, get_client
from checkout.models import Exchange
from tests.factories import PaymentFactory
from tests.gateway_server import example, reply, running_gateway

pytestmark = pytest.mark.django_db

ORDER_ID = "0179018d-8f96-7fbe-bc2b-4b7e00a7d8c0"


def record(**overrides) -> ExchangeRecord:
    fields = {
        "operation": "deposit.do",
        "url": "https://gateway.example/payment/rest/deposit.do",
        "request": {"userName": "u", "password": "[redacted]"},
        "response": {"errorCode": "0"},
        "http_status": 200,
        "error_code": 0,
        "error": "",
        "duration_ms": 12,
    }
    return ExchangeRecord(**{**fields, **overrides})


def test_rows_are_linked_to_the_payment_the_caller_named():
    payment = PaymentFactory()
    with running_gateway() as gw:
        client = GatewayClient(gw.base_url, "u", "p", on_exchange=record_exchange)
        gw.on("rest/deposit.do", reply({"errorCode": 0}))
        gw.on("rest/getOrderStatusExtended.do", example("getOrderStatusExtended-deposited.json"))
        client.deposit(ORDER_ID, 0, context=payment)
        client.order_status(order_id=ORDER_ID)
    assert [(e.operation, e.payment_id) for e in Exchange.objects.order_by("pk")] == [
        ("deposit.do", payment.pk),
        ("getOrderStatusExtended.do", None),
    ]
    row = Exchange.objects.order_by("pk").first()
    assert row.request["password"] == "[redacted]" and row.http_status == 200


def test_an_unsaved_or_foreign_context_is_not_linked():
    record_exchange(record(context=PaymentFactory.build()))
    record_exchange(record(context="something else"))
    assert list(Exchange.objects.values_list("payment_id", flat=True)) == [None, None]


def test_long_values_are_cut_to_their_columns():
    record_exchange(record(operation="x" * 60, url="u" * 600, error="e" * 300))
    row = Exchange.objects.get()
    assert (len(row.operation), len(row.url), len(row.error)) == (40, 512, 255)


def test_a_failed_insert_is_logged_and_leaves_the_callers_transaction_usable(caplog):
    payment = PaymentFactory()
    with transaction.atomic(), caplog.at_level(logging.WARNING, logger="checkout.exchanges"):
        record_exchange(record(duration_ms=-1))  # the column is unsigned: the insert fails
        payment.refresh_from_db()  # still usable
    assert "could not record the deposit.do exchange" in caplog.text
    assert not Exchange.objects.exists()


def test_the_shared_client_writes_the_exchange_log(settings):
    with running_gateway() as gw:
        settings.CHECKOUT = {
            **settings.CHECKOUT,
            "GATEWAY_URL": gw.base_url,
            "USERNAME": "u",
            "PASSWORD": "p",
        }
        gw.on("rest/getOrderStatusExtended.do", example("getOrderStatusExtended-deposited.json"))
        get_client().order_status(order_id=ORDER_ID)
    assert Exchange.objects.get().operation == "getOrderStatusExtended.do"
