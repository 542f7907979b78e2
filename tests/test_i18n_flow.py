"""The shopper's language through a whole payment against the sandbox gateway (real HTTP).

The demo creates the order in the shopper's language, instantPayment.do carries it, the
gateway's 3-D Secure page speaks it, and the page after the bank does too.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pytest
import requests
from django.core.cache import cache
from django.urls import reverse

from checkout.models import Exchange, PaymentStatus
from checkout.sandbox.cards import ONE_TIME_CODE
from checkout.sandbox.models import Order as BankOrder
from merchant_site.shop.models import Purchase
from tests.factories import ProductFactory
from tests.test_flow import come_back

S = PaymentStatus
pytestmark = pytest.mark.django_db(transaction=True)

CHALLENGE = "5555555555555599"  # 3-D Secure challenge, then approved
APPROVE = "4444555511113333"
NBSP = "\u00a0"


@pytest.fixture
def gateway(sandbox_url: str) -> str:
    cache.clear()
    return sandbox_url


def buy(client, language: str) -> Purchase:
    """Halloumi for 14.50 EUR, checked out by a browser asking for ``language``."""
    product = ProductFactory(slug="halloumi", name="Halloumi", price=1450)
    client.post(reverse("shop:cart_add", args=[product.slug]), {"quantity": 1})
    response = client.post(
        reverse("shop:cart"), {"email": "a@example.com"}, HTTP_ACCEPT_LANGUAGE=language
    )
    assert response.status_code == 302
    return Purchase.objects.select_related("order").get()


def pay(client, purchase: Purchase, pan: str, **headers):
    data = {"cardholder_name": "Test Shopper", "pan": pan, "expiry": "12/34", "cvc": "859"}
    return client.post(
        reverse("jcc_checkout:card", args=[purchase.order.public_id]), data, **headers
    )


def test_a_greek_shopper_pays_in_greek_end_to_end(client, gateway):
    purchase = buy(client, "el")
    order = purchase.order
    assert order.language == "el"
    response = pay(client, purchase, CHALLENGE, HTTP_ACCEPT_LANGUAGE="el")
    payment = order.payments.get()
    sent = Exchange.objects.get(payment=payment, operation="instantPayment.do").request
    assert sent["language"] == "el"
    assert BankOrder.objects.get(pk=payment.gateway_order_id).language == "el"

    # The 3-D Secure hop: the gateway's page speaks the order's language, whatever the
    # browser asks for.
    hop = client.get(response["Location"])
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"
    url = hop["Location"]
    answer = browser.get(url, allow_redirects=False, timeout=10)
    while answer.is_redirect:
        url = urljoin(url, answer.headers["Location"])
        answer = browser.get(url, allow_redirects=False, timeout=10)
    page = answer.text
    assert '<html lang="el">' in page and answer.headers["Content-Language"] == "el"
    assert "Επιβεβαιώστε την πληρωμή σας" in page and f"14,50{NBSP}€" in page
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page)[1])
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    fields.update(action="submit", otp=ONE_TIME_CODE)
    back = browser.post(urljoin(url, action), data=fields, allow_redirects=False, timeout=10)

    # Back at the shop in a browser that sends no language: the order's language.
    result = come_back(client, back.headers["Location"])
    text = result.content.decode()
    assert '<html lang="el">' in text and "Η πληρωμή ολοκληρώθηκε" in text
    payment.refresh_from_db()
    assert payment.status == S.PAID


def test_an_english_shopper_sends_english(client, gateway):
    purchase = buy(client, "en-GB,en;q=0.8")
    assert purchase.order.language == "en"
    response = pay(client, purchase, APPROVE)
    assert response.status_code == 303
    payment = purchase.order.payments.get()
    sent = Exchange.objects.get(payment=payment, operation="instantPayment.do").request
    assert sent["language"] == "en"
    assert payment.status == S.PAID


def test_a_language_the_gateway_lacks_is_sent_as_english(client, gateway):
    purchase = buy(client, "en")
    type(purchase.order).objects.filter(pk=purchase.order.pk).update(language="de")
    pay(client, purchase, APPROVE)
    payment = purchase.order.payments.get()
    sent = Exchange.objects.get(payment=payment, operation="instantPayment.do").request
    assert sent["language"] == "en"
    assert BankOrder.objects.get(pk=payment.gateway_order_id).language == "en"
