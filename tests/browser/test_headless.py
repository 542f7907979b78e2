"""The demo's headless checkout (/headless/) in Chromium, through the JSON API and the
browser client, against the sandbox over real HTTP: without and with 3-D Secure, a decline
and a retry. What the shop's server received is recorded at the WSGI layer: no card number
and no CVC in any request. Afterwards the database, sessions, cache and logs are searched
for them too (the demo_shop fixture)."""

from __future__ import annotations

import json

import pytest

from checkout.models import Payment, PaymentStatus
from checkout.sandbox import crypto
from checkout.sandbox.cards import ONE_TIME_CODE
from tests.browser.conftest import screenshot
from tests.browser.shopper import CVC

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = PaymentStatus

NO_3DS = "4444555511113333"
CHALLENGE = "5555555555555599"
INSUFFICIENT_FUNDS = "4000000000001166"
EMAIL = "headless@example.com"


def to_card_page(page, base: str) -> None:
    page.goto(base + "/headless/")
    page.wait_for_selector("#headless[data-ready]")
    page.get_by_role("button", name="Add Halloumi, 1 kg").click()
    page.fill("#hl-email", EMAIL)
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_selector("#hl-card-form[data-ready]")


def enter_card(page, pan: str) -> None:
    page.fill("#hl-name", "Ann Smith")
    page.fill("#hl-pan", pan)
    page.fill("#hl-expiry", "11/37")
    page.fill("#hl-cvc", CVC)
    page.locator("#hl-pay").click()


def result(page) -> str:
    page.wait_for_selector("#hl-result:not([hidden])")
    return page.locator("#hl-result-title").inner_text()


def assert_no_card_data_on_the_wire(received, pans: list[str]) -> None:
    assert received, "nothing was recorded"
    for request in received:
        for pan in pans:
            assert pan not in request.text and pan[:4] + " " + pan[4:8] not in request.text
        assert CVC not in request.text, request.path
    posts = [
        json.loads(r.body)
        for r in received
        if r.method == "POST" and r.path.startswith("/checkout/api/")
    ]
    assert posts, "no payment was posted to the API"
    for body in posts:
        assert set(body) <= {"se_token", "cardholder_name", "return_url", "saved_card", "save_card"}


def test_buy_without_3ds(demo_shop, page, server_requests):
    to_card_page(page, demo_shop)
    assert page.locator("#hl-pay").inner_text() == "Pay €14.50"
    enter_card(page, NO_3DS)
    assert result(page) == "Payment received"
    screenshot(page, "headless-paid")
    payment = Payment.objects.select_related("order").get(order__email=EMAIL)
    assert payment.status == S.PAID and payment.order.amount == 1450
    assert payment.masked_pan == "444455**3333"
    assert_no_card_data_on_the_wire(server_requests, [NO_3DS])
    # The token the browser built is the one the bank decrypted.
    [posted] = [json.loads(r.body) for r in server_requests if r.path.endswith("/payments/")]
    assert crypto.decrypt_setoken(posted["se_token"]).pan == NO_3DS
    # No page of the checkout's own was shown: only the API was called.
    assert not [r for r in server_requests if r.path.startswith("/checkout/pay/")]


def test_buy_with_3ds(demo_shop, page, server_requests):
    to_card_page(page, demo_shop)
    enter_card(page, CHALLENGE)
    page.wait_for_selector("#otp")
    page.fill("#otp", ONE_TIME_CODE)
    page.get_by_role("button", name="Confirm").click()
    assert result(page) == "Payment received"
    assert "/headless/?" in page.url and "payment=" in page.url
    payment = Payment.objects.get(order__email=EMAIL)
    assert payment.status == S.PAID
    assert_no_card_data_on_the_wire(server_requests, [CHALLENGE])


def test_decline_then_retry(demo_shop, page, server_requests):
    to_card_page(page, demo_shop)
    enter_card(page, INSUFFICIENT_FUNDS)
    page.wait_for_selector("#hl-card-form[data-declined]")
    assert "not enough funds" in page.locator("#hl-card-error").inner_text()
    enter_card(page, NO_3DS)
    assert result(page) == "Payment received"
    statuses = sorted(Payment.objects.filter(order__email=EMAIL).values_list("status", flat=True))
    assert statuses == [S.DECLINED, S.PAID]
    assert_no_card_data_on_the_wire(server_requests, [INSUFFICIENT_FUNDS, NO_3DS])
