"""A third-party RBS client from PyPI against the sandbox, over real HTTP.

The client is ``gocream-pysberbank`` (``gocream_pysberbank.SberbankClient``, a maintained
fork of ``pysberbank``; pure Python, only ``requests``): it posts form data to
``.../payment/rest/<method>.do`` like any RBS client. It has getOrderStatusExtended,
reverse and refund methods; deposit goes through its generic request method.

The client treats any ``errorCode`` other than the string ``"0"`` as an error, so a
success answered with the number ``0`` raises ``SberbankApiException(0, "Success")``.
The published answers use a string in getOrderStatusExtended.do and a number in
deposit/reverse/refund (API-NOTES §1.4): each method is run with the sandbox answering
the published type and, with the merchant's switch, the other one; the tests pin what the
client makes of each, and check that the sandbox carried the operation out either way.
"""

from __future__ import annotations

import pytest
from gocream_pysberbank import SberbankClient
from gocream_pysberbank.errors import SberbankApiException

from checkout.sandbox import defaults
from checkout.sandbox.models import Merchant, Order
from tests.test_sandbox_api import APPROVES, Gateway

pytestmark = pytest.mark.django_db(transaction=True)

#: errorCode's JSON type in each method's answer: as published, or all switched.
MODES = {
    "published": {"status": str, "operation": int},
    "flipped": {"status": int, "operation": str},
}


@pytest.fixture(params=sorted(MODES))
def mode(request) -> dict[str, type]:
    merchant = Merchant.objects.default()
    merchant.flip_error_code_type = request.param == "flipped"
    merchant.save()
    return MODES[request.param]


@pytest.fixture
def gateway(sandbox_url) -> Gateway:
    return Gateway(sandbox_url)


@pytest.fixture
def rbs(sandbox_url) -> SberbankClient:
    return SberbankClient(
        username=defaults.MERCHANT_LOGIN,
        password=defaults.MERCHANT_PASSWORD,
        url=sandbox_url + "{api_type}/{method}",
        language="en",
        currency=978,
    )


def call(mode: dict[str, type], kind: str, method, *args, **kwargs) -> dict | None:
    """Run a client method; with a numeric errorCode the client raises on success."""
    if mode[kind] is str:
        answer = method(*args, **kwargs)
        assert answer["errorCode"] == "0"
        return answer
    with pytest.raises(SberbankApiException) as raised:
        method(*args, **kwargs)
    assert (raised.value.code, raised.value.message) == (0, "Success")
    return None


def deposit(rbs: SberbankClient, order_id: str, amount: int) -> dict:
    # The client has no deposit helper: its generic request method, as its own methods use it.
    return rbs._make_request(
        rbs.url, rbs.api_type, "deposit", {"orderId": order_id, "amount": amount}
    )


def test_order_status_extended(rbs, gateway, mode):
    paid = gateway.pay(APPROVES, amount=2500, clientId="client-7")
    answer = call(mode, "status", rbs.order_status_extended, orderId=paid["orderId"])
    if answer is not None:
        assert answer["orderStatus"] == 2
        assert answer["amount"] == 2500
        assert answer["cardAuthInfo"]["maskedPan"] == "444455**3333"
        assert answer["bindingInfo"]["clientId"] == "client-7"
    by_number = call(mode, "status", rbs.order_status_extended, orderNumber=paid["orderNumber"])
    if by_number is not None:
        assert by_number["attributes"] == [{"name": "mdOrder", "value": paid["orderId"]}]


def test_deposit_then_refund(rbs, gateway, mode):
    held = gateway.pay(APPROVES, amount=3000, preAuth="true")
    call(mode, "operation", deposit, rbs, held["orderId"], 0)
    assert Order.objects.get(pk=held["orderId"]).status == 2
    call(mode, "operation", rbs.refund, held["orderId"], 1000)
    order = Order.objects.get(pk=held["orderId"])
    assert (order.status, order.refunded_amount) == (4, 1000)


def test_reverse(rbs, gateway, mode):
    held = gateway.pay(APPROVES, amount=1200, preAuth="true")
    call(mode, "operation", rbs.reverse, held["orderId"])
    assert Order.objects.get(pk=held["orderId"]).status == 3


def test_refusals_reach_the_client_with_code_and_message(rbs, gateway, mode):
    held = gateway.pay(APPROVES, amount=1200, preAuth="true")
    with pytest.raises(SberbankApiException) as raised:
        rbs.refund(held["orderId"], 100)
    assert str(raised.value.code) == "7"
    assert isinstance(raised.value.code, mode["operation"])
    assert "Refund" in raised.value.message
    with pytest.raises(SberbankApiException) as raised:
        rbs.order_status_extended(orderId="00000000-0000-0000-0000-000000000000")
    assert str(raised.value.code) == "6"
    assert isinstance(raised.value.code, mode["status"])
    assert Order.objects.get(pk=held["orderId"]).status == 1
