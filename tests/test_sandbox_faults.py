"""Fault injection, seen from the wire: what a caller gets and what happened meanwhile."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from checkout.sandbox.faults import MAGIC_AMOUNTS
from checkout.sandbox.models import Fault, Merchant, Order
from tests.test_sandbox_api import APPROVES, BACK_URL, CREDENTIALS, FUTURE, Gateway, order_number

pytestmark = pytest.mark.django_db(transaction=True)

CHALLENGE = "5555555555555599"  # 3-D Secure challenge


@pytest.fixture
def gateway(sandbox_url, settings) -> Gateway:
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off", "FAULT_LATENCY": 0.6}
    return Gateway(sandbox_url)


def pay_raw(gateway: Gateway, amount: int = 1999, pan: str = APPROVES, **kwargs):
    number = order_number()
    data = {
        **CREDENTIALS,
        "orderNumber": number,
        "amount": str(amount),
        "backUrl": BACK_URL,
        "pan": pan,
        "cvc": "123",
        "expiry": FUTURE,
    }
    response = gateway.http.post(gateway.base + "rest/instantPayment.do", data=data, **kwargs)
    return number, response


def paid(number: str) -> bool:
    order = Order.objects.filter(order_number=number).first()
    return order is not None and order.status == 2


def switch(fault: str, *, endpoints: str = "", remaining: int | None = None) -> None:
    merchant = Merchant.objects.default()
    merchant.fault, merchant.fault_endpoints, merchant.fault_remaining = fault, endpoints, remaining
    merchant.save()


SPOILT = [
    (Fault.ERROR_BEFORE, 500, False),
    (Fault.ERROR_AFTER, 500, True),
    (Fault.MALFORMED_BEFORE, 200, False),
    (Fault.MALFORMED_AFTER, 200, True),
    (Fault.RATE_LIMITED, 429, False),
]


@pytest.mark.parametrize("source", ["merchant", "amount"])
def test_spoilt_answers(gateway, source):
    for fault, status, carried_out in SPOILT:
        amount = 1999
        if source == "merchant":
            switch(fault)
        else:
            amount = next(a for a, f in MAGIC_AMOUNTS.items() if f == fault)
        number, response = pay_raw(gateway, amount)

        assert response.status_code == status, fault
        with pytest.raises(ValueError):
            response.json()
        assert paid(number) is carried_out, fault
        assert Order.objects.filter(order_number=number).exists() is carried_out


@pytest.mark.parametrize("source", ["merchant", "amount", "card"])
def test_dropped_connection_after_the_payment(gateway, source):
    amount, pan = 1999, APPROVES
    if source == "merchant":
        switch(Fault.DROP_AFTER)
    elif source == "amount":
        amount = 9999
    else:
        pan = "4000000000009995"
    with pytest.raises(requests.ConnectionError):
        pay_raw(gateway, amount, pan)
    order = Order.objects.get()
    assert order.status == 2  # the caller cannot know, but the money moved


def test_http_500_card(gateway):
    number, response = pay_raw(gateway, pan="4000000000005001")
    assert response.status_code == 500
    assert paid(number)


@pytest.mark.parametrize("source", ["amount", "card"])
def test_latency_then_the_operation(gateway, source):
    amount, pan = (9001, APPROVES) if source == "amount" else (1999, "4000000000009003")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        pay_raw(gateway, amount, pan, timeout=(2, 0.2))
    deadline = time.monotonic() + 5
    while not Order.objects.filter(status=2).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Order.objects.get().status == 2
    assert time.monotonic() - started >= 0.6


@pytest.mark.parametrize("source", ["merchant", "amount"])
def test_the_operation_then_latency(gateway, source):
    """Carried out first: the order exists while its caller still waits for the answer."""
    amount = 1999
    if source == "merchant":
        switch(Fault.LATENCY_AFTER, endpoints="instantPayment.do", remaining=1)
    else:
        amount = next(a for a, f in MAGIC_AMOUNTS.items() if f == Fault.LATENCY_AFTER)
    answers: list[requests.Response] = []
    call = threading.Thread(target=lambda: answers.append(pay_raw(gateway, amount, CHALLENGE)[1]))
    call.start()
    try:
        deadline = time.monotonic() + 10
        while not Order.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        # Registered and waiting for 3-D Secure, and the caller still has no answer.
        assert call.is_alive()
        order = Order.objects.get()
        assert order.status == 0 and order.awaiting_3ds
    finally:
        call.join(10)
    assert answers[0].status_code == 200 and answers[0].json()["acsUrl"]


def test_fault_limited_to_a_method_and_a_number_of_calls(gateway):
    switch(Fault.ERROR_BEFORE, endpoints="instantPayment.do", remaining=1)
    first, response = pay_raw(gateway)
    assert response.status_code == 500
    second, response = pay_raw(gateway)
    assert response.status_code == 200
    assert not Order.objects.filter(order_number=first).exists()
    assert paid(second)
    assert Merchant.objects.default().fault_remaining == 0


def test_fault_spares_other_methods(gateway):
    switch(Fault.ERROR_BEFORE, endpoints="deposit.do, refund.do")
    number, response = pay_raw(gateway)
    assert response.status_code == 200
    assert gateway.json("getOrderStatusExtended.do", orderNumber=number)["orderStatus"] == 2
    refund = gateway.call("refund.do", orderNumber=number, amount="0")
    assert refund.status_code == 500
    assert Order.objects.get().refunded_amount == 0


def test_faults_need_authentication_first(gateway):
    switch(Fault.ERROR_BEFORE)
    answer = gateway.http.post(
        gateway.base + "rest/getOrderStatusExtended.do",
        data={"userName": "sandbox-api", "password": "nope", "orderNumber": "1"},
    )
    assert answer.json()["errorCode"] == "5"
