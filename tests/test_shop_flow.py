"""The demo shop done right, against the sandbox gateway over real HTTP: the cart is kept
until the order is paid, one receipt per paid order, one reference everywhere, and a held
payment is "authorised" to the shopper while the operator sees it held."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import translation

from checkout.models import Order, Payment, PaymentStatus
from checkout.services import send_order_paid
from checkout.templatetags.checkout_tags import money
from merchant_site.shop.models import Purchase
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)
S = PaymentStatus

APPROVE = "4444555511113333"  # approved, no 3-D Secure
DECLINE = "4000000000001166"  # declined: insufficient funds


@pytest.fixture
def gateway(sandbox_url):
    cache.clear()
    return sandbox_url


@pytest.fixture
def halloumi():
    return ProductFactory(slug="halloumi", name="Halloumi", price=1450)


def shop_checkout(client, product, quantity=1, email="ann@example.com") -> str:
    """Add to the cart and check out; the card page's URL."""
    client.post(reverse("shop:cart_add", args=[product.slug]), {"quantity": quantity})
    response = client.post(reverse("shop:cart"), {"email": email})
    assert response.status_code == 302, response
    return response["Location"]


def pay(client, card_url: str, pan: str):
    """Pay on the card page; the result page the shopper lands on."""
    data = {"cardholder_name": "Ann Smith", "pan": pan, "expiry": "12/34", "cvc": "859"}
    response = client.post(card_url, data)
    assert response.status_code == 303, response.content.decode()[:500]
    return client.get(response["Location"])


def reference_on(page) -> str:
    return re.search(r"<dt>Reference</dt><dd>([^<]+)</dd>", page.content.decode())[1]


def test_a_declined_shopper_goes_back_to_the_cart_and_pays_the_same_order(
    client, gateway, halloumi
):
    card_url = shop_checkout(client, halloumi, 2)
    result = pay(client, card_url, DECLINE)
    html = result.content.decode()
    assert "Payment not completed" in html
    assert f'href="{reverse("shop:cart")}"' in html and "Back to your cart" in html

    cart = client.get(reverse("shop:cart")).content.decode()
    assert "Your cart is empty" not in cart and "Halloumi" in cart
    order = Order.objects.get()
    assert f"Your order {order.merchant_reference} is waiting for payment" in cart
    again = client.post(reverse("shop:cart"), {"email": "ann@example.com"})
    assert again["Location"] == card_url

    paid = pay(client, card_url, APPROVE)
    assert "Payment received" in paid.content.decode()
    # One order, one purchase, two attempts; the result page already finds the cart empty.
    assert (Order.objects.count(), Purchase.objects.count(), Payment.objects.count()) == (1, 1, 2)
    assert 'class="cart-count"' not in paid.content.decode()
    assert "Your cart is empty" in client.get(reverse("shop:cart")).content.decode()
    assert "Continue shopping" in paid.content.decode()
    assert len(mail.outbox) == 1


def test_one_receipt_per_paid_order_and_the_order_is_fulfilled(client, gateway, halloumi):
    card_url = shop_checkout(client, halloumi, 3)
    Order.objects.update(language="el")  # placed in Greek
    pay(client, card_url, APPROVE)
    order = Order.objects.get()
    payment = order.payments.get()
    assert payment.status == S.PAID
    assert order.fulfilled_at is not None  # checkout_sync stops re-sending order_paid

    # checkout_sync re-sends order_paid (it does so until the order is fulfilled).
    send_order_paid(payment)
    send_order_paid(payment)
    assert len(mail.outbox) == 1
    receipt = mail.outbox[0]
    reference = order.merchant_reference
    assert receipt.to == ["ann@example.com"]
    # In the order's language, whatever the language of the process that sends it.
    assert receipt.subject == f"Η απόδειξη της παραγγελίας σας {reference}"
    assert receipt.extra_headers["Content-Language"] == "el"
    with translation.override("el"):
        total = money(order.amount, order.currency)
    assert "," in total and total.endswith("\u00a0€")  # 13,50 €
    assert f"Παραγγελία {reference}" in receipt.body
    assert f"3 \u00d7 Halloumi: {total}" in receipt.body and f"Σύνολο: {total}" in receipt.body
    assert f"Πληρώθηκαν: {total}." in receipt.body
    assert payment.masked_pan in receipt.body
    html, kind = receipt.alternatives[0]
    assert kind == "text/html" and reference in html and total in html
    assert '<html lang="el">' in html and "Σας ευχαριστούμε για την παραγγελία σας" in html
    assert Purchase.objects.get().receipt_sent_at is not None


def test_the_receipt_leaves_the_request_in_the_background(client, gateway, halloumi, settings):
    """The demo's default: the card POST does not wait for the e-mail; the receipt thread
    sends it once, marks the order fulfilled and closes its connection."""
    import time

    from merchant_site.shop import signals

    settings.SHOP_RECEIPTS_IN_BACKGROUND = True
    card_url = shop_checkout(client, halloumi)
    pay(client, card_url, APPROVE)
    order = Order.objects.get()
    send_order_paid(order.payments.get())  # again, as checkout_sync may
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        order.refresh_from_db()
        if order.fulfilled_at is not None and signals._receipts.empty():
            break
        time.sleep(0.05)
    time.sleep(0.2)
    assert order.fulfilled_at is not None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann@example.com"]
    assert Purchase.objects.get().receipt_sent_at is not None


def test_a_receipt_that_could_not_be_sent_goes_with_the_next_order_paid(
    client, gateway, halloumi, settings
):
    # Nothing listens on the discard port: sending fails as with a mail server that is down.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    pay(client, shop_checkout(client, halloumi), APPROVE)
    order = Order.objects.get()
    assert order.is_paid and order.fulfilled_at is None
    assert Purchase.objects.get().receipt_sent_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    send_order_paid(order.payments.get())
    send_order_paid(order.payments.get())
    assert len(mail.outbox) == 1
    order.refresh_from_db()
    assert order.fulfilled_at is not None


def test_the_reference_the_shopper_sees_finds_the_order_in_the_admin(
    client, admin_client, gateway, halloumi
):
    result = pay(client, shop_checkout(client, halloumi), APPROVE)
    reference = reference_on(result)
    order = Order.objects.get()
    payment = order.payments.get()
    assert reference == order.merchant_reference == Purchase.objects.get().reference
    assert reference != payment.order_number
    # The same reference in "your orders" and in the receipt.
    assert f"Order {reference}" in client.get(reverse("shop:orders")).content.decode()
    assert reference in mail.outbox[0].subject and reference in mail.outbox[0].body

    for changelist, found in (
        ("admin:jcc_checkout_payment_changelist", payment),
        ("admin:jcc_checkout_order_changelist", order),
        ("admin:shop_purchase_changelist", Purchase.objects.get()),
    ):
        page = admin_client.get(reverse(changelist), {"q": reference})
        assert [obj.pk for obj in page.context["cl"].result_list] == [found.pk], changelist
    assert list(Payment.objects.identified_by(reference)) == [payment]


def test_a_held_payment_is_authorised_to_the_shopper_and_held_to_the_operator(
    client, admin_client, gateway, halloumi, settings
):
    settings.CHECKOUT = {**settings.CHECKOUT, "PREAUTH": True}
    result = pay(client, shop_checkout(client, halloumi), APPROVE)
    payment = Payment.objects.get()
    assert payment.status == S.HELD
    html = result.content.decode()
    assert "Payment authorised" in html and "Payment received" not in html
    assert "your payment is authorised" in html

    orders = client.get(reverse("shop:orders")).content.decode()
    assert re.search(r'class="badge badge-paid">Authorised<', orders)
    receipt = mail.outbox[0]
    assert "payment authorised" in receipt.subject and "Your card is authorised" in receipt.body

    page = admin_client.get(reverse("admin:jcc_checkout_payment_change", args=[payment.pk]))
    assert "Held (authorised, not captured)" in page.content.decode()
