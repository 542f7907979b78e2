"""The card page's trust elements and settings, as rendered (no browser): the shop and the
amount, the accepted schemes' marks, the cart link, the trust line, the waiting notice,
the optional name, and the checks of the settings behind them."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse

from checkout import cardpage, conf
from checkout.checks import check_card_page
from tests.factories import owned_order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _offline(offline_gateway):
    pass


def card_page(client, **order) -> str:
    order = owned_order(client, amount=1450, description="Halloumi, 1 kg", **order)
    response = client.get(reverse("jcc_checkout:card", args=[order.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def checkout_settings(settings, **values) -> None:
    settings.CHECKOUT = {**settings.CHECKOUT, **values}


def test_the_page_shows_the_shop_the_amount_and_the_way_back(client):
    html = card_page(client)
    assert '<p class="checkout-merchant">Limassol Larder</p>' in html
    assert "14.50" in html
    # The demo sets CART_URL to its cart's URL name.
    assert re.search(r'<p class="checkout-back"><a href="/cart/">.*Back to your cart', html)


def test_the_accepted_schemes_are_shown_as_marks_served_by_the_shop(client):
    html = card_page(client)
    marks = re.findall(r'data-brand="([A-Z]+)"><img src="([^"]+)" alt="([^"]+)"', html)
    assert marks == [
        ("VISA", "/static/checkout/brands/visa.svg", "Visa"),
        ("MASTERCARD", "/static/checkout/brands/mastercard.svg", "Mastercard"),
        ("DINERS", "/static/checkout/brands/diners.svg", "Diners Club"),
    ]
    assert 'aria-label="Cards accepted"' in html


def test_the_marks_follow_card_brands_and_every_mark_exists(client, settings):
    checkout_settings(settings, CARD_BRANDS=["Amex", "visa", "unionpay", "visa"])
    html = card_page(client)
    assert re.findall(r'data-brand="([A-Z]+)"><img', html) == ["AMEX", "VISA", "CUP"]
    for brand in cardpage.BRANDS.values():
        path = finders.find(brand.mark)
        assert path, brand.mark
        with open(path, encoding="utf-8") as svg:
            text = svg.read()
        # Drawn here: a rounded rectangle and the scheme's name, nothing fetched.
        assert "<rect" in text and "<text" in text and "href" not in text


def test_no_cart_link_and_no_marks_when_the_shop_sets_none(client, settings):
    checkout_settings(settings, CART_URL="", CARD_BRANDS=[])
    html = card_page(client)
    assert "checkout-back" not in html and "card-brands" not in html


def test_a_cart_url_may_be_an_address(client, settings):
    checkout_settings(settings, CART_URL="https://shop.example/basket/")
    assert '<a href="https://shop.example/basket/">' in card_page(client)


def test_trust_line_waiting_notice_and_busy_label_are_on_the_page(client):
    html = card_page(client)
    assert 'src="/static/checkout/lock.svg" alt=""' in html
    # Without the script the server encrypts; the script swaps in the stronger claim.
    assert "Your card details are encrypted and processed by JCC." in html
    assert 'data-trust-browser="Your card details are encrypted in your browser and' in html
    assert re.search(
        r"<div class=\"card-wait\" role=\"status\" data-card-wait><p hidden>Please don't close",
        html,
    )
    assert 'data-busy-label="Processing…"' in html
    assert '<p class="field-hint" id="card-name-latin" data-name-latin hidden>' in html


def test_the_fields_keep_no_maxlength_that_cuts_a_pasted_value(client):
    html = card_page(client)
    expiry = re.search(r'<input[^>]*name="expiry"[^>]*>', html).group(0)
    pan = re.search(r'<input[^>]*name="pan"[^>]*>', html).group(0)
    assert int(re.search(r'maxlength="(\d+)"', expiry).group(1)) >= len("12 / 2030")
    assert int(re.search(r'maxlength="(\d+)"', pan).group(1)) >= len("4444 - 5555 - 1111 - 3333")


def test_an_optional_name_is_labelled_so(client, settings):
    checkout_settings(settings, CARDHOLDER_NAME="optional")
    html = card_page(client)
    name = re.search(r'<input[^>]*name="cardholder_name"[^>]*>', html).group(0)
    assert "required" not in name
    assert "Name on card (optional)" in html


def test_a_greek_name_posted_without_javascript_is_sent_in_latin(client):
    order = owned_order(client)
    response = client.post(
        reverse("jcc_checkout:card", args=[order.public_id]),
        {"cardholder_name": "Ελένη 2", "pan": "4444-5555-1111-3333", "expiry": "12 / 2030"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter the name in Latin or Greek letters, as on the card." in html
    assert "expiry_error" not in html, "12 / 2030 is a valid expiry"
    assert "4444" not in html


@pytest.mark.parametrize(
    ("values", "wrong"),
    [
        ({"CARDHOLDER_NAME": "sometimes"}, "CARDHOLDER_NAME"),
        ({"CARD_BRANDS": ["visa", "amex2"]}, "CARD_BRANDS"),
        ({"CARD_BRANDS": "visa"}, "CARD_BRANDS"),
        ({"CART_URL": "shop:basket"}, "CART_URL"),
    ],
)
def test_w012_unusable_card_page_settings(settings, values, wrong):
    checkout_settings(settings, **values)
    messages = check_card_page()
    assert [m.id for m in messages] == ["checkout.W012"]
    assert wrong in messages[0].hint
    read = {
        "CARDHOLDER_NAME": lambda: conf.checkout_settings.CARDHOLDER_NAME,
        "CARD_BRANDS": cardpage.accepted_brands,
        "CART_URL": cardpage.cart_url,
    }[wrong]
    with pytest.raises(ImproperlyConfigured, match=wrong):
        read()


def test_w012_is_silent_for_good_settings_and_registered(settings):
    checkout_settings(
        settings, CARDHOLDER_NAME="Optional", CARD_BRANDS=["jcb"], CART_URL="/basket/"
    )
    assert check_card_page() == []
    with override_settings(CHECKOUT={**settings.CHECKOUT, "CARD_BRANDS": ["nope"]}):
        assert "checkout.W012" in {m.id for m in run_checks()}
