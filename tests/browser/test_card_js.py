"""card.js on a card form shaped like the checkout's: formatting, checks, what gets posted."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.browser.pages import (
    ORIGIN,
    FakeShop,
    card_form_page,
    card_messages_script,
    record_submits,
    submits,
    wait_for_card_script,
)

pytestmark = pytest.mark.browser

PAN = "4111111111111111"


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def fill(page, *, name="Test Holder", pan=PAN, expiry="1230", cvc="123") -> None:
    page.fill("#id_cardholder_name", name)
    page.locator("#id_pan").press_sequentially(pan)
    page.locator("#id_expiry").press_sequentially(expiry)
    page.locator("#id_cvc").press_sequentially(cvc)


def test_with_a_key_only_the_token_leaves_the_browser(page, key, pem):
    shop = card_form_page(page, pem)
    for field in ("pan", "expiry", "cvc"):
        assert page.locator(f"#id_{field}").get_attribute("name") is None
    assert page.locator("#id_cardholder_name").get_attribute("name") == "cardholder_name"

    fill(page)
    page.click("button[type=submit]")
    page.wait_for_selector("#done")

    assert len(shop.posts) == 1
    posted = shop.posts[0]
    assert set(posted) == {
        "csrfmiddlewaretoken",
        "se_token",
        "brand",
        "last4",
        "cardholder_name",
    }
    assert (posted["brand"], posted["last4"], posted["cardholder_name"]) == (
        "VISA",
        "1111",
        "Test Holder",
    )
    assert PAN not in shop.raw_posts[0] and "4111" not in shop.raw_posts[0].replace("1111", "")
    plain = key.decrypt(base64.b64decode(posted["se_token"]), padding.PKCS1v15()).decode()
    assert plain.split("/")[2:] == [PAN, "123", "203012", "", "", "Test Holder", ""]


def test_without_a_key_the_fields_post_as_typed(page):
    """No gateway key: the server builds the token (or sends the card) as without JavaScript."""
    shop = card_form_page(page, "")
    fill(page)
    page.click("button[type=submit]")
    page.wait_for_selector("#done")
    posted = shop.posts[0]
    assert posted["pan"].replace(" ", "") == PAN
    assert (posted["expiry"], posted["cvc"], posted["se_token"]) == ("12/30", "123", "")
    assert (posted["brand"], posted["last4"]) == ("VISA", "1111")


def test_number_is_grouped_and_the_brand_shown(page, pem):
    card_form_page(page, pem)
    pan = page.locator("#id_pan")
    assert pan.get_attribute("inputmode") == "numeric"
    assert pan.get_attribute("autocomplete") == "cc-number"
    pan.press_sequentially("4111111111111111")
    assert pan.input_value() == "4111 1111 1111 1111"
    assert page.locator("[data-card-brand]").text_content() == "Visa"

    pan.fill("")
    pan.press_sequentially("378282246310005")
    assert pan.input_value() == "3782 822463 10005"
    assert page.locator("[data-card-brand]").text_content() == "American Express"
    assert page.locator("#id_cvc").get_attribute("maxlength") == "4"

    pan.fill("")
    pan.press_sequentially("5555-5555-5555-4444")
    assert pan.input_value() == "5555 5555 5555 4444"
    assert page.locator("[data-card-brand]").text_content() == "Mastercard"

    expiry = page.locator("#id_expiry")
    expiry.press_sequentially("430")
    assert expiry.input_value() == "04/30"


def test_mistakes_are_reported_before_anything_is_sent(page, pem):
    shop = card_form_page(page, pem)
    record_submits(page)
    last_year = (date.today().year - 1) % 100
    fill(page, pan="4111111111111112", expiry=f"01{last_year:02d}", cvc="12")
    page.click("button[type=submit]")
    assert submits(page) == ["stopped"]

    pan = page.locator("#id_pan")
    assert pan.get_attribute("aria-invalid") == "true"
    error_id = pan.get_attribute("aria-describedby").split()[-1]
    assert "not valid" in page.locator(f"#{error_id}").text_content()
    assert page.evaluate("document.activeElement.id") == "id_pan"
    expiry_error = page.locator("#id_expiry").get_attribute("aria-describedby").split()[-1]
    assert page.locator(f"#{expiry_error}").text_content() == "This card has expired."
    cvc_error = page.locator("#id_cvc").get_attribute("aria-describedby").split()[-1]
    assert page.locator(f"#{cvc_error}").text_content() == "The security code has 3 digits."
    assert page.locator("button[type=submit]").is_enabled()

    # Fixing the number clears its message as the shopper types.
    pan.fill("")
    pan.press_sequentially(PAN)
    assert pan.get_attribute("aria-invalid") is None
    assert submits(page) == ["stopped"] and shop.posts == []


def test_pay_button_is_disabled_while_submitting(page, pem):
    shop = card_form_page(page, pem)
    # Hold the post so the page stays on the form while it is under way. Playwright cannot
    # evaluate in a page whose navigation is pending, so the page reports through console.
    messages = []
    page.on("console", lambda message: messages.append(message.text))

    def hold_until_tried_again(route) -> None:
        # Answered (by the shop) only once the page has tried to submit a second time.
        if "tried again" not in messages:
            page.wait_for_event("console", lambda message: message.text == "tried again")
        route.fallback()

    page.route(f"{ORIGIN}/pay", hold_until_tried_again)
    page.evaluate(
        """() => {
            const form = document.getElementById("card-form");
            form.addEventListener("submit", () => setTimeout(() => {
                const button = form.querySelector("button[type=submit]");
                console.log(`busy ${button.disabled} ${button.textContent}`);
                form.requestSubmit();
                button.click();
                console.log("tried again");
            }, 0), {once: true});
        }"""
    )
    fill(page)
    page.click("button[type=submit]", no_wait_after=True)
    page.wait_for_selector("#done")
    assert messages == ["busy true Processing…", "tried again"]
    assert len(shop.posts) == 1, "a second submit is ignored"


def test_a_server_error_gives_way_to_the_scripts_own_message(page, pem):
    """The page came back with the server's error under the number (as _field.html renders
    it); once the shopper corrects the number, nothing may still call it invalid."""
    shop = FakeShop(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
{card_messages_script()}
<script src="/static/checkout/card.js" defer></script></head><body>
<form id="card-form" method="post" action="/pay" data-setoken-key="{pem}">
  <input type="hidden" name="se_token"><input type="hidden" name="brand">
  <input type="hidden" name="last4">
  <label for="id_cardholder_name">Name on card</label>
  <input id="id_cardholder_name" name="cardholder_name" value="Test Holder" required>
  <label for="id_pan">Card number</label>
  <input id="id_pan" name="pan" aria-invalid="true" aria-describedby="id_pan_error">
  <p class="field-error" id="id_pan_error">This card number is not valid. Check it and retry.</p>
  <label for="id_expiry">Expiry (MM/YY)</label><input id="id_expiry" name="expiry">
  <label for="id_cvc">CVC</label><input id="id_cvc" name="cvc">
  <button type="submit">Pay 14.50 EUR</button>
</form></body></html>"""
    )
    shop.install(page)
    page.goto(ORIGIN + "/")
    wait_for_card_script(page)
    pan = page.locator("#id_pan")
    pan.press_sequentially("4111111111111112")
    assert pan.get_attribute("aria-invalid") == "true"
    pan.fill("")
    pan.press_sequentially(PAN)
    assert pan.get_attribute("aria-invalid") is None
    assert not page.locator("#id_pan_error").is_visible()
    assert "id_pan_error" not in (pan.get_attribute("aria-describedby") or "").split()


def test_a_number_too_short_for_the_gateway_is_a_field_error(page, pem):
    """Twelve Luhn-valid digits: the seToken (and the gateway) need 13 to 19, so the shopper
    hears that the number is wrong, not that encryption failed and a reload would help."""
    shop = card_form_page(page, pem)
    record_submits(page)
    fill(page, pan="501800000009")
    page.click("button[type=submit]")
    assert submits(page) == ["stopped"]
    pan = page.locator("#id_pan")
    assert pan.get_attribute("aria-invalid") == "true"
    error_id = pan.get_attribute("aria-describedby").split()[-1]
    assert "not valid" in page.locator(f"#{error_id}").text_content()
    assert not page.locator("[role=alert]").is_visible()
    assert shop.posts == []
