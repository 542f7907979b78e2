"""Greek and English: the shopper's pages, the admin, the order's language and the gateway's.

The language comes from the switch's cookie, else Accept-Language, else (on the pages of
an order) the order's language, else English.
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views.defaults import server_error

from checkout.i18n import gateway_language, order_language, page_language
from checkout.models import PaymentStatus
from checkout.services import create_order
from tests.factories import OrderFactory, PaymentFactory, owned_order

S = PaymentStatus
pytestmark = pytest.mark.django_db

GREEK = {"HTTP_ACCEPT_LANGUAGE": "el-GR,el;q=0.9,en;q=0.5"}
NBSP = "\u00a0"


@pytest.fixture(autouse=True)
def _offline(offline_gateway):
    pass


def html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]*)">', html)[1]


def card_url(order) -> str:
    return reverse("jcc_checkout:card", args=[order.public_id])


def status_url(payment) -> str:
    return reverse("jcc_checkout:payment", args=[payment.public_id])


def card_messages(html: str) -> dict[str, str]:
    data = re.search(r'<script id="card-messages" type="application/json">(.*?)</script>', html)
    return json.loads(data[1])


def switch_to(client, language: str, next_url: str):
    return client.post(reverse("set_language"), {"language": language, "next": next_url})


# --- the card page --------------------------------------------------------------------------


def test_the_card_page_is_english_by_default(client):
    order = owned_order(client, amount=1450)
    response = client.get(card_url(order))
    html = response.content.decode()
    assert html_lang(html) == "en"
    assert "Card number" in html and "Name on card" in html
    assert "Pay €14.50" in html
    assert card_messages(html)["pan_required"] == "Enter the card number."


def test_accept_language_el_gives_the_card_page_in_greek(client):
    order = owned_order(client, amount=1450)
    response = client.get(card_url(order), **GREEK)
    html = response.content.decode()
    assert html_lang(html) == "el"
    assert response["Content-Language"] == "el"
    for text in (
        "Αριθμός κάρτας",
        "Ημερομηνία λήξης (ΜΜ/ΕΕ)",
        "Κωδικός ασφαλείας (CVC)",
        "Ονοματεπώνυμο κατόχου",
    ):
        assert text in html
    # CLDR's Greek: decimal comma, the sign after a no-break space.
    assert f"Πληρωμή 14,50{NBSP}€" in html and "14.50" not in html
    messages = card_messages(html)
    assert messages["pan_required"] == "Συμπληρώστε τον αριθμό της κάρτας."
    assert set(messages) >= {"pan_invalid", "cvc_length_3", "cvc_length_4", "processing"}


def test_the_switch_sets_the_language_for_the_following_pages(client):
    order = owned_order(client, amount=1450)
    response = switch_to(client, "el", card_url(order))
    assert response.status_code == 302 and response["Location"] == card_url(order)
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "el"
    # The choice wins over what the browser asks for.
    html = client.get(card_url(order), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html_lang(html) == "el" and "Αριθμός κάρτας" in html
    switch_to(client, "en", card_url(order))
    html = client.get(card_url(order), **GREEK).content.decode()
    assert html_lang(html) == "en" and "Card number" in html


def test_the_switch_is_on_the_demos_pages(client):
    order = owned_order(client)
    for url in (reverse("shop:catalogue"), card_url(order)):
        html = client.get(url, **GREEK).content.decode()
        form = re.search(r'<form class="language-switch" action="([^"]+)" method="post">', html)
        assert form and form[1] == reverse("set_language")
        assert (
            'value="el" lang="el"' in html and 'aria-label="Ελληνικά" aria-current="true"' in html
        )
        assert 'value="en" lang="en"' in html


def test_form_errors_are_in_greek(client):
    order = owned_order(client)
    response = client.post(
        card_url(order),
        {"cardholder_name": "Ελένη 42", "pan": "4444555511113334", "expiry": "13/30", "cvc": "85"},
        **GREEK,
    )
    html = unescape(response.content.decode())
    assert "Ο αριθμός της κάρτας δεν είναι έγκυρος. Ελέγξτε τον και δοκιμάστε ξανά." in html
    assert "Συμπληρώστε την ημερομηνία λήξης στη μορφή ΜΜ/ΕΕ." in html
    assert "Ο κωδικός ασφαλείας έχει 3 ψηφία." in html
    assert "με λατινικούς ή ελληνικούς χαρακτήρες" in html


# --- the result page -----------------------------------------------------------------------


def test_the_result_page_in_greek_via_accept_language(client):
    order = owned_order(client, amount=1450)
    payment = PaymentFactory(
        order=order, status=S.PAID, masked_pan="444455**3333", captured_amount=1450
    )
    html = client.get(status_url(payment), **GREEK).content.decode()
    assert html_lang(html) == "el"
    assert "Η πληρωμή ολοκληρώθηκε" in html
    assert "Ευχαριστούμε: η πληρωμή σας ολοκληρώθηκε." in html
    assert f"14,50{NBSP}€" in html and "Αριθμός αναφοράς" in html


def test_the_result_page_in_greek_via_the_switch(client):
    order = owned_order(client, amount=1450)
    payment = PaymentFactory(order=order, status=S.DECLINED, action_code=82)
    switch_to(client, "el", status_url(payment))
    html = client.get(status_url(payment)).content.decode()
    assert html_lang(html) == "el"
    assert "Η πληρωμή δεν ολοκληρώθηκε" in html
    # The decline reason, in Greek.
    assert "Ο κωδικός ασφαλείας (CVC) ήταν λάθος." in html
    assert "Δοκιμάστε ξανά" in html


def test_the_result_page_is_english_by_default(client):
    order = owned_order(client, amount=1450)
    payment = PaymentFactory(order=order, status=S.PAID, captured_amount=1450)
    response = client.get(status_url(payment))
    html = response.content.decode()
    assert html_lang(html) == "en" and "Payment received" in html and "€14.50" in html


def test_without_a_language_of_its_own_a_request_sees_the_orders(client):
    """Back from the bank in a browser that names no language: the order's language."""
    order = owned_order(client, amount=1450, language="el")
    payment = PaymentFactory(order=order, status=S.PAID, captured_amount=1450)
    response = client.get(status_url(payment))
    # The order's language does not outlive its page: the request's is back.
    assert translation.get_language() == "en"
    assert response["Content-Language"] == "el"
    html = response.content.decode()
    assert html_lang(html) == "el" and "Η πληρωμή ολοκληρώθηκε" in html
    # What the request asks for wins over the order's language.
    english = client.get(status_url(payment), HTTP_ACCEPT_LANGUAGE="en")
    assert html_lang(english.content.decode()) == "en"


def test_an_order_in_a_language_the_site_lacks_keeps_the_default(client):
    order = owned_order(client, language="de")
    html = client.get(card_url(order)).content.decode()
    assert html_lang(html) == "en"


# --- other pages ----------------------------------------------------------------------------


def test_the_confirming_page_in_greek(client):
    order = owned_order(client, amount=1450)
    payment = PaymentFactory(order=order, status=S.OUTCOME_UNKNOWN)
    # The gateway cannot be reached: the page says it is still confirming (503).
    response = client.get(status_url(payment), **GREEK)
    html = response.content.decode()
    assert html_lang(html) == "el" and "Επιβεβαιώνουμε την πληρωμή σας" in html


def test_the_error_pages_in_greek(client):
    html = client.get("/no-such-page/", **GREEK).content.decode()
    assert html_lang(html) == "el" and "Δεν βρήκαμε αυτή τη σελίδα" in html
    request = RequestFactory().get("/")
    with translation.override("el"):
        page = server_error(request).content.decode()
    assert html_lang(page) == "el" and "Κάτι πήγε στραβά από τη δική μας πλευρά" in page
    bad = client.get(reverse("jcc_checkout:return"), {"orderId": "x y"}, **GREEK)
    assert bad.status_code == 400 and "Μη έγκυρο αίτημα" in bad.content.decode()


def test_the_shop_in_greek(client, settings):
    from tests.factories import ProductFactory

    ProductFactory(slug="halloumi", name="Halloumi", price=1450)
    html = client.get("/", **GREEK).content.decode()
    assert html_lang(html) == "el"
    assert "Προσθήκη στο καλάθι" in html and f"14,50{NBSP}€" in html
    assert "Οι παραγγελίες μου" in html


def test_the_admin_in_greek(admin_client):
    PaymentFactory(status=S.PAID)
    html = admin_client.get(reverse("admin:jcc_checkout_payment_changelist"), **GREEK)
    text = html.content.decode()
    assert "Ενημέρωση από την πύλη πληρωμών" in text  # an action
    assert "Αριθμός παραγγελίας" in text  # a column (the field's verbose name)
    assert "Πληρώθηκε" in text  # a status


# --- the order's language and the gateway's ------------------------------------------------


def test_create_order_takes_the_active_language_by_default():
    with translation.override("el"):
        assert create_order(amount=100, currency="EUR").language == "el"
    with translation.override("en"):
        assert create_order(amount=100, currency="EUR").language == "en"
        assert create_order(amount=100, currency="EUR", language="EL-cy").language == "el"


def test_order_language():
    with translation.override("el"):
        assert order_language() == "el" and order_language("") == "el"
        assert order_language("ru") == "ru"


@pytest.mark.parametrize(
    ("order", "fallback", "sent"),
    [
        ("el", "en", "el"),
        ("ru", "en", "ru"),
        ("de", "en", "en"),
        ("de", "el", "el"),
        ("", "xx", "en"),
    ],
)
def test_only_languages_the_gateway_offers_are_sent(settings, order, fallback, sent):
    settings.CHECKOUT = {**settings.CHECKOUT, "LANGUAGE": fallback}
    assert gateway_language(order) == sent


def test_the_languages_the_gateway_offers_are_a_setting(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "GATEWAY_LANGUAGES": ["en"]}
    assert gateway_language("el") == "en"
    # One comma-separated string, as from an environment variable.
    settings.CHECKOUT = {**settings.CHECKOUT, "GATEWAY_LANGUAGES": "en, el"}
    assert gateway_language("el") == "el" and gateway_language("ru") == "en"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "el"),
        ({"HTTP_ACCEPT_LANGUAGE": "en"}, None),
        ({"HTTP_ACCEPT_LANGUAGE": "de, fr;q=0.5"}, "el"),
        ({"HTTP_ACCEPT_LANGUAGE": "en;q=0, de"}, "el"),
        ({"HTTP_ACCEPT_LANGUAGE": "*"}, "el"),
        ({"HTTP_COOKIE": "django_language=en"}, None),
    ],
)
def test_page_language(headers, expected):
    request = RequestFactory().get("/", **headers)
    with translation.override("en"):
        assert page_language(request, "el") == expected
        assert page_language(request, "de") is None
    with translation.override("el"):
        assert page_language(request, "el") is None  # already spoken


def test_the_shop_creates_the_order_in_the_shoppers_language(client):
    from merchant_site.shop.models import Purchase
    from tests.factories import ProductFactory

    product = ProductFactory(slug="halloumi", price=1450)
    client.post(reverse("shop:cart_add", args=[product.slug]), {"quantity": 1})
    response = client.post(reverse("shop:cart"), {"email": "a@example.com"}, **GREEK)
    assert response.status_code == 302
    assert Purchase.objects.get().order.language == "el"


def test_an_order_made_elsewhere_has_the_default_language():
    assert OrderFactory().language == "en"
