"""Saved cards in headless Chromium: a signed-in shopper saves a card, pays again typing
only its CVC (no card number typed, none posted), then removes the card. What reached the
shop's server is recorded at the WSGI layer; afterwards the database, sessions, cache, logs
and mails are searched for card numbers and the CVC."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from django.contrib.auth import get_user_model

from checkout.models import Payment, PaymentStatus, SavedCard
from checkout.sandbox import crypto
from checkout.sandbox.models import Binding as BankBinding
from checkout.sandbox.models import Order as BankOrder
from tests.browser.test_checkout_e2e import (
    CVC,
    EXPIRY_YYYYMM,
    NO_3DS,
    add_to_cart,
    card_posts,
    checkout,
    enter_card,
    shop,  # noqa: F401  (the fixture: demo shop, sandbox, card-data sweep afterwards)
    submit_card,
    wait_for_result,
)
from tests.browser.test_docs_screenshots import keep

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("shop"),
]
S = PaymentStatus


def sign_in(page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", "shopper")
    page.fill("#id_password", "demo-shopper-2026")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(".site-account")


def test_save_a_card_pay_with_its_cvc_alone_then_remove_it(live_server, page, server_requests):
    assert get_user_model().objects.filter(username="shopper").exists()  # made by seed_demo
    base = live_server.url
    sign_in(page, base)

    # 1. First payment: the card is typed once and saved.
    add_to_cart(page, base)
    checkout(page, base)
    enter_card(page, NO_3DS)
    page.get_by_label("Save this card for my next payments").check()
    submit_card(page)
    assert wait_for_result(page) == "Payment received"
    card = SavedCard.objects.get()
    assert (card.masked_pan, card.expiry, card.brand) == ("444455**3333", EXPIRY_YYYYMM, "VISA")
    assert card.wallet.owner.username == "shopper"
    first_posts = len(card_posts(server_requests))

    # 2. Next payment: the saved card is offered first; only its CVC is typed.
    add_to_cart(page, base, "Commandaria")
    checkout(page, base)
    form = page.locator("#saved-card-form")
    form.wait_for()
    page.wait_for_selector("#saved-card-form[data-card-ready='true']")
    assert form.get_by_role("radio").first.is_checked()
    assert "3333" in form.inner_text()
    page.fill("#saved_cvc", CVC)
    keep(page, "saved-card", full_page=False)  # docs/img/saved-card.png
    form.get_by_role("button").click()
    assert wait_for_result(page) == "Payment received"
    payment = Payment.objects.exclude(pk=card.first_payment_id).get()
    assert payment.saved_card == card and payment.tii == "F" and payment.status == S.PAID
    bank = BankOrder.objects.get(pk=payment.gateway_order_id)
    assert str(bank.binding_id) == card.binding_id and bank.status == 2

    # What the browser posted for it: the card's id and a seToken, no number, no CVC.
    [posted] = card_posts(server_requests)[first_posts:]
    assert set(posted) == {"csrfmiddlewaretoken", "saved_card", "se_token"}
    assert posted["saved_card"] == str(card.public_id)
    token = crypto.decrypt_setoken(posted["se_token"])
    assert token.pan == "" and token.binding_id == card.binding_id and token.cvc == CVC
    for request in server_requests:
        assert NO_3DS not in request.text and "4444 5555" not in request.text
        assert CVC not in dict(parse_qsl(request.text)).values(), request.path

    # 3. The shopper removes the card; the gateway unbinds it.
    page.get_by_role("link", name="Saved cards").click()
    page.get_by_role("button", name="Remove the card ending in 3333").click()
    page.wait_for_selector("text=was removed")
    assert "no saved cards" in page.content()
    card.refresh_from_db()
    assert not card.active and card.unbind == SavedCard.Unbind.DONE
    assert not BankBinding.objects.get(pk=card.binding_id).active

    # 4. The card page offers it no more.
    add_to_cart(page, base, "Loukoumi, 500 g")
    checkout(page, base)
    assert page.locator("#saved-card-form").count() == 0
