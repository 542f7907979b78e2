"""The demo's shopper accounts and its monthly subscription, against the sandbox over HTTP.

A signed-in shopper subscribes to "Halloumi of the month": the first order saves the card
(tii RI); each next month is a merchant-initiated payment (tii R) made by
``charge_subscriptions``, with a receipt like any purchase, never charged twice.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from checkout.models import Exchange, Payment, PaymentStatus, SavedCard
from checkout.sandbox.models import Binding as BankBinding
from checkout.sandbox.models import Order as BankOrder
from merchant_site.shop.models import Purchase, Subscription
from merchant_site.shop.subscriptions import charge_due
from tests.factories import ProductFactory
from tests.test_flow import set_fault

pytestmark = pytest.mark.django_db(transaction=True)
S = PaymentStatus

APPROVE = "4444555511113333"


@pytest.fixture
def gateway(sandbox_url):
    cache.clear()
    return sandbox_url


@pytest.fixture
def monthly():
    return ProductFactory(slug="halloumi-of-the-month", name="Halloumi of the month", monthly=True)


@pytest.fixture
def shopper(client):
    user = get_user_model().objects.create_user("ana", "ana@shop.example", "pw-ana-2026")
    client.force_login(user)
    return user


def subscribe(client, product) -> Subscription:
    client.post(reverse("shop:cart_add", args=[product.slug]), {"quantity": 1})
    response = client.post(reverse("shop:cart"), {"email": "ana@shop.example"})
    assert response.status_code == 302, response
    card_page = client.get(response["Location"]).content.decode()
    assert "saved for the next payments of your subscription" in card_page
    data = {"cardholder_name": "Ana Shopper", "pan": APPROVE, "expiry": "12/34", "cvc": "859"}
    paid = client.post(response["Location"], data)
    assert paid.status_code == 303
    return Subscription.objects.get()


def run_due() -> str:
    out = StringIO()
    Subscription.objects.update(next_charge_at=timezone.now() - timedelta(seconds=1))
    call_command("charge_subscriptions", stdout=out)
    return out.getvalue()


def test_signing_in_with_the_standard_form(client, gateway):
    get_user_model().objects.create_user("shopper", "s@shop.example", "demo-shopper-2026")
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and 'name="username"' in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "shopper", "password": "demo-shopper-2026"}
    )
    assert response.status_code == 302
    assert "Saved cards" in client.get(reverse("shop:catalogue")).content.decode()


def test_a_guest_is_asked_to_sign_in_to_subscribe(client, gateway, monthly):
    client.post(reverse("shop:cart_add", args=[monthly.slug]), {"quantity": 1})
    response = client.post(reverse("shop:cart"), {"email": "guest@shop.example"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not Purchase.objects.exists()


def test_subscribing_saves_the_card_and_the_next_months_are_charged(
    client, gateway, monthly, shopper
):
    subscription = subscribe(client, monthly)
    first = Payment.objects.get()
    card = SavedCard.objects.get()
    assert first.status == S.PAID and first.tii == "RI" and card.first_payment == first
    assert (subscription.card, subscription.user, subscription.periods) == (card, shopper, 1)
    assert subscription.status == Subscription.Status.ACTIVE and len(mail.outbox) == 1

    out = run_due()
    assert "1 subscription(s) due" in out
    subscription.refresh_from_db()
    second = Payment.objects.exclude(pk=first.pk).get()
    assert second.status == S.PAID and second.tii == "R" and second.saved_card == card
    assert Exchange.objects.get(payment=second, operation="instantPayment.do").request["tii"] == "R"
    assert subscription.periods == 2 and subscription.current_order is None
    assert subscription.next_charge_at > timezone.now() - timedelta(seconds=5)
    # A receipt for the second month as for any purchase.
    assert len(mail.outbox) == 2
    # Nothing is due until the next period.
    call_command("charge_subscriptions", stdout=StringIO())
    assert Payment.objects.count() == 2


def test_a_charge_with_an_unknown_outcome_is_looked_up_not_repeated(
    client, gateway, monthly, shopper
):
    subscribe(client, monthly)
    set_fault("drop_after", endpoint="instantPayment.do")
    run_due()
    unknown = Payment.objects.get(tii="R")
    assert unknown.status == S.OUTCOME_UNKNOWN
    subscription = Subscription.objects.get()
    assert subscription.periods == 1 and subscription.current_order == unknown.order
    # The next run finds the same payment by its key (settled by checkout_sync meanwhile).
    call_command("checkout_sync", "--older-than", "0", "--workers", "1", stdout=StringIO())
    run_due()
    assert Payment.objects.filter(tii="R").count() == 1
    assert BankOrder.objects.filter(order_number=unknown.order_number).count() == 1
    subscription.refresh_from_db()
    assert subscription.periods == 2 and subscription.current_order is None


def test_a_cancelled_card_makes_the_subscription_past_due(client, gateway, monthly, shopper):
    subscription = subscribe(client, monthly)
    BankBinding.objects.update(cancelled_action_code=125)
    run_due()
    subscription.refresh_from_db()
    declined = Payment.objects.get(tii="R")
    assert declined.status == S.DECLINED and declined.action_code == 125
    assert subscription.status == Subscription.Status.PAST_DUE and subscription.periods == 1
    assert not SavedCard.objects.get().active
    assert charge_due() == []  # past due: not charged again


def test_declines_are_retried_then_past_due(client, gateway, monthly, shopper):
    subscription = subscribe(client, monthly)
    BankBinding.objects.update(cancelled_action_code=116)  # not enough funds this month
    for _ in range(Subscription.MAX_FAILED):
        run_due()
    subscription.refresh_from_db()
    assert Payment.objects.filter(tii="R", status=S.DECLINED).count() == Subscription.MAX_FAILED
    assert subscription.status == Subscription.Status.PAST_DUE
    assert SavedCard.objects.get().active  # the card itself is fine
