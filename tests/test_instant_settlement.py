"""One round trip for an approved card payment: when the instantPayment.do answer settles
the attempt on its own, and when a status query still confirms it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from checkout.gateway.answers import parse_instant_payment
from checkout.models import Payment, PaymentStatus
from checkout.services import instant_settlement

S = PaymentStatus
FIXTURE = Path(__file__).parent / "fixtures" / "gateway" / "instantPayment-no3ds-deposited.json"
#: JCC's published answer for an approved one-phase payment without 3-D Secure.
PUBLISHED = json.loads(FIXTURE.read_text())


def attempt(**overrides) -> Payment:
    values = {"order_number": "2011", "amount": 100, "currency": "EUR", "preauth": False}
    return Payment(**{**values, **overrides})


def answer(change=None, **block_changes):
    data = copy.deepcopy(PUBLISHED)
    data["orderStatus"].update(block_changes)
    if change:
        change(data)
    return parse_instant_payment(data)


def test_the_published_approval_settles_the_attempt_as_paid():
    settled = instant_settlement(attempt(), answer())
    assert settled is not None and settled.status == S.PAID
    assert settled.fields["gateway_order_id"] == "eee72f6e-b980-79c5-92e8-6f4200b1eae0"
    assert settled.fields["captured_amount"] == settled.fields["approved_amount"] == 100
    assert settled.fields["masked_pan"] == "500000**1115"
    assert settled.fields["card_expiry"] == "202412"
    assert settled.fields["approval_code"] == "123456"


def test_a_two_phase_approval_settles_as_held():
    held = answer(OrderStatus=1, depositAmount=0, approvedAmount=100)
    settled = instant_settlement(attempt(preauth=True), held)
    assert settled is not None and settled.status == S.HELD
    assert settled.fields["approved_amount"] == 100 and settled.fields["captured_amount"] == 0


def _without_block(data):
    del data["orderStatus"]


def _top_error(data):
    data["errorCode"] = None


def _with(key, value):
    def change(data):
        data[key] = value

    return change


@pytest.mark.parametrize(
    ("payment", "result", "why"),
    [
        (attempt(), answer(ErrorCode="2"), "the block reports an error"),
        (attempt(), answer(_without_block), "no orderStatus block"),
        (attempt(), answer(_top_error), "no top-level errorCode"),
        (attempt(), answer(_with("acsUrl", "https://acs.example/")), "3-D Secure"),
        (attempt(), answer(_with("is3DSVer2", False)), "a 3-D Secure field, even false"),
        (attempt(), answer(_with("threeDSMethodURL", "https://m/")), "3-D Secure method"),
        (attempt(), answer(OrderNumber="2012"), "another order number"),
        (attempt(), answer(currency="840"), "another currency"),
        (attempt(), answer(depositAmount=50), "a partial amount"),
        (attempt(), answer(depositAmount=50, Amount=50), "the whole answer is for less"),
        (attempt(), answer(approvedAmount=150), "approved more than asked"),
        (attempt(), answer(OrderStatus=6, ErrorCode="0"), "a decline: actionCode needed"),
        (attempt(), answer(OrderStatus=0), "registered only"),
        (attempt(), answer(OrderStatus=1, approvedAmount=100), "held when one-phase"),
        (attempt(preauth=True), answer(), "charged when two-phase"),
        (attempt(preauth=True), answer(OrderStatus=1, approvedAmount=90), "partly held"),
        (attempt(amount=200), answer(), "the attempt is for another amount"),
    ],
)
def test_anything_else_is_confirmed_by_a_status_query(payment, result, why):
    assert instant_settlement(payment, result) is None, why


def test_the_setting_restores_the_confirming_query(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "CONFIRM_CARD_PAYMENTS": True}
    assert instant_settlement(attempt(), answer()) is None
