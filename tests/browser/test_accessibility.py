"""axe-core on every page a shopper sees: no serious or critical violation, on a desktop
(1366 x 900) and on a phone (390 x 844), in each language of the shop.

The pages, reached as a shopper reaches them in the demo against the sandbox: catalogue,
cart, card page (empty, with the script's error messages, waiting for the gateway), the
3-D Secure hop by POST, result paid and declined, "confirming", and the error page of an
expired order. axe-core comes from the axe-playwright-python package (its axe.min.js,
injected through Playwright, which the pages' Content-Security-Policy does not stop).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from checkout import access
from checkout.models import PaymentStatus
from checkout.sandbox.cards import ONE_TIME_CODE
from tests.browser.pages import wait_for_card_script
from tests.browser.shopper import (
    CHALLENGE,
    INSUFFICIENT_FUNDS,
    NO_3DS,
    enter_card,
    submit,
    to_card_page,
    wait_for_result,
)
from tests.factories import OrderFactory, PaymentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
#: What counts: axe's two worst impacts.
FAILING = ("serious", "critical")


def axe_source() -> str:
    try:
        from axe_playwright_python import base
    except ImportError:
        pytest.skip("axe-playwright-python (the test dependency group) is not installed")
    return Path(base.AXE_FILE_PATH).read_text(encoding="utf-8")


class Auditor:
    """Runs axe on the page at each viewport and keeps what fails, per page."""

    def __init__(self, page) -> None:
        self.page = page
        self.source = axe_source()
        self.failures: list[str] = []
        self.audited: list[str] = []

    def audit(self, name: str) -> None:
        for size, viewport in VIEWPORTS.items():
            self.page.set_viewport_size(viewport)
            self._inject()
            result = self.page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
            self._record(name, size, result)
        self.page.set_viewport_size(VIEWPORTS["desktop"])

    def _inject(self) -> None:
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            self.page.evaluate(self.source)

    def _record(self, name: str, size: str, result: dict) -> None:
        for violation in result["violations"]:
            if os.environ.get("AXE_VERBOSE"):
                print(
                    name,
                    size,
                    violation["id"],
                    violation["impact"],
                    violation["help"],
                    [node["target"] for node in violation["nodes"]],
                )
            if violation["impact"] in FAILING:
                targets = [" ".join(node["target"]) for node in violation["nodes"]][:5]
                self.failures.append(
                    f"{name} ({size}): {violation['id']} ({violation['impact']}) "
                    f"{violation['help']}: {targets}"
                )
        self.audited.append(f"{name} ({size})")


@pytest.mark.parametrize("language", ["en", "el"])
def test_shopper_pages_have_no_serious_accessibility_violations(
    language, demo_shop, chromium, settings
):
    middleware = django_settings.MIDDLEWARE
    if language != "en" and "django.middleware.locale.LocaleMiddleware" not in middleware:
        pytest.skip(f"the shop does not serve pages in {language!r} yet (no LocaleMiddleware)")
    settings.CHECKOUT = {**settings.CHECKOUT, "THREEDS_METHOD": "post"}
    context = chromium.new_context(
        viewport=VIEWPORTS["desktop"],
        locale={"en": "en-GB", "el": "el-GR"}[language],
        extra_http_headers={"Accept-Language": language},
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        auditor = Auditor(page)
        run_through_the_pages(page, demo_shop, auditor, language)
    finally:
        context.close()
    assert len(auditor.audited) == 2 * 11, auditor.audited
    assert auditor.failures == []


def run_through_the_pages(page, base: str, auditor: Auditor, language: str) -> None:
    page.goto(base + "/")
    assert page.evaluate("document.documentElement.lang").startswith(language)
    auditor.audit("catalogue")

    to_card_page(page, base)
    page.goto(base + "/cart/")
    auditor.audit("cart")
    page.go_back()
    wait_for_card_script(page)
    auditor.audit("card page")

    # The script's messages: every field wrong or empty.
    page.locator("#id_pan").press_sequentially("4444555511113334")
    submit(page)
    page.wait_for_selector("#id_pan[aria-invalid=true]")
    auditor.audit("card page with errors")

    # Waiting for the gateway: the post is answered "204 No Content", so the browser stays
    # on the page in the state it shows while the gateway answers.
    def no_content(route) -> None:
        if route.request.method == "POST":
            route.fulfill(status=204)
        else:
            route.continue_()

    page.route("**/checkout/pay/**", no_content)
    page.reload()
    wait_for_card_script(page)
    enter_card(page, NO_3DS)
    submit(page)
    page.wait_for_selector("#card-form[aria-busy=true][data-card-waiting]")
    auditor.audit("card page, waiting")
    page.unroute("**/checkout/pay/**")
    page.reload()
    wait_for_card_script(page)
    enter_card(page, NO_3DS)
    submit(page)
    wait_for_result(page)
    auditor.audit("result: paid")

    # The 3-D Secure hop by POST, kept on screen: its script (which sends it on) is held back.
    to_card_page(page, base)
    page.route("**/static/checkout/card.js*", lambda route: route.fulfill(body=""))
    enter_card(page, CHALLENGE)
    submit(page)
    page.wait_for_selector("#acs-form")
    auditor.audit("3-D Secure hop")
    page.unroute("**/static/checkout/card.js*")
    page.locator("#acs-form").evaluate("(form) => form.submit()")
    page.wait_for_selector("#otp")
    page.fill("#otp", "000000")
    page.locator("#otp").press("Enter")
    wait_for_result(page)
    auditor.audit("result: 3-D Secure failed")

    to_card_page(page, base)
    enter_card(page, INSUFFICIENT_FUNDS)
    submit(page)
    wait_for_result(page)
    auditor.audit("result: declined")

    # "Confirming": an attempt the gateway does not know yet. Its page reloads itself; the
    # reloads are answered 204 (the page stays) while it is audited.
    payment = PaymentFactory(status=PaymentStatus.PROCESSING, order=OrderFactory())
    page.goto(base + access.signed_url(payment.order))
    url = f"{base}/checkout/payment/{payment.public_id}/"
    page.goto(url)
    page.wait_for_selector("body.checkout-confirming")
    page.route(url, lambda route: route.fulfill(status=204))
    auditor.audit("confirming")
    page.unroute(url)

    expired = OrderFactory(expires_at=timezone.now() - timezone.timedelta(minutes=1))
    page.goto(base + access.signed_url(expired))
    page.wait_for_selector("body.checkout-error")
    auditor.audit("error: order expired")
    assert ONE_TIME_CODE  # the challenge above was answered wrongly on purpose


def test_the_audit_finds_what_it_must(page):
    """A page with an image without text and an unlabelled field fails the audit."""
    page.set_content(
        '<!doctype html><html lang="en"><title>t</title><main>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text"></main></html>'
    )
    auditor = Auditor(page)
    auditor.audit("planted")
    found = {failure.split(": ")[1].split(" ")[0] for failure in auditor.failures}
    assert {"image-alt", "label"} <= found, auditor.failures
