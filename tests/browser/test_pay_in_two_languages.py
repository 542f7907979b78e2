"""A shopper pays in Greek and in English, on a phone and on a desktop.

The language comes from the browser (Accept-Language). The page says so in ``<html
lang>``, speaks it, formats the amount for it (CLDR: ``14,50 €`` with a no-break space in
Greek, ``€14.50`` in English), takes an autofilled ``12/2030`` expiry and a name in Greek
letters, and the order is paid. The card page's pictures for the documentation are taken
on the way (copied over docs/img/ with UPDATE_DOCS_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from django.utils import translation

from checkout.models import Payment, PaymentStatus
from tests.browser.conftest import ROOT, screenshot
from tests.browser.shopper import CVC, NO_3DS, submit, to_card_page, wait_for_result

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = {"el": "el-GR", "en": "en-GB"}
AMOUNT = {"el": re.compile(r"\d+,\d{2}\u00a0€"), "en": re.compile(r"€\d+\.\d{2}")}
SIZES = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


def in_language(language: str, text: str) -> str:
    with translation.override(language):
        return translation.gettext(text)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_pay_in_the_browser_s_language(language, size, demo_shop, chromium):
    context = chromium.new_context(locale=LANGUAGES[language], **SIZES[size])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        to_card_page(page, demo_shop)
        assert page.locator("html").get_attribute("lang") == language
        label = page.locator("#card-form button[type=submit]").inner_text()
        assert AMOUNT[language].search(label), label
        page.fill("#id_cardholder_name", "Ελένη Γεωργίου")
        page.locator("#id_pan").press_sequentially(NO_3DS)
        page.fill("#id_expiry", "12/2030")  # as autofill writes it
        page.fill("#id_cvc", CVC)
        assert page.locator("[data-name-latin-value]").inner_text() == "ELENI GEORGIOU"
        shot = screenshot(page, f"docs-card-{language}-{size}", full_page=size == "phone")
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
            shutil.copyfile(shot, ROOT / "docs" / "img" / f"card-{language}-{size}.png")
        submit(page)
        wait_for_result(page)
        heading = page.locator(".checkout-outcome h1").inner_text()
        assert heading == in_language(language, "Payment received")
        assert page.locator("html").get_attribute("lang") == language
    finally:
        context.close()
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PAID
    assert payment.order.language == language
    if language == "el":
        assert heading != "Payment received" and re.search("[α-ωΑ-Ω]", heading)
