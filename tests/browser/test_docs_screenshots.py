"""The card page's pictures in the documentation, taken from the real page in the demo.

Each run saves them under artifacts/screenshots/ (test artifacts, not committed) after
checking what they must show; with UPDATE_DOCS_SCREENSHOTS=1 they are also copied over
docs/img/ (card-desktop.png, card-phone.png, card-waiting.png):

    UPDATE_DOCS_SCREENSHOTS=1 python -m pytest tests/browser/test_docs_screenshots.py
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.browser.conftest import ROOT, screenshot
from tests.browser.shopper import NO_3DS, enter_card, submit, to_card_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS_IMAGES = ROOT / "docs" / "img"
SIZES = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


def keep(page, name: str, *, full_page: bool) -> None:
    path = screenshot(page, f"docs-{name}", full_page=full_page)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


@pytest.mark.parametrize("size", SIZES)
def test_card_page_pictures(size, demo_shop, chromium):
    context = chromium.new_context(locale="en-GB", **SIZES[size])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        to_card_page(page, demo_shop)
        # A Greek name from autofill, the number typed: the Visa mark is picked out.
        enter_card(page, NO_3DS, cvc="")
        assert page.locator("[data-name-latin-value]").inner_text() == "ELENI GEORGIOU"
        assert page.locator('.card-brands [data-brand="VISA"][data-detected]').is_visible()
        assert page.locator(".checkout-back a").is_visible()
        page.locator("#id_cvc").focus()
        keep(page, f"card-{size}", full_page=size == "phone")
        if size != "phone":
            return
        # The waiting state: the post is answered "204 No Content", so the page stays as
        # it is while the gateway answers.
        page.route(
            "**/checkout/pay/**",
            lambda route: (
                route.fulfill(status=204) if route.request.method == "POST" else route.continue_()
            ),
        )
        page.fill("#id_cvc", "739")
        submit(page)
        page.wait_for_selector("#card-form[aria-busy=true][data-card-waiting]")
        assert page.locator(".card-wait p").is_visible()
        assert page.locator("#id_pan").get_attribute("readonly") is not None
        keep(page, "card-waiting", full_page=True)
    finally:
        context.close()
