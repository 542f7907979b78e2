"""Gaps third-party RBS clients found in the sandbox: errorMessage beside error, the
errorCode type switch, jsonParams echoed as JSON text, callbackCreationDate everywhere."""

from __future__ import annotations

import re

import pytest

from checkout.sandbox import defaults
from checkout.sandbox.models import Merchant
from tests.test_sandbox_api import APPROVES, BACK_URL, Gateway, order_number
from tests.test_sandbox_callbacks import Receiver, expected_hmac

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway(sandbox_url) -> Gateway:
    return Gateway(sandbox_url)


def flip(on: bool = True) -> None:
    merchant = Merchant.objects.default()
    merchant.flip_error_code_type = on
    merchant.save()


# --- errorMessage -------------------------------------------------------------------------------


def test_instant_payment_errors_carry_error_and_error_message(gateway):
    for answer in (
        gateway.pay(APPROVES, amount=0),
        gateway.pay("4111111111111112"),
        gateway.pay(APPROVES, currency="001"),
        gateway.pay(APPROVES, backUrl="relative/"),
    ):
        assert answer["errorCode"] != "0"
        assert answer["error"] and answer["errorMessage"] == answer["error"]
    denied = gateway.http.post(
        gateway.base + "rest/instantPayment.do",
        data={"userName": defaults.MERCHANT_LOGIN, "password": "wrong"},
    ).json()
    assert denied == {"errorCode": "5", "error": "Access denied", "errorMessage": "Access denied"}


# --- the errorCode type switch ------------------------------------------------------------------


def test_published_error_code_types(gateway):
    paid = gateway.pay(APPROVES, preAuth="true", clientId="c-1")
    assert paid["errorCode"] == "0"
    assert gateway.status(paid["orderId"])["errorCode"] == "0"
    assert gateway.json("deposit.do", orderId=paid["orderId"], amount="0")["errorCode"] == 0
    assert gateway.json("refund.do", orderId=paid["orderId"], amount="1")["errorCode"] == 0
    assert gateway.json("getBindings.do", clientId="c-1")["errorCode"] == "0"
    assert gateway.json("reverse.do", orderId=paid["orderId"])["errorCode"] == 7


def test_the_switch_answers_every_method_with_the_other_type(gateway):
    flip()
    paid = gateway.pay(APPROVES, preAuth="true", clientId="c-1")
    assert paid["errorCode"] == 0
    assert paid["orderStatus"]["ErrorCode"] == "0"  # only the top-level errorCode changes
    status = gateway.status(paid["orderId"])
    assert status["errorCode"] == 0 and status["orderStatus"] == 1
    assert gateway.json("deposit.do", orderId=paid["orderId"], amount="0") == {
        "errorCode": "0",
        "errorMessage": "Success",
    }
    assert gateway.json("refund.do", orderId=paid["orderId"], amount="1")["errorCode"] == "0"
    assert gateway.json("reverse.do", orderId=paid["orderId"])["errorCode"] == "7"
    bindings = gateway.json("getBindings.do", clientId="c-1")
    assert bindings["errorCode"] == 0
    assert gateway.json("getBindings.do", clientId="nobody")["errorCode"] == 2
    assert gateway.json("getOrderStatusExtended.do", orderId="x")["errorCode"] == 6
    assert gateway.pay(APPROVES, amount=0)["errorCode"] == 5
    registered = gateway.json(
        "register.do", orderNumber=order_number(), amount="100", returnUrl=BACK_URL
    )
    paid_by_binding = gateway.json(
        "paymentOrderBinding.do",
        mdOrder=registered["orderId"],
        bindingId=bindings["bindings"][0]["bindingId"],
        cvc="123",
    )
    assert paid_by_binding["errorCode"] == "0"
    flip(False)
    assert gateway.status(paid["orderId"])["errorCode"] == "0"


def test_the_switch_is_on_the_console(client):
    page = client.get("/sandbox/payment/")
    assert 'name="flip_error_code_type"' in page.content.decode()
    answer = client.post(
        "/sandbox/payment/",
        {
            "callbacks_enabled": "on",
            "callback_method": "GET",
            "callback_signing": "hmac",
            "callback_secret": "s",
            "flip_error_code_type": "on",
        },
    )
    assert answer.status_code == 302
    assert Merchant.objects.default().flip_error_code_type


# --- jsonParams -------------------------------------------------------------------------------


def test_json_params_come_back_as_their_json_text(gateway):
    sent = (
        '{"basket":"7","vip":true,"guest":false,"note":null,"count":3,"price":1.50,'
        '"big":1e3,"tags":["a",2],"meta":{"x":1.0},"text":"Καλημέρα"}'
    )
    paid = gateway.pay(APPROVES, jsonParams=sent)
    params = gateway.status(paid["orderId"])["merchantOrderParams"]
    assert params == [
        {"name": "basket", "value": "7"},
        {"name": "vip", "value": "true"},
        {"name": "guest", "value": "false"},
        {"name": "note", "value": "null"},
        {"name": "count", "value": "3"},
        {"name": "price", "value": "1.50"},
        {"name": "big", "value": "1e3"},
        {"name": "tags", "value": '["a",2]'},
        {"name": "meta", "value": '{"x":1.0}'},
        {"name": "text", "value": "Καλημέρα"},
    ]
    for bad in ('["list"]', "{nope", '{"n": NaN}'):
        assert gateway.pay(APPROVES, jsonParams=bad)["errorCode"] == "5"


# --- callbackCreationDate ---------------------------------------------------------------------


@pytest.mark.parametrize("signing", ["hmac", "none"])
def test_every_callback_carries_callback_creation_date(gateway, settings, signing):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync", "CALLBACK_RETRY_INTERVAL": 0}
    receiver = Receiver()
    try:
        merchant = Merchant.objects.default()
        merchant.callback_url = receiver.url
        merchant.callback_signing = signing
        merchant.save()
        held = gateway.pay(APPROVES, preAuth="true")
        gateway.json("deposit.do", orderId=held["orderId"], amount="0")
        gateway.json("refund.do", orderId=held["orderId"], amount="1")
        other = gateway.pay(APPROVES, preAuth="true")
        gateway.json("reverse.do", orderId=other["orderId"])
        gateway.pay("4000000000001166")
        assert len(receiver.calls) == 6
        for params in receiver.params():
            params.pop("site")
            assert re.fullmatch(
                r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}",
                params["callbackCreationDate"],
            )
            if signing == "hmac":
                # Signed like any other parameter: dropping it breaks the checksum.
                assert params["checksum"] == expected_hmac(params, defaults.CALLBACK_SECRET)
                without = {k: v for k, v in params.items() if k != "callbackCreationDate"}
                assert params["checksum"] != expected_hmac(without, defaults.CALLBACK_SECRET)
            else:
                assert "checksum" not in params
    finally:
        receiver.close()
