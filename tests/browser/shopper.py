"""A shopper in the demo shop, paying against the sandbox: the steps the browser tests share."""

from __future__ import annotations

from tests.browser.pages import wait_for_card_script

NO_3DS = "4444555511113333"
CHALLENGE = "5555555555555599"
INSUFFICIENT_FUNDS = "4000000000001166"
# Distinctive: no amount, code or identifier in these tests contains it as a number.
CVC = "739"


def to_card_page(page, base: str) -> None:
    """From the catalogue, with the first product in the cart, to its card page."""
    page.goto(base + "/")
    page.locator(".product-card form button[type=submit]").first.click()
    page.wait_for_selector(".message-success")
    page.goto(base + "/cart/")
    page.fill("input[name=email]", "ann.smith@example.com")
    page.locator(".checkout-box button[type=submit]").click()
    wait_for_card_script(page)


def enter_card(page, pan: str, *, name: str = "Ελένη Γεωργίου", cvc: str = CVC) -> None:
    page.fill("#id_cardholder_name", name)
    page.locator("#id_pan").press_sequentially(pan)
    page.fill("#id_expiry", "12/30")
    if cvc:
        page.fill("#id_cvc", cvc)


def submit(page) -> None:
    page.locator("#card-form button[type=submit]").click()


def wait_for_result(page) -> None:
    page.wait_for_selector("body.checkout-result .checkout-outcome h1")
