"""The sandbox's own pages, and its refusal to serve when it is not active."""

from __future__ import annotations

import pytest
import requests

from checkout.sandbox.cards import CARDS, ONE_TIME_CODE
from checkout.sandbox.models import Merchant
from tests.test_sandbox_api import APPROVES, CHALLENGE, Gateway

pytestmark = pytest.mark.django_db(transaction=True)


def test_index_shows_the_card_table_and_the_one_time_code(sandbox_url):
    page = requests.get(sandbox_url, timeout=5)
    assert page.status_code == 200
    for card in CARDS:
        assert card.display_pan in page.text
        assert card.description in page.text
    assert ONE_TIME_CODE in page.text
    assert "9999" in page.text  # a magic amount


def test_orders_and_callbacks_are_listed(sandbox_url):
    gateway = Gateway(sandbox_url)
    paid = gateway.pay(APPROVES)
    orders = requests.get(sandbox_url + "sandbox/orders/", timeout=5)
    assert paid["orderNumber"] in orders.text
    detail = requests.get(f"{sandbox_url}sandbox/orders/{paid['orderId']}/", timeout=5)
    assert "444455**3333" in detail.text
    assert "deposited" in detail.text  # its queued callback
    callbacks = requests.get(sandbox_url + "sandbox/callbacks/", timeout=5)
    assert paid["orderNumber"] in callbacks.text


def test_merchant_switches_are_saved_from_the_index(client):
    page = client.get("/sandbox/payment/")
    assert page.status_code == 200
    answer = client.post(
        "/sandbox/payment/",
        {
            "callbacks_enabled": "on",
            "callback_url": "https://shop.example/cb/",
            "callback_method": "POST",
            "callback_signing": "rsa",
            "callback_secret": "s3cret",
            "fault": "http429",
            "fault_endpoints": "refund.do",
            "fault_remaining": "2",
            "callback_fault": "delay",
        },
    )
    assert answer.status_code == 302
    merchant = Merchant.objects.default()
    assert (merchant.callback_method, merchant.callback_signing) == ("POST", "rsa")
    assert (merchant.fault, merchant.fault_remaining, merchant.callback_fault) == (
        "http429",
        2,
        "delay",
    )
    refused = client.post("/sandbox/payment/", {"callback_method": "PUT"})
    assert refused.status_code == 200
    assert Merchant.objects.default().callback_method == "POST"


def test_acs_page_works_without_javascript(sandbox_url):
    gateway = Gateway(sandbox_url)
    answer = gateway.pay(CHALLENGE)
    page = gateway.http.get(answer["acsUrl"], timeout=5)
    assert "<script" not in page.text.lower()
    assert '<form method="post"' in page.text


SANDBOX_PATHS = [
    "",
    "rest/instantPayment.do",
    "rest/getOrderStatusExtended.do",
    "rest/deposit.do",
    "se/keys.do",
    "acsRedirect.do?orderId=x",
    "rest/getwhitepageurl.do?mdOrder=x",
    "sandbox/orders/",
    "sandbox/callbacks/",
    "sandbox/callback-key.pem",
]


def test_inactive_sandbox_is_404(sandbox_url, settings):
    settings.DEBUG = False
    settings.CHECKOUT = {**settings.CHECKOUT, "SANDBOX_ALLOWED": False}
    for path in SANDBOX_PATHS:
        assert requests.get(sandbox_url + path, timeout=5).status_code == 404, path
        assert requests.post(sandbox_url + path, timeout=5).status_code == 404, path


def test_debug_alone_activates_the_sandbox(sandbox_url, settings):
    settings.DEBUG = True
    settings.CHECKOUT = {**settings.CHECKOUT, "SANDBOX_ALLOWED": False}
    assert requests.get(sandbox_url + "se/keys.do", timeout=5).status_code == 200
