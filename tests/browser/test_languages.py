"""The card page in Greek in Chromium: card.js speaks the page's language, and the switch
changes it."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from tests.browser.pages import ORIGIN, FakeShop, card_messages_script, wait_for_card_script
from tests.factories import ProductFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def greek_page(chromium):
    """A browser whose language is Greek (navigator.language, Accept-Language)."""
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="el-GR")
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def shop(sandbox_url, live_server) -> str:
    caches["default"].clear()
    ProductFactory(slug="halloumi", name="Halloumi, 1 kg", price=1450)
    return live_server.url


def empty_number_message(page) -> str:
    """Submit the card form with a name but no card number; card.js's message for it."""
    page.fill("#id_cardholder_name", "Eleni Georgiou")
    page.locator("#card-form button[type=submit]").click()
    message = page.locator("#id_pan-js-error")
    message.wait_for(state="visible")
    return message.text_content() or ""


def test_card_js_speaks_greek_and_the_switch_makes_it_english(greek_page, shop):
    page = greek_page
    page.goto(shop + "/")
    assert page.locator("html").get_attribute("lang") == "el"
    page.get_by_role("button", name="Προσθήκη στο καλάθι: Halloumi, 1 kg").click()
    page.wait_for_selector(".message-success")
    page.goto(shop + "/cart/")
    page.fill("input[name=email]", "eleni@example.com")
    page.get_by_role("button", name="Συνέχεια στην πληρωμή").click()
    wait_for_card_script(page)
    assert page.locator("html").get_attribute("lang") == "el"
    assert page.locator(".checkout-amount").text_content() == "14,50\u00a0€"

    assert empty_number_message(page) == "Συμπληρώστε τον αριθμό της κάρτας."
    assert page.locator("#id_pan").get_attribute("aria-invalid") == "true"

    page.get_by_role("button", name="English").click()
    page.wait_for_selector('html[lang="en"]')
    wait_for_card_script(page)
    assert page.locator(".checkout-amount").text_content() == "€14.50"
    assert empty_number_message(page) == "Enter the card number."


def test_each_message_comes_from_the_page(page):
    """The script holds no wording: a page with Greek messages gets Greek ones, including
    the security code's length that depends on the card (4 digits for American Express)."""
    shop = FakeShop(
        f"""<!doctype html><html lang="el"><head><meta charset="utf-8">
{card_messages_script("el")}
<script src="/static/checkout/card.js" defer></script></head><body>
<form id="card-form" method="post" action="/pay">
  <input id="id_cardholder_name" name="cardholder_name" value="Eleni Georgiou">
  <input id="id_pan" name="pan"><input id="id_expiry" name="expiry"><input id="id_cvc" name="cvc">
  <button type="submit">Πληρωμή</button>
</form></body></html>"""
    )
    shop.install(page)
    page.goto(ORIGIN + "/")
    wait_for_card_script(page)
    page.locator("#id_pan").press_sequentially("378282246310005")
    page.locator("#id_expiry").press_sequentially("0101")
    page.locator("#id_cvc").press_sequentially("123")
    page.locator("button[type=submit]").click()
    assert page.locator("#id_expiry-js-error").text_content() == "Η κάρτα έχει λήξει."
    assert page.locator("#id_cvc-js-error").text_content() == "Ο κωδικός ασφαλείας έχει 4 ψηφία."
    assert shop.posts == []
