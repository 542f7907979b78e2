"""The demo shop in headless Chromium, paying against the sandbox gateway over real HTTP.

Each test shops like a person: catalogue, cart, e-mail, card page, 3-D Secure, result.
What the shop's server received is recorded at the WSGI layer, and after every test the
database, sessions, cache and logs are searched for the card numbers and the CVC.
"""

from __future__ import annotations

import http.client
import os
import shutil
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import caches
from django.core.management import call_command
from django.utils import timezone

from checkout.models import Order, Payment, PaymentStatus
from checkout.sandbox import crypto
from checkout.sandbox.cards import CARDS, ONE_TIME_CODE
from checkout.sandbox.models import Order as BankOrder
from tests.browser.conftest import README_IMAGES, screenshot
from tests.browser.pages import wait_for_card_script
from tests.browser.sweep import find_card_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = PaymentStatus

NO_3DS = "4444555511113333"
CHALLENGE = "5555555555555599"
INSUFFICIENT_FUNDS = "4000000000001166"
# Distinctive: no amount, code or identifier in these tests contains it as a number.
CVC = "739"
EXPIRY, EXPIRY_YYYYMM = "11/37", "203711"
EMAIL = "ann.smith@example.com"


@pytest.fixture
def shop(sandbox_url, live_server, server_requests, log_lines):
    """The demo shop with its catalogue on a live server, paying against the sandbox."""
    # The sandbox's key lives in its tables, which each test empties; the shop caches the
    # key it fetched, so a key from an earlier test must not linger.
    caches["default"].clear()
    mail.outbox.clear()
    call_command("seed_demo", stdout=_Discard())
    yield live_server.url
    leaks = find_card_data(
        pans=[card.pan for card in CARDS], cvcs=[CVC], log_lines=log_lines, mails=mail.outbox
    )
    assert leaks == [], "card data was kept: " + "; ".join(leaks)


class _Discard:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def add_to_cart(page, base: str, product: str = "Halloumi, 1 kg") -> None:
    page.goto(base + "/")
    page.get_by_role("button", name=f"Add {product} to cart").click()
    page.wait_for_selector(".message-success")


def checkout(page, base: str, email: str = EMAIL, *, scripted: bool = True) -> None:
    page.goto(base + "/cart/")
    page.fill("input[name=email]", email)
    page.get_by_role("button", name="Continue to payment").click()
    if scripted:
        wait_for_card_script(page)
    else:
        page.wait_for_selector("#card-form")


def enter_card(page, pan: str, *, name: str = "Ann Smith", expiry=EXPIRY, cvc=CVC) -> None:
    page.fill("#id_cardholder_name", name)
    page.locator("#id_pan").press_sequentially(pan)
    page.fill("#id_expiry", expiry)
    page.fill("#id_cvc", cvc)


def submit_card(page) -> None:
    page.locator("#card-form button[type=submit]").click()


def wait_for_result(page) -> str:
    # The "confirming" page is no result yet: it reloads itself until there is one.
    outcome = "body:not(.checkout-confirming) .checkout-outcome h1"
    page.wait_for_selector(outcome)
    return page.locator(outcome).inner_text()


def through_acs(page, code: str) -> None:
    page.wait_for_selector("#otp")
    page.fill("#otp", code)
    page.get_by_role("button", name="Confirm").click()


def the_payment(**filters) -> Payment:
    return Payment.objects.select_related("order").get(**filters)


def card_posts(received) -> list[dict[str, str]]:
    return [
        dict(parse_qsl(r.text, keep_blank_values=True))
        for r in received
        if r.method == "POST" and r.path.startswith("/checkout/pay/")
    ]


# --- paying ------------------------------------------------------------------------------


def test_buy_without_3ds_with_a_browser_built_setoken(shop, page, server_requests):
    page.goto(shop + "/")
    screenshot(page, "01-storefront")
    _readme_screenshot(page, "storefront")
    add_to_cart(page, shop)
    add_to_cart(page, shop, "Commandaria")
    checkout(page, shop)
    assert page.locator("#id_pan").get_attribute("name") is None, "script took over"
    enter_card(page, NO_3DS)
    assert page.locator("#id_pan").input_value() == "4444 5555 1111 3333"
    assert page.locator("[data-card-brand]").inner_text() == "Visa"
    screenshot(page, "02-card-page")
    _readme_screenshot(page, "card")
    submit_card(page)
    assert wait_for_result(page) == "Payment received"
    screenshot(page, "03-paid")

    payment = the_payment(order__email=EMAIL)
    assert payment.status == S.PAID
    assert payment.order.amount == 1450 + 2400
    # The gateway decrypted the token: the card it reports is the one typed in Chromium.
    bank = BankOrder.objects.get(pk=payment.gateway_order_id)
    assert (bank.masked_pan, bank.expiration) == ("444455**3333", EXPIRY_YYYYMM)
    assert (payment.masked_pan, payment.card_expiry) == ("444455**3333", EXPIRY_YYYYMM)
    assert bank.cardholder_name == "Ann Smith"

    # What reached the shop's server: the token and display data, never the card.
    [posted] = card_posts(server_requests)
    assert set(posted) == {"csrfmiddlewaretoken", "cardholder_name", "se_token", "brand", "last4"}
    assert (posted["brand"], posted["last4"]) == ("VISA", "3333")
    for request in server_requests:
        assert NO_3DS not in request.text and "4444 5555" not in request.text
        assert "cvc" not in dict(parse_qsl(request.text)), request.path
    # The token the browser built is the one the bank decrypted.
    card = crypto.decrypt_setoken(posted["se_token"])
    assert card.token_uuid == bank.setoken_uuid
    assert (card.pan, card.expiry) == (NO_3DS, EXPIRY_YYYYMM)

    page.get_by_role("link", name="Your orders").click()
    assert page.locator(".order-card .badge").inner_text() == "Paid"
    screenshot(page, "04-your-orders")


def test_a_greek_name_reaches_the_bank_in_latin_letters(shop, page, server_requests):
    """Autofill gives the name in Greek: the browser-built seToken carries it transcribed."""
    add_to_cart(page, shop)
    checkout(page, shop)
    enter_card(page, NO_3DS, name="Ελένη Γεωργίου", expiry="11 / 2037")
    submit_card(page)
    assert wait_for_result(page) == "Payment received"
    payment = the_payment(order__email=EMAIL)
    bank = BankOrder.objects.get(pk=payment.gateway_order_id)
    assert (bank.cardholder_name, bank.expiration) == ("ELENI GEORGIOU", EXPIRY_YYYYMM)
    [posted] = card_posts(server_requests)
    assert crypto.decrypt_setoken(posted["se_token"]).cardholder_name == "ELENI GEORGIOU"


def test_3ds_challenge(shop, page):
    add_to_cart(page, shop, "Olive oil, 750 ml")
    checkout(page, shop)
    enter_card(page, CHALLENGE)
    submit_card(page)
    page.wait_for_selector("#otp")
    screenshot(page, "05-acs")
    through_acs(page, ONE_TIME_CODE)
    assert wait_for_result(page) == "Payment received"
    payment = the_payment(order__email=EMAIL)
    assert payment.status == S.PAID
    assert payment.masked_pan == "555555**5599"


def test_wrong_code_then_retry_and_succeed(shop, page):
    add_to_cart(page, shop)
    checkout(page, shop)
    enter_card(page, CHALLENGE)
    submit_card(page)
    through_acs(page, "000000")
    assert wait_for_result(page) == "Payment not completed"
    screenshot(page, "06-3ds-failed")

    page.get_by_role("link", name="Try again").click()
    wait_for_card_script(page)
    assert page.locator(".checkout-notice").is_visible()
    enter_card(page, CHALLENGE)
    submit_card(page)
    through_acs(page, ONE_TIME_CODE)
    assert wait_for_result(page) == "Payment received"

    order = Order.objects.get(email=EMAIL)
    assert sorted(p.status for p in order.payments.all()) == sorted([S.DECLINED, S.PAID])


def test_declined_card_shows_its_reason(shop, page):
    add_to_cart(page, shop)
    checkout(page, shop)
    enter_card(page, INSUFFICIENT_FUNDS)
    submit_card(page)
    assert wait_for_result(page) == "Payment not completed"
    assert "not enough funds" in page.locator(".checkout-message").inner_text()
    page.get_by_role("link", name="Try again").wait_for()
    assert page.get_by_role("link", name="Try again").is_visible()
    screenshot(page, "07-declined")
    assert the_payment(order__email=EMAIL).status == S.DECLINED


def test_abandoned_3ds_is_settled_by_checkout_sync(shop, page):
    add_to_cart(page, shop)
    checkout(page, shop)
    enter_card(page, CHALLENGE)
    submit_card(page)
    page.wait_for_selector("#otp")
    # The shopper walks away from the bank's page and never comes back.
    page.goto(shop + "/")
    payment = the_payment(order__email=EMAIL)
    assert payment.status == S.AWAITING_3DS

    # The bank gives up on the order once its session times out: let that time pass.
    BankOrder.objects.filter(pk=payment.gateway_order_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    call_command("checkout_sync", "--order", payment.order_number, "--no-report", stdout=_Discard())
    payment.refresh_from_db()
    assert payment.status in (S.EXPIRED, S.DECLINED)
    assert payment.action_code == -2007

    page.goto(shop + "/orders/")
    assert page.locator(".order-card .badge").inner_text() == "Payment not completed"
    assert page.get_by_role("link", name="Pay now").is_visible()
    screenshot(page, "08-orders-after-sync")


def test_no_javascript_fallback_still_pays(shop, chromium, server_requests):
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        add_to_cart(page, shop)
        checkout(page, shop, scripted=False)
        assert page.locator("#id_pan").get_attribute("name") == "pan"
        enter_card(page, NO_3DS)
        submit_card(page)
        assert wait_for_result(page) == "Payment received"
    finally:
        context.close()

    payment = the_payment(order__email=EMAIL)
    assert payment.status == S.PAID
    # Without the script the card fields are posted as typed: the recording sees them,
    # which is what makes its silence in the scripted tests meaningful.
    [posted] = card_posts(server_requests)
    assert posted["pan"] == NO_3DS and posted["se_token"] == ""
    # The server built the token at once; the bank decrypted it.
    assert BankOrder.objects.get(pk=payment.gateway_order_id).setoken_uuid


def test_card_post_to_a_host_not_allowed_leaves_no_card_data_in_reports(shop, chromium):
    """The no-JavaScript card form, as the browser sent it, arriving with a ``www.`` Host.

    Django rejects it in middleware, before the card view's sensitive_post_parameters, and
    mails the admins a report; the sweep after the test searches that mail and the logs.
    """
    context = chromium.new_context(java_script_enabled=False)
    posted: list[tuple[str, dict[str, str]]] = []

    def hold(route):
        if route.request.method == "POST":
            posted.append((route.request.post_data or "", route.request.headers))
            route.abort()
        else:
            route.continue_()

    try:
        page = context.new_page()
        add_to_cart(page, shop)
        checkout(page, shop, scripted=False)
        page.route("**/checkout/pay/**", hold)
        enter_card(page, NO_3DS)
        with page.expect_event("requestfailed"):
            submit_card(page)
        [(body, headers)] = posted
        assert f"pan={NO_3DS}" in body and f"cvc={CVC}" in body
        host, port = shop.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request(
            "POST",
            page.url.removeprefix(shop),
            body=body,
            headers={
                "Host": "www.shop.example",
                "Content-Type": headers["content-type"],
                "Cookie": "; ".join(f"{c['name']}={c['value']}" for c in context.cookies()),
            },
        )
        assert connection.getresponse().status == 400
        connection.close()
    finally:
        context.close()
    assert Payment.objects.count() == 0
    [report] = [m for m in mail.outbox if "Invalid HTTP_HOST" in m.subject]
    assert "pan = '********************'" in report.body


def test_3ds_by_post_runs_under_the_content_security_policy(shop, page, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "THREEDS_METHOD": "post"}
    add_to_cart(page, shop)
    checkout(page, shop)
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    enter_card(page, CHALLENGE)
    submit_card(page)
    through_acs(page, ONE_TIME_CODE)
    assert wait_for_result(page) == "Payment received"
    assert blocked == []


# --- the back office ---------------------------------------------------------------------


def test_operator_refunds_part_of_an_order(shop, page, chromium):
    add_to_cart(page, shop, "Commandaria")
    checkout(page, shop)
    enter_card(page, NO_3DS)
    submit_card(page)
    assert wait_for_result(page) == "Payment received"

    get_user_model().objects.create_superuser("operator", "op@shop.example", "op-password-1")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        admin = context.new_page()
        admin.goto(shop + "/admin/")
        admin.fill("#id_username", "operator")
        admin.fill("#id_password", "op-password-1")
        admin.locator("input[type=submit]").click()
        # Logged in once the login page has sent the operator on to the admin's index.
        admin.wait_for_url(shop + "/admin/")
        admin.goto(shop + "/admin/jcc_checkout/order/")
        admin.fill("#searchbar", EMAIL)
        admin.keyboard.press("Enter")
        # The unfiltered list has a #result_list too: wait for the search's own page.
        admin.wait_for_url("**/admin/jcc_checkout/order/?q=*")
        admin.wait_for_selector("#result_list")
        rows = admin.locator("#result_list tbody tr")
        assert rows.count() == 1
        rows.first.locator("input[name=_selected_action]").check()
        admin.select_option("select[name=action]", "refund_payments")
        admin.locator("button[name=index]").click()
        admin.fill("input[name=amount]", "5.00")
        admin.fill("input[name=reason]", "One bottle arrived broken")
        screenshot(admin, "09-admin-refund")
        admin.locator("input[name=apply]").click()
        admin.wait_for_selector(".messagelist")
        assert "refunded" in admin.locator(".messagelist").inner_text().lower()
        screenshot(admin, "10-admin-refunded")
    finally:
        context.close()

    payment = the_payment(order__email=EMAIL)
    assert payment.status == S.PARTLY_REFUNDED
    assert (payment.captured_amount, payment.refunded_amount) == (2400, 500)
    assert BankOrder.objects.get(pk=payment.gateway_order_id).refunded_amount == 500
    change = payment.history.last()
    assert change.operator.username == "operator"
    assert "broken" in change.note

    page.goto(shop + "/orders/")
    assert page.locator(".order-card .badge").inner_text() == "Paid, partly refunded"


def _readme_screenshot(page, name: str) -> None:
    """The README's pictures, taken from the real pages at a fixed size.

    Saved with the artifacts; copied over static/readme/ only when asked for with
    UPDATE_README_SCREENSHOTS=1, so that a test run leaves the work tree clean.
    """
    path = screenshot(page, f"readme-{name}", full_page=False)
    if os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_IMAGES / f"{name}.png")
