"""Contract tests: the real gateway client against the sandbox over real HTTP.

Every REST method, every test card and every fault mode, plus the published example
answers compared field by field (name and JSON type) with what the sandbox sends.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from checkout.cards import CardData
from checkout.exceptions import GatewayRefused, GatewayUnavailable, OutcomeUnknown
from checkout.gateway import GatewayClient
from checkout.sandbox import crypto, defaults
from checkout.sandbox.cards import CARDS, ONE_TIME_CODE, TestCard, ThreeDS
from checkout.sandbox.models import CallbackDelivery, Merchant
from checkout.setoken import build_setoken
from tests.test_sandbox_api import (
    APPROVES,
    BACK_URL,
    CHALLENGE,
    FAIL_URL,
    FUTURE,
    Gateway,
    acs_fields,
    order_number,
)

pytestmark = pytest.mark.django_db(transaction=True)

# --- the published examples (API-NOTES sources; see its examples/ folder) --------------------

PUBLISHED_INSTANT_NO_3DS = {
    "errorCode": "0",
    "orderId": "eee72f6e-b980-79c5-92e8-6f4200b1eae0",
    "info": "Your order is proceeded, redirecting...",
    "redirect": "https://www.test.com/payment/merchants/gateway/finish.html?orderId=eee72f6e",
    "orderStatus": {
        "expiration": "202412",
        "cardholderName": "TEST CARDHOLDER",
        "depositAmount": 100,
        "currency": "978",
        "approvalCode": "123456",
        "authCode": 2,
        "originalActionCode": "S1",
        "rrn": "311489272111",
        "ErrorCode": "0",
        "ErrorMessage": "Success",
        "OrderStatus": 2,
        "OrderNumber": "2011",
        "Pan": "500000**1115",
        "Amount": 100,
        "Ip": "x.x.x.x",
    },
}

PUBLISHED_INSTANT_3DS = {
    "errorCode": "0",
    "orderNumber": "1218637308",
    "orderId": "0179018d-8f96-7fbe-bc2b-4b7e00a7d8c0",
    "info": "Your order is proceeded, redirecting...",
    "acsUrl": "https://gateway-test.jcc.com.cy/payment/rest/getwhitepageurl.do?mdOrder=0179",
    "paReq": "White page paReq",
    "termUrl": "White page termUrl",
    "orderStatus": {
        "expiration": "203012",
        "cardholderName": "TEST CARDHOLDER",
        "depositAmount": 0,
        "currency": "978",
        "authCode": 2,
        "ErrorCode": "0",
        "ErrorMessage": "Success",
        "OrderStatus": 0,
        "OrderNumber": "1218637308",
        "Pan": "500000**1115",
        "Amount": 100,
        "Ip": "10.99.50.35",
    },
    "is3DSVer2": False,
}

PUBLISHED_STATUS_DEPOSITED = {
    "errorCode": "0",
    "errorMessage": "Success",
    "orderNumber": "7005",
    "orderStatus": 2,
    "actionCode": 0,
    "actionCodeDescription": "",
    "amount": 2000,
    "currency": "978",
    "date": 1617972915659,
    "orderDescription": "",
    "merchantOrderParams": [],
    "transactionAttributes": [],
    "attributes": [{"name": "mdOrder", "value": "01491d0b-c848-7dd6-a20d-e96900a7d8c0"}],
    "cardAuthInfo": {
        "maskedPan": "411111**1111",
        "expiration": "203412",
        "cardholderName": "TEST CARDHOLDER",
        "approvalCode": "12345678",
        "pan": "411111**1111",
    },
    "bindingInfo": {"clientId": "259753456"},
    "authDateTime": 1617973059029,
    "terminalId": "123456",
    "authRefNum": "714105591198",
    "paymentAmountInfo": {
        "paymentState": "DEPOSITED",
        "approvedAmount": 2000,
        "depositedAmount": 2000,
        "refundedAmount": 0,
    },
    "bankInfo": {"bankCountryCode": "UNKNOWN", "bankCountryName": "Unknown"},
}

PUBLISHED_OPERATION = {"errorCode": 0, "errorMessage": "Success"}


def assert_same_shape(published: Any, ours: Any, path: str = "$") -> None:
    """Every field of the published answer is in ours, with the same JSON type."""
    assert type(ours) is type(published), f"{path}: {type(ours).__name__}"
    if isinstance(published, dict):
        for key, value in published.items():
            assert key in ours, f"{path}.{key} is missing"
            assert_same_shape(value, ours[key], f"{path}.{key}")
    elif isinstance(published, list) and published:
        assert ours, f"{path} is empty"
        assert_same_shape(published[0], ours[0], f"{path}[0]")


def test_answers_have_the_published_shapes(sandbox_url):
    gateway = Gateway(sandbox_url)
    paid = gateway.pay(APPROVES, clientId="259753456")
    assert_same_shape(PUBLISHED_INSTANT_NO_3DS, paid)
    challenge = gateway.pay("5000001111111115")
    assert_same_shape(PUBLISHED_INSTANT_3DS, challenge)
    assert_same_shape(PUBLISHED_STATUS_DEPOSITED, gateway.status(paid["orderId"]))
    refund = gateway.json("refund.do", orderId=paid["orderId"], amount="1")
    assert_same_shape(PUBLISHED_OPERATION, refund)


# --- the client -------------------------------------------------------------------------------


@pytest.fixture
def client(sandbox_url) -> GatewayClient:
    return GatewayClient(
        sandbox_url,
        defaults.MERCHANT_LOGIN,
        defaults.MERCHANT_PASSWORD,
        timeouts=(2, 10),
        retry_backoff=0.01,
    )


def pay(client: GatewayClient, pan: str = APPROVES, amount: int = 1999, **kwargs: Any):
    number = kwargs.pop("order_number", None) or order_number()
    card = None if "se_token" in kwargs else CardData(pan, "123", FUTURE, "TEST CARDHOLDER")
    return number, client.instant_payment(
        order_number=number,
        amount=amount,
        currency="EUR",
        description="Contract test",
        language="en",
        back_url=BACK_URL,
        fail_url=FAIL_URL,
        card=card,
        **kwargs,
    )


def browse_3ds(client: GatewayClient, order_id: str, otp: str = ONE_TIME_CODE) -> str:
    """The shopper's browser from the client's acsRedirect URL back to the shop."""
    url = client.acs_redirect_url(order_id)
    return Gateway(client.base_url).three_ds(order_id, otp=otp, url=url)


def wait_for_status(client: GatewayClient, number: str, wanted: int, seconds: float = 5):
    deadline = time.monotonic() + seconds
    while True:
        try:
            status = client.order_status(order_number=number)
            if status.order_status == wanted or time.monotonic() > deadline:
                return status
        except GatewayRefused:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


PLAIN_CARDS = [card for card in CARDS if not card.fault]


@pytest.mark.parametrize("card", PLAIN_CARDS, ids=lambda card: card.pan)
def test_every_card_through_the_client(client, card: TestCard):
    number, result = pay(client, card.pan, amount=2500)

    assert result.order_number == number
    assert result.masked_pan == card.masked_pan
    assert result.amount == 2500
    assert result.currency == "978"
    if card.three_ds == ThreeDS.NONE:
        assert not result.requires_3ds
        assert result.approved is card.approves
        assert result.declined is not card.approves
        assert result.action_code == card.action_code
    else:
        assert result.requires_3ds and not result.approved
        final = browse_3ds(client, result.order_id)
        assert final.startswith(BACK_URL if card.approves else FAIL_URL)
        assert f"orderId={result.order_id}" in final

    status = client.order_status(order_id=result.order_id)

    assert status.order_id == result.order_id
    assert status.order_number == number
    assert status.amount == 2500
    assert status.currency_code == "EUR"
    assert status.card.masked_pan == card.masked_pan
    assert status.card.expiration == FUTURE
    assert status.card.cardholder_name == "TEST CARDHOLDER"
    assert status.card.payment_system == card.brand
    assert status.action_code == card.action_code
    assert status.date is not None
    if card.approves:
        assert status.order_status == 2
        assert status.card.approval_code
        assert status.amounts.payment_state == "DEPOSITED"
        assert (status.amounts.approved, status.amounts.deposited) == (2500, 2500)
    else:
        assert status.order_status == 6
        assert status.action_code_description
        assert status.amounts.payment_state == "DECLINED"
        assert status.amounts.deposited == 0


def test_wrong_one_time_code_through_the_client(client):
    _number, result = pay(client, CHALLENGE)
    assert browse_3ds(client, result.order_id, otp="000000").startswith(FAIL_URL)
    status = client.order_status(order_id=result.order_id)
    assert (status.order_status, status.action_code) == (6, -2006)


def test_regular_post_redirect_with_the_clients_form(client):
    _number, result = pay(client, "4012001038166662")
    form = client.acs_post_form(result)
    http = requests.Session()
    page = http.post(form.url, data=form.fields, timeout=5)
    assert page.status_code == 200
    fields = acs_fields(page.text)
    done = http.post(
        form.url, data={**fields, "otp": ONE_TIME_CODE, "action": "submit"}, allow_redirects=False
    )
    assert urljoin(form.url, done.headers["Location"]).startswith(BACK_URL)
    assert client.order_status(order_id=result.order_id).order_status == 2


@pytest.mark.parametrize("pan", [APPROVES, CHALLENGE, "4000000000001166"])
def test_setoken_built_by_the_client_is_accepted(client, pan):
    (key,) = client.setoken_keys()
    assert key.protocol_version == "RSA"
    assert key.expires_at is not None
    token = build_setoken(CardData(pan, "123", FUTURE, "TEST CARDHOLDER"), key.key_value)
    _number, result = pay(client, se_token=token)
    assert result.masked_pan == pan[:6] + "**" + pan[-4:]
    assert result.requires_3ds is (pan == CHALLENGE)
    assert result.approved is (pan == APPROVES)


def test_preauth_capture_and_refunds_through_the_client(client):
    number, result = pay(client, amount=1000, preauth=True)
    assert result.order_status == 1 and result.approved
    assert client.order_status(order_id=result.order_id).amounts.payment_state == "APPROVED"

    client.deposit(result.order_id, 800)
    client.refund(result.order_id, 300, external_refund_id="r-1", expected_deposited_amount=800)
    client.refund(result.order_id, 300, external_refund_id="r-1", expected_deposited_amount=800)
    client.refund(result.order_id, 0, external_refund_id="r-2")

    status = client.order_status(order_number=number)
    assert status.order_status == 4
    assert (status.amounts.approved, status.amounts.deposited, status.amounts.refunded) == (
        1000,
        800,
        800,
    )
    with pytest.raises(GatewayRefused) as err:
        client.refund(result.order_id, 1)
    assert err.value.code == 7


def test_reverse_through_the_client(client):
    _number, result = pay(client, amount=1000, preauth=True)
    client.reverse(result.order_id)
    assert client.order_status(order_id=result.order_id).order_status == 3
    with pytest.raises(GatewayRefused) as err:
        client.deposit(result.order_id, 0)
    assert err.value.code == 7


def test_refusals_through_the_client(client, sandbox_url):
    _number, result = pay(client)
    with pytest.raises(GatewayRefused) as err:
        pay(client, order_number=result.order_number)
    assert err.value.code == 1
    with pytest.raises(GatewayRefused) as err:
        client.order_status(order_id="00000000-0000-0000-0000-000000000000")
    assert err.value.code == 6
    with pytest.raises(GatewayRefused) as err:
        client.reverse(result.order_id)
    assert err.value.code == 7
    stranger = GatewayClient(sandbox_url, defaults.MERCHANT_LOGIN, "wrong")
    with pytest.raises(GatewayRefused) as err:
        stranger.order_status(order_id=result.order_id)
    assert (err.value.code, err.value.gateway_message) == (5, "Access denied")
    with pytest.raises(GatewayRefused) as err:
        pay(stranger)
    assert err.value.code == 5


def test_expired_order_through_the_client(client):
    from datetime import timedelta

    from django.utils import timezone

    from checkout.sandbox.models import Order

    _number, result = pay(client, CHALLENGE)
    Order.objects.filter(pk=result.order_id).update(expires_at=timezone.now() - timedelta(1))
    status = client.order_status(order_id=result.order_id)
    assert (status.order_status, status.action_code) == (6, -2007)


# --- fault modes: what the client raises ------------------------------------------------------


def switch(fault: str, endpoints: str = "instantPayment.do", remaining: int | None = None):
    Merchant.objects.filter(pk=Merchant.objects.default().pk).update(
        fault=fault, fault_endpoints=endpoints, fault_remaining=remaining
    )


PAYMENT_FAULTS = [
    ("http500_before", OutcomeUnknown, False),
    ("http500_after", OutcomeUnknown, True),
    ("malformed_before", OutcomeUnknown, False),
    ("malformed_after", OutcomeUnknown, True),
    ("drop_after", OutcomeUnknown, True),
    ("http429", GatewayUnavailable, False),
]


def test_payment_faults(client):
    for fault, raised, carried_out in PAYMENT_FAULTS:
        switch(fault)
        number = order_number()
        with pytest.raises(raised) as err:
            pay(client, order_number=number)
        assert isinstance(err.value, OutcomeUnknown) is (raised is OutcomeUnknown), fault
        # The status query settles it, as the client's callers do.
        switch("")
        if carried_out:
            assert client.order_status(order_number=number).order_status == 2, fault
        else:
            with pytest.raises(GatewayRefused) as unknown:
                client.order_status(order_number=number)
            assert unknown.value.code == 6, fault


def test_latency_beyond_the_read_timeout_is_outcome_unknown(client, sandbox_url, settings):
    settings.CHECKOUT_SANDBOX = {**settings.CHECKOUT_SANDBOX, "FAULT_LATENCY": 0.8}
    slow = GatewayClient(
        sandbox_url, defaults.MERCHANT_LOGIN, defaults.MERCHANT_PASSWORD, timeouts=(2, 0.3)
    )
    switch("latency")
    number = order_number()
    with pytest.raises(OutcomeUnknown):
        pay(slow, order_number=number)
    switch("")
    assert wait_for_status(client, number, 2).order_status == 2


@pytest.mark.parametrize("card", [c for c in CARDS if c.fault], ids=lambda card: card.pan)
def test_fault_cards(client, sandbox_url, settings, card):
    settings.CHECKOUT_SANDBOX = {**settings.CHECKOUT_SANDBOX, "FAULT_LATENCY": 0.8}
    impatient = GatewayClient(
        sandbox_url, defaults.MERCHANT_LOGIN, defaults.MERCHANT_PASSWORD, timeouts=(2, 0.3)
    )
    number = order_number()
    with pytest.raises(OutcomeUnknown):
        pay(impatient, card.pan, order_number=number)
    assert wait_for_status(client, number, 2).order_status == 2


def test_status_query_faults_are_never_outcome_unknown(client):
    _number, result = pay(client)
    for fault in ("http500_before", "malformed_after", "http429", "drop_after"):
        switch(fault, "getOrderStatusExtended.do")
        with pytest.raises(GatewayUnavailable) as err:
            client.order_status(order_id=result.order_id)
        assert not isinstance(err.value, OutcomeUnknown), fault


def test_status_query_retries_a_passing_fault(client):
    _number, result = pay(client)
    switch("http429", "getOrderStatusExtended.do", remaining=1)
    assert client.order_status(order_id=result.order_id).order_status == 2


def test_back_office_calls_dropped_after_they_were_carried_out(client):
    for method, state in (("deposit.do", 2), ("reverse.do", 3), ("refund.do", 4)):
        _number, result = pay(client, amount=1000, preauth=method != "refund.do")
        switch("drop_after", method)
        with pytest.raises(OutcomeUnknown):
            if method == "deposit.do":
                client.deposit(result.order_id, 0)
            elif method == "reverse.do":
                client.reverse(result.order_id)
            else:
                client.refund(result.order_id, 400)
        assert client.order_status(order_id=result.order_id).order_status == state, method


# --- callbacks into the shop's own endpoint ---------------------------------------------------


@pytest.mark.parametrize("signing", ["hmac", "rsa"])
def test_shop_verifies_the_sandboxs_callback_checksums(client, settings, signing):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync"}
    if signing == "rsa":
        Merchant.objects.filter(login=defaults.MERCHANT_LOGIN).update(callback_signing="rsa")
        settings.CHECKOUT = {
            **settings.CHECKOUT,
            "CALLBACK_PUBLIC_KEY": crypto.current_key().public_pem,
        }
    Merchant.objects.default()
    pay(client)
    delivery = CallbackDelivery.objects.get()
    assert delivery.url.endswith("/checkout/callback/")
    assert delivery.state == CallbackDelivery.State.DELIVERED, delivery.last_error
    assert delivery.last_http_status == 200


def test_shop_refuses_a_callback_with_a_wrong_checksum(client, settings):
    settings.CHECKOUT_SANDBOX = {
        "CALLBACK_DELIVERY": "sync",
        "CALLBACK_ATTEMPTS": 1,
    }
    merchant = Merchant.objects.default()
    merchant.callback_secret = "not-the-shops-secret"
    merchant.save()
    pay(client)
    delivery = CallbackDelivery.objects.get()
    assert delivery.state == CallbackDelivery.State.FAILED
    assert delivery.last_http_status == 400
