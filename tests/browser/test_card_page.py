"""The card page in Chromium: the detected scheme's mark, the Latin form of a Greek name,
the trust line, and the waiting state while the gateway answers."""

from __future__ import annotations

import pytest

from checkout import access
from tests.browser.pages import wait_for_card_script
from tests.factories import OrderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def card_page(live_server, offline_gateway, page):
    page.goto(live_server.url + access.signed_url(OrderFactory()))
    wait_for_card_script(page)
    return page


def detected(page) -> list[str]:
    return page.locator(".card-brands [data-detected]").evaluate_all(
        "(items) => items.map((item) => item.getAttribute('data-brand'))"
    )


def test_the_detected_scheme_is_picked_out_as_the_number_is_typed(card_page):
    page = card_page
    assert detected(page) == []
    pan = page.locator("#id_pan")
    pan.press_sequentially("5555")
    assert detected(page) == ["MASTERCARD"]
    assert page.locator("[data-card-brand]").inner_text() == "Mastercard"
    assert (
        page.locator("[data-card-brand] img")
        .get_attribute("src")
        .endswith("/static/checkout/brands/mastercard.svg")
    )
    pan.fill("")
    pan.press_sequentially("4444 5555 1111 3333")
    assert detected(page) == ["VISA"]
    # A scheme the shop does not show (American Express): named, no mark picked out.
    pan.fill("")
    pan.press_sequentially("3782")
    assert detected(page) == []
    assert page.locator("[data-card-brand]").inner_text() == "American Express"
    pan.fill("")
    assert detected(page) == []
    assert page.locator("[data-card-brand]").inner_text() == ""


def test_a_greek_name_shows_how_it_is_sent(card_page):
    page = card_page
    name = page.locator("#id_cardholder_name")
    hint = page.locator("[data-name-latin]")
    assert not hint.is_visible()
    name.press_sequentially("Ευάγγελος Παπαδόπουλος")
    assert hint.is_visible()
    assert page.locator("[data-name-latin-value]").inner_text() == "EVANGELOS PAPADOPOULOS"
    assert "card-name-latin" in name.get_attribute("aria-describedby").split()
    name.fill("Ann Smith")
    assert not hint.is_visible()
    assert "card-name-latin" not in (name.get_attribute("aria-describedby") or "").split()


def test_the_trust_line_says_the_card_is_encrypted_in_the_browser(card_page):
    trust = card_page.locator("[data-trust]").inner_text()
    assert trust == "Your card details are encrypted in your browser and processed by JCC."
    assert card_page.locator(".checkout-trust img").get_attribute("src").endswith("lock.svg")


def test_the_waiting_state_locks_the_form_until_the_page_is_left(card_page):
    page = card_page
    # The post is answered "204 No Content": the browser stays on the page as it is while
    # the gateway answers.
    page.route(
        "**/checkout/pay/**",
        lambda route: (
            route.fulfill(status=204) if route.request.method == "POST" else route.continue_()
        ),
    )
    page.fill("#id_cardholder_name", "Ann Smith")
    page.locator("#id_pan").press_sequentially("4444555511113333")
    page.locator("#id_expiry").press_sequentially("1230")
    page.locator("#id_cvc").press_sequentially("739")
    page.locator("#card-form button[type=submit]").click()
    page.wait_for_selector("#card-form[aria-busy=true][data-card-waiting]")
    for field in ("cardholder_name", "pan", "expiry", "cvc"):
        assert page.locator(f"#id_{field}").get_attribute("readonly") is not None, field
    button = page.locator("#card-form button[type=submit]")
    assert button.is_disabled()
    assert button.inner_text().strip() == "Processing…"
    assert page.locator(".card-pay-spinner").is_visible()
    notice = page.locator("[data-card-wait] p")
    assert notice.is_visible()
    assert "Please don't close this page" in notice.inner_text()
    assert not page.locator(".checkout-back a").is_visible()
    # Typing changes nothing now.
    page.locator("#id_cvc").press("1")
    assert page.locator("#id_cvc").input_value() == "739"

    # Back on the page from the browser's cache (Back button): unlocked as it was.
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
    page.wait_for_selector("#card-form[aria-busy=false]:not([data-card-waiting])")
    assert page.locator("#id_pan").get_attribute("readonly") is None
    assert button.is_enabled() and button.inner_text().strip().startswith("Pay ")
    assert not notice.is_visible()
