"""The whole checkout against the sandbox gateway, served over real HTTP.

Our pages are driven with Django's test client (it keeps the shopper's session); the
sandbox's own pages (acsRedirect.do, the ACS form) are reached with ``requests``, as a
browser would follow the redirects. Nothing of the gateway is mocked.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from checkout import access, signals
from checkout.models import Exchange, Order, Payment, PaymentStatus, Source
from checkout.sandbox import cards as sandbox_cards
from checkout.sandbox.delivery import deliver_due
from checkout.sandbox.models import Fault, Merchant
from checkout.sandbox.models import Order as BankOrder
from checkout.services import start_payment, transition
from tests.factories import OrderFactory

S = PaymentStatus
pytestmark = pytest.mark.django_db(transaction=True)

APPROVE = "4444555511113333"  # no 3-D Secure, approved
CHALLENGE = "5555555555555599"  # 3-D Secure challenge, then approved
FRICTIONLESS_FAIL = "5168494895055780"
INSUFFICIENT = "4000000000001166"
LATENCY = "4000000000009003"  # approved after FAULT_LATENCY seconds
HTTP500_AFTER = "4000000000005001"  # approved, then the answer is an HTTP 500
CVC = "859"


# --- helpers -----------------------------------------------------------------------------


class Events:
    """Signals received during a test, from any thread (callbacks run in the server's)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed: list[tuple[str, str, str, str]] = []
        self.paid: list[tuple[int, int, bool]] = []

    def on_changed(self, sender, payment, order, from_status, to_status, source, **kw) -> None:
        with self.lock:
            self.changed.append((payment.order_number, from_status, to_status, source))

    def on_paid(self, sender, order, payment, captured, **kw) -> None:
        with self.lock:
            self.paid.append((order.pk, payment.pk, captured))

    def transitions(self, payment: Payment) -> list[tuple[str, str, str]]:
        return [(f, t, s) for number, f, t, s in self.changed if number == payment.order_number]


@pytest.fixture
def events() -> Iterator[Events]:
    seen = Events()
    signals.payment_status_changed.connect(seen.on_changed, dispatch_uid="flow-changed")
    signals.order_paid.connect(seen.on_paid, dispatch_uid="flow-paid")
    yield seen
    signals.payment_status_changed.disconnect(dispatch_uid="flow-changed")
    signals.order_paid.disconnect(dispatch_uid="flow-paid")


@pytest.fixture
def gateway(sandbox_url: str) -> str:
    # The sandbox makes a new RSA key for each test database: forget the cached one, and
    # the page-load throttles of the previous test.
    cache.clear()
    return sandbox_url


def new_order(client: Client, **kwargs) -> Order:
    """An order created in this browser session."""
    order = OrderFactory(**kwargs)
    session = client.session
    session[access.SESSION_KEY] = [*session.get(access.SESSION_KEY, []), str(order.public_id)]
    session.save()
    return order


def card_url(order: Order) -> str:
    return reverse("jcc_checkout:card", args=[order.public_id])


def status_url(payment: Payment) -> str:
    return reverse("jcc_checkout:payment", args=[payment.public_id])


def pay(client: Client, order: Order, pan: str, *, cvc: str = CVC, expiry: str = "12/34"):
    data = {"cardholder_name": "Test Shopper", "pan": pan, "expiry": expiry, "cvc": cvc}
    return client.post(card_url(order), data)


def latest(order: Order) -> Payment:
    return order.payments.order_by("-created_at", "-pk").first()


def history(payment: Payment) -> list[tuple[str, str, str]]:
    return list(payment.history.values_list("from_status", "to_status", "source"))


def through_acs(
    client: Client, response, *, otp: str | None = sandbox_cards.ONE_TIME_CODE, cancel=False
) -> str:
    """Follow the 3-D Secure hop from our redirect view to the gateway's return redirect.

    Returns the URL the gateway sends the browser back to (our backUrl or failUrl).
    """
    assert response.status_code == 303, response
    hop = client.get(response["Location"])  # our own redirect view
    assert hop.status_code == 302
    return acs_round_trip(hop["Location"], otp=otp, cancel=cancel)


def acs_round_trip(
    url: str, *, otp: str | None = sandbox_cards.ONE_TIME_CODE, cancel: bool = False
) -> str:
    """A browser sent to ``url`` (acsRedirect.do), through the sandbox's ACS; the URL the
    gateway sends it back to (our backUrl or failUrl)."""
    browser = requests.Session()
    answer = browser.get(url, allow_redirects=False, timeout=10)
    while answer.is_redirect and not answer.headers["Location"].startswith("http://testserver"):
        url = urljoin(url, answer.headers["Location"])
        answer = browser.get(url, allow_redirects=False, timeout=10)
    if answer.status_code == 200:  # the ACS challenge page
        action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', answer.text)[1])
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', answer.text))
        fields.update(action="cancel" if cancel else "submit", otp=otp or "")
        answer = browser.post(urljoin(url, action), data=fields, allow_redirects=False, timeout=10)
    assert answer.is_redirect, answer.text[:500]
    return answer.headers["Location"]


def come_back(client: Client, url: str):
    """The browser lands on our return URL; returns the page it finally shows."""
    parts = urlsplit(url)
    assert parts.netloc == "testserver" and parts.path == reverse("jcc_checkout:return")
    response = client.get(f"{parts.path}?{parts.query}")
    if response.status_code == 303:
        response = client.get(response["Location"])
    return response


def set_fault(fault: str, *, endpoint: str = "instantPayment.do", calls: int = 1) -> None:
    """Switch on a transport fault of the sandbox for the next ``calls`` calls."""
    merchant = Merchant.objects.default()
    merchant.fault, merchant.fault_endpoints, merchant.fault_remaining = fault, endpoint, calls
    merchant.save()


def instant_payment_calls(payment: Payment) -> int:
    return Exchange.objects.filter(payment=payment, operation="instantPayment.do").count()


# --- no 3-D Secure ----------------------------------------------------------------------


def test_approved_without_3ds(client, gateway, events):
    order = new_order(client)
    response = pay(client, order, APPROVE)
    payment = latest(order)
    assert response.status_code == 303 and response["Location"] == status_url(payment)
    assert payment.status == S.PAID and payment.order.is_paid
    assert (payment.masked_pan, payment.card_brand, payment.card_expiry) == (
        "444455**3333",
        "VISA",
        "203412",
    )
    assert payment.captured_amount == order.amount and payment.approval_code
    assert payment.gateway_status == 2 and payment.action_code == 0
    assert history(payment) == [
        (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
        (S.PROCESSING, S.PAID, Source.CARD_ENTRY),
    ]
    assert events.transitions(payment) == history(payment)
    assert events.paid == [(order.pk, payment.pk, True)]
    # One round trip: the answer to instantPayment.do settled the approval on its own.
    operations = list(
        payment.exchanges.order_by("created_at", "pk").values_list("operation", flat=True)
    )
    assert operations == ["instantPayment.do"]
    # The card went as a seToken built with the gateway's key, not as pan/cvc fields.
    sent = payment.exchanges.get(operation="instantPayment.do").request
    assert sent["seToken"] == "[redacted]" and "pan" not in sent and "cvc" not in sent

    page = client.get(response["Location"])
    text = page.content.decode()
    assert page.status_code == 200 and "Payment received" in text and "444455**3333" in text
    # A paid order goes straight to its result, never to a second card form.
    again = client.get(card_url(order))
    assert again.status_code == 303 and again["Location"] == status_url(payment)


def test_two_phase_payment_is_held(client, gateway, events, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "PREAUTH": True}
    order = new_order(client)
    pay(client, order, APPROVE)
    payment = latest(order)
    assert payment.preauth and payment.status == S.HELD
    assert (payment.approved_amount, payment.captured_amount) == (order.amount, 0)
    assert history(payment)[-1] == (S.PROCESSING, S.HELD, Source.CARD_ENTRY)
    assert events.paid == [(order.pk, payment.pk, False)]
    assert BankOrder.objects.get(pk=payment.gateway_order_id).status == 1
    page = client.get(status_url(payment)).content.decode()
    assert "authorised" in page


DECLINE_CARDS = [
    card
    for card in sandbox_cards.CARDS
    if card.three_ds == sandbox_cards.ThreeDS.NONE and not card.approves and not card.fault
]


@pytest.mark.parametrize("card", DECLINE_CARDS, ids=lambda card: card.description)
def test_each_decline_card(client, gateway, events, card):
    order = new_order(client)
    response = pay(client, order, card.pan)
    payment = latest(order)
    assert payment.status == S.DECLINED and payment.action_code == card.action_code
    assert history(payment) == [
        (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
        (S.PROCESSING, S.DECLINED, Source.CARD_ENTRY),
    ]
    assert events.transitions(payment) == history(payment) and events.paid == []
    page = client.get(response["Location"]).content.decode()
    assert "Payment not completed" in page and "Try again" in page
    expected = {
        116: "not enough funds",
        101: "Your card has expired",
        82: "security code (CVC) was wrong",
    }.get(card.action_code, "Your card was declined. Please contact your bank")
    assert expected in html.unescape(page)
    if card.action_code in (208, 5):
        # Lost/stolen and "do not honour" read the same: the page sorts no cards.
        assert "stolen" not in page.lower() and "lost" not in page.lower()


def test_decline_then_successful_retry(client, gateway, events):
    order = new_order(client)
    pay(client, order, INSUFFICIENT)
    first = latest(order)
    assert first.status == S.DECLINED
    form = client.get(card_url(order))
    assert (
        form.status_code == 200 and "previous attempt did not go through" in form.content.decode()
    )
    pay(client, order, APPROVE)
    second = latest(order)
    assert second.pk != first.pk and second.status == S.PAID
    assert second.order_number != first.order_number
    assert second.gateway_order_id != first.gateway_order_id
    assert order.payments.count() == 2 and Order.objects.get(pk=order.pk).is_paid
    assert events.paid == [(order.pk, second.pk, True)]
    assert BankOrder.objects.count() == 2


# --- 3-D Secure --------------------------------------------------------------------------


@pytest.mark.parametrize("pan", [CHALLENGE, "5000001111111115"])
def test_3ds_challenge_approved(client, gateway, events, pan):
    order = new_order(client)
    response = pay(client, order, pan)
    payment = latest(order)
    assert payment.status == S.AWAITING_3DS and payment.gateway_order_id
    assert response["Location"] == reverse("jcc_checkout:threeds", args=[payment.public_id])
    back = through_acs(client, response)
    assert f"orderId={payment.gateway_order_id}" in back
    page = come_back(client, back)
    payment.refresh_from_db()
    assert payment.status == S.PAID and "Payment received" in page.content.decode()
    assert history(payment) == [
        (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
        (S.PROCESSING, S.AWAITING_3DS, Source.CARD_ENTRY),
        (S.AWAITING_3DS, S.PAID, Source.THREEDS_RETURN),
    ]
    assert events.transitions(payment) == history(payment)
    assert events.paid == [(order.pk, payment.pk, True)]


def test_3ds_redirect_by_post_form(client, gateway, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "THREEDS_METHOD": "post"}
    order = new_order(client)
    response = pay(client, order, CHALLENGE)
    payment = latest(order)
    text = response.content.decode()
    assert response.status_code == 200 and payment.status == S.AWAITING_3DS
    assert 'id="acs-form" method="post"' in text and "<noscript>" in text
    for name in ("PaReq", "MD", "TermUrl"):
        assert f'name="{name}"' in text
    assert f'value="{payment.gateway_order_id}"' in text
    # The form posts to the ACS like a browser would; the challenge then completes.
    form = re.search(r'<form id="acs-form" method="post" action="([^"]+)">(.*?)</form>', text, re.S)
    action = html.unescape(form[1])
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form[2]))
    browser = requests.Session()
    acs = browser.post(action, data=fields, allow_redirects=False, timeout=10)
    assert acs.status_code == 200 and 'name="otp"' in acs.text
    form_action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', acs.text)[1])
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', acs.text))
    done = browser.post(
        urljoin(action, form_action),
        data={**hidden, "otp": sandbox_cards.ONE_TIME_CODE, "action": "submit"},
        allow_redirects=False,
        timeout=10,
    )
    come_back(client, done.headers["Location"])
    payment.refresh_from_db()
    assert payment.status == S.PAID


def test_3ds_wrong_code_is_declined_and_can_be_retried(client, gateway, events):
    order = new_order(client)
    response = pay(client, order, CHALLENGE)
    back = through_acs(client, response, otp="000000")
    assert "failed=1" in back
    page = come_back(client, back).content.decode()
    payment = latest(order)
    assert payment.status == S.DECLINED and payment.action_code == -2006
    assert "could not confirm that it is you" in html.unescape(page) and "Try again" in page
    assert history(payment)[-1] == (S.AWAITING_3DS, S.DECLINED, Source.THREEDS_RETURN)
    assert events.paid == []
    pay(client, order, APPROVE)
    assert latest(order).status == S.PAID


def test_3ds_frictionless_failure(client, gateway, events):
    order = new_order(client)
    response = pay(client, order, FRICTIONLESS_FAIL)
    come_back(client, through_acs(client, response, otp=None))
    payment = latest(order)
    assert payment.status == S.DECLINED and payment.action_code == 341016
    assert history(payment)[-1] == (S.AWAITING_3DS, S.DECLINED, Source.THREEDS_RETURN)
    assert events.paid == []


def test_3ds_challenge_then_issuer_declines(client, gateway, events):
    order = new_order(client)
    response = pay(client, order, "5555550000001166")
    come_back(client, through_acs(client, response))
    payment = latest(order)
    assert payment.status == S.DECLINED and payment.action_code == 116
    assert events.paid == []


def test_3ds_cancelled_by_the_shopper(client, gateway, events):
    order = new_order(client)
    response = pay(client, order, CHALLENGE)
    come_back(client, through_acs(client, response, cancel=True))
    payment = latest(order)
    assert payment.status == S.DECLINED and payment.action_code == 341018


def test_3ds_abandoned_then_expires_and_a_retry_pays(client, gateway, events, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "SESSION_TIMEOUT": 1}
    order = new_order(client)
    response = pay(client, order, CHALLENGE)
    payment = latest(order)
    # The shopper closes the bank's page and comes back to the shop's card page: the open
    # attempt is shown, with a way back to the bank, and no second attempt can start.
    again = client.get(card_url(order))
    assert again.status_code == 303 and again["Location"] == status_url(payment)
    page = client.get(again["Location"]).content.decode()
    assert "Continue to your bank" in page and "Try again" not in page
    assert pay(client, order, APPROVE)["Location"] == status_url(payment)
    assert order.payments.count() == 1
    # The gateway ends the session after SESSION_TIMEOUT; the next look settles it.
    BankOrder.objects.filter(pk=payment.gateway_order_id).update(
        expires_at=payment.created_at - timedelta(seconds=1)
    )
    cache.clear()
    page = client.get(status_url(payment)).content.decode()
    payment.refresh_from_db()
    assert payment.status == S.EXPIRED and payment.action_code == -2007
    assert history(payment)[-1] == (S.AWAITING_3DS, S.EXPIRED, Source.RECONCILIATION)
    assert "not completed in time" in page and "Try again" in page
    pay(client, order, APPROVE)
    assert latest(order).status == S.PAID and order.payments.count() == 2
    assert len(events.paid) == 1
    del response


def test_3ds_step_can_be_resumed(client, gateway):
    order = new_order(client)
    response = pay(client, order, CHALLENGE)
    payment = latest(order)
    # First visit to the bank abandoned; the redirect view sends the shopper there again.
    first = client.get(response["Location"])
    second = client.get(reverse("jcc_checkout:threeds", args=[payment.public_id]))
    assert first["Location"] == second["Location"]
    assert second["Location"].startswith(gateway + "acsRedirect.do?orderId=")
    come_back(client, through_acs(client, response))
    payment.refresh_from_db()
    assert payment.status == S.PAID
    # Once settled, the redirect view leads to the result, never back to the bank.
    done = client.get(reverse("jcc_checkout:threeds", args=[payment.public_id]))
    assert done.status_code == 303 and done["Location"] == status_url(payment)


# --- double submit ------------------------------------------------------------------------


def test_double_submit_while_in_flight_shows_the_attempt(client, gateway):
    order = new_order(client)
    in_flight = start_payment(order)  # as if the first POST were still talking to the bank
    response = pay(client, order, APPROVE)
    assert response.status_code == 303 and response["Location"] == status_url(in_flight)
    assert (
        order.payments.count() == 1
        and not Exchange.objects.filter(operation="instantPayment.do").exists()
    )
    page = client.get(response["Location"])
    assert "We are confirming your payment" in page.content.decode()
    assert '<meta http-equiv="refresh"' in page.content.decode()


def test_two_concurrent_posts_charge_once(client, gateway, settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off", "FAULT_LATENCY": 1.5}
    order = new_order(client)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    results: list[int] = []
    barrier = threading.Barrier(2)

    def submit() -> None:
        browser = Client()
        browser.cookies[settings.SESSION_COOKIE_NAME] = cookie
        barrier.wait()
        try:
            results.append(pay(browser, order, LATENCY).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [303, 303]
    assert order.payments.count() == 1 and latest(order).status == S.PAID
    assert BankOrder.objects.count() == 1
    assert Exchange.objects.filter(operation="instantPayment.do").count() == 1


# --- unknown outcomes ------------------------------------------------------------------------


def poll(client: Client, payment: Payment, *, until: set[str], tries: int = 40):
    """Load the payment's page as its meta refresh would, until it settles."""
    for _ in range(tries):
        cache.clear()  # the page throttles status queries; the test does not wait for it
        page = client.get(status_url(payment))
        payment.refresh_from_db()
        if payment.status in until:
            return page
        assert page.status_code == 200
        assert '<meta http-equiv="refresh"' in page.content.decode()
        threading.Event().wait(0.25)
    raise AssertionError(f"payment still {payment.status}")


def test_timeout_then_resolved_as_paid(client, gateway, events, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "TIMEOUTS": {"connect": 2, "read": 0.5}}
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off", "FAULT_LATENCY": 1.5}
    order = new_order(client)
    response = pay(client, order, LATENCY)
    payment = latest(order)
    assert payment.status == S.OUTCOME_UNKNOWN
    assert response["Location"] == status_url(payment)
    page = client.get(response["Location"]).content.decode()
    assert "We are confirming your payment" in page
    assert '<meta http-equiv="refresh" content="3">' in page
    # Meanwhile nobody may start a second charge for this order.
    assert pay(client, order, APPROVE)["Location"] == status_url(payment)
    poll(client, payment, until={S.PAID})
    assert payment.status == S.PAID and payment.gateway_order_id
    assert instant_payment_calls(payment) == 1 and order.payments.count() == 1
    assert history(payment) == [
        (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
        (S.PROCESSING, S.OUTCOME_UNKNOWN, Source.CARD_ENTRY),
        (S.OUTCOME_UNKNOWN, S.PAID, Source.RECONCILIATION),
    ]
    assert events.paid == [(order.pk, payment.pk, True)]


@pytest.mark.parametrize("fault", [Fault.DROP_AFTER, Fault.ERROR_AFTER])
def test_lost_answer_of_a_decline_resolves_as_declined(client, gateway, events, fault):
    set_fault(fault)
    order = new_order(client)
    pay(client, order, INSUFFICIENT)
    payment = latest(order)
    assert payment.status == S.OUTCOME_UNKNOWN
    page = poll(client, payment, until={S.DECLINED})
    assert payment.action_code == 116 and "Try again" in page.content.decode()
    assert history(payment)[-1] == (S.OUTCOME_UNKNOWN, S.DECLINED, Source.RECONCILIATION)
    assert instant_payment_calls(payment) == 1 and events.paid == []


def test_http_500_after_charging_resolves_as_paid(client, gateway, events):
    order = new_order(client)
    pay(client, order, HTTP500_AFTER)
    payment = latest(order)
    assert payment.status == S.OUTCOME_UNKNOWN
    poll(client, payment, until={S.PAID})
    assert events.paid == [(order.pk, payment.pk, True)]


def test_request_that_never_reached_the_bank_fails_after_the_grace_period(client, gateway, events):
    set_fault(Fault.ERROR_BEFORE)
    order = new_order(client)
    pay(client, order, APPROVE)
    payment = latest(order)
    assert payment.status == S.OUTCOME_UNKNOWN and not payment.gateway_order_id
    # "Unknown order" right after the timeout proves nothing: the request may be queued.
    cache.clear()
    assert client.get(status_url(payment)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == S.OUTCOME_UNKNOWN
    # Long after the attempt began, the same answer settles it: nothing was charged.
    Payment.objects.filter(pk=payment.pk).update(
        created_at=payment.created_at - timedelta(minutes=10)
    )
    page = poll(client, payment, until={S.FAILED})
    assert history(payment)[-1] == (S.OUTCOME_UNKNOWN, S.FAILED, Source.RECONCILIATION)
    assert "Try again" in page.content.decode()
    assert not BankOrder.objects.filter(order_number=payment.order_number).exists()
    pay(client, order, APPROVE)
    assert latest(order).status == S.PAID and events.paid == [(order.pk, latest(order).pk, True)]


def test_confirming_page_when_the_gateway_cannot_be_asked(client, gateway):
    set_fault(Fault.DROP_AFTER)
    order = new_order(client)
    pay(client, order, APPROVE)
    payment = latest(order)
    assert payment.status == S.OUTCOME_UNKNOWN
    # Every status query (first try and retries) is refused with HTTP 429 for a while.
    set_fault(Fault.RATE_LIMITED, endpoint="getOrderStatusExtended.do", calls=10)
    cache.clear()
    page = client.get(status_url(payment))
    assert page.status_code == 503 and page["Retry-After"]
    assert '<meta http-equiv="refresh"' in page.content.decode()
    payment.refresh_from_db()
    assert payment.status == S.OUTCOME_UNKNOWN
    set_fault("", calls=0)
    poll(client, payment, until={S.PAID})


def test_rate_limited_gateway_fails_cleanly(client, gateway):
    set_fault(Fault.RATE_LIMITED)
    order = new_order(client)
    response = pay(client, order, APPROVE)
    assert response.status_code == 503 and "No money was taken" in response.content.decode()
    assert latest(order).status == S.FAILED
    assert pay(client, order, APPROVE).status_code == 303
    assert latest(order).status == S.PAID


# --- the return URL: order of events and forgeries ------------------------------------


def three_ds_done(client: Client, order: Order, pan: str = CHALLENGE) -> tuple[Payment, str]:
    """Pay with a 3-D Secure card up to the gateway's redirect back (not followed)."""
    response = pay(client, order, pan)
    return latest(order), through_acs(client, response)


def test_failurl_or_backurl_decides_nothing(client, gateway):
    order = new_order(client)
    payment, back = three_ds_done(client, order)
    assert "failed=1" not in back
    # The shopper edits the URL to look like a failure: the status query wins.
    forged = back.replace("/return/?", "/return/?failed=1&")
    page = come_back(client, forged)
    payment.refresh_from_db()
    assert payment.status == S.PAID and "Payment received" in page.content.decode()

    other = new_order(client)
    declined, fail = three_ds_done(client, other, FRICTIONLESS_FAIL)
    success_looking = fail.replace("failed=1&", "").replace("?failed=1", "?")
    come_back(client, success_looking)
    declined.refresh_from_db()
    assert declined.status == S.DECLINED and not other.is_paid


def test_own_return_is_never_throttled(client, gateway):
    order = new_order(client)
    response = pay(client, order, CHALLENGE)
    payment = latest(order)
    # The shopper looks at the page (a status query), then finishes 3-D Secure at once.
    assert "Continue to your bank" in client.get(status_url(payment)).content.decode()
    page = come_back(client, through_acs(client, response))
    assert "Payment received" in page.content.decode()


def test_two_returns_make_one_transition(client, gateway, events):
    order = new_order(client)
    payment, back = three_ds_done(client, order)
    come_back(client, back)
    cache.clear()
    page = come_back(client, back)
    payment.refresh_from_db()
    assert payment.status == S.PAID and "Payment received" in page.content.decode()
    assert history(payment).count((S.AWAITING_3DS, S.PAID, Source.THREEDS_RETURN)) == 1
    assert len(events.paid) == 1


def test_foreign_return_settles_but_shows_nothing(client, gateway, events):
    order = new_order(client, amount=4321)
    payment, back = three_ds_done(client, order)
    stranger = Client()
    parts = urlsplit(back)
    page = stranger.get(f"{parts.path}?{parts.query}")
    text = page.content.decode()
    assert page.status_code == 200 and "Thank you" in text
    for secret in (payment.order_number, "43.21", "444455", "5599", str(order.public_id)):
        assert secret not in text
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert stranger.get(status_url(payment)).status_code == 404
    # The owner's own return afterwards changes nothing more.
    come_back(client, back)
    assert len(events.paid) == 1 and payment.history.count() == 3


def test_callback_before_the_return(client, gateway, events, settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync"}
    order = new_order(client)
    payment, back = three_ds_done(client, order)
    payment.refresh_from_db()
    assert payment.status == S.PAID  # the callback came first and settled it
    assert history(payment)[-1] == (S.AWAITING_3DS, S.PAID, Source.CALLBACK)
    page = come_back(client, back)
    assert "Payment received" in page.content.decode()
    assert payment.history.count() == 3 and len(events.paid) == 1


def test_callback_after_the_return(client, gateway, events):
    order = new_order(client)
    payment, back = three_ds_done(client, order)
    come_back(client, back)
    assert deliver_due() >= 1  # the gateway's notification arrives late
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert history(payment)[-1] == (S.AWAITING_3DS, S.PAID, Source.THREEDS_RETURN)
    assert payment.history.count() == 3 and len(events.paid) == 1
    assert payment.notifications.filter(valid=True).count() >= 1


def test_answer_for_a_different_amount_needs_review(client, gateway, events):
    from checkout.gateway import CardData, get_client

    order = new_order(client)
    payment = start_payment(order)
    transition(payment, S.OUTCOME_UNKNOWN, source=Source.CARD_ENTRY, note="no answer")
    # Another system registered an order under our number, for another amount.
    get_client().instant_payment(
        order_number=payment.order_number,
        amount=payment.amount + 100,
        currency=payment.currency,
        back_url="http://testserver/elsewhere/",
        card=CardData(pan=APPROVE, cvc=CVC, expiry="203412"),
    )
    page = client.get(status_url(payment))
    payment.refresh_from_db()
    assert payment.status == S.NEEDS_REVIEW and not Order.objects.get(pk=order.pk).is_paid
    assert payment.captured_amount == 0 and "mismatch: amount" in payment.history.last().note
    assert "checking this payment" in page.content.decode() and events.paid == []
    # No new attempt may start while a human looks at it.
    assert pay(client, order, APPROVE)["Location"] == status_url(payment)


# --- query counts -------------------------------------------------------------------------


def make_orders(count: int) -> None:
    for _ in range(count):
        order = OrderFactory()
        start_payment(order)


def test_the_confirming_query_can_be_restored(client, gateway, events, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "CONFIRM_CARD_PAYMENTS": True}
    order = new_order(client)
    pay(client, order, APPROVE)
    payment = latest(order)
    assert payment.status == S.PAID and events.paid == [(order.pk, payment.pk, True)]
    operations = list(
        payment.exchanges.order_by("created_at", "pk").values_list("operation", flat=True)
    )
    assert operations == ["instantPayment.do", "getOrderStatusExtended.do"]


def test_a_decline_is_confirmed_by_a_status_query(client, gateway):
    order = new_order(client)
    pay(client, order, INSUFFICIENT)
    payment = latest(order)
    assert payment.status == S.DECLINED
    operations = list(
        payment.exchanges.order_by("created_at", "pk").values_list("operation", flat=True)
    )
    assert operations == ["instantPayment.do", "getOrderStatusExtended.do"]
    # Only the status query gives the decline's actionCode and its text.
    assert payment.action_code not in (None, 0) and payment.action_code_description


def statements(captured) -> tuple[int, int]:
    """(data statements, transactions) of captured queries; BEGIN is seen on SQLite only."""
    sqls = [q["sql"].lstrip().upper() for q in captured]
    data = sum(sql.startswith(("SELECT", "INSERT", "UPDATE", "DELETE")) for sql in sqls)
    return data, sum(sql.startswith("BEGIN") for sql in sqls)


def test_card_post_is_lean_and_does_not_grow_with_orders(client, gateway):
    from django.test.utils import CaptureQueriesContext

    counts = []
    for existing in (0, 25):
        make_orders(existing)
        order = new_order(client)
        client.get(card_url(order))  # the seToken key is fetched and cached here
        with CaptureQueriesContext(connection) as queries:
            pay(client, order, APPROVE)
        assert latest(order).status == S.PAID
        counts.append(statements(queries.captured_queries))
    assert counts[0] == counts[1]
    data, transactions = counts[0]
    # Access check, claim (order lock, attempt, history), apply (exchange row, payment
    # lock, update, history, the order's first secured payment).
    assert data <= 12, queries.captured_queries
    if connection.vendor == "sqlite":
        assert transactions == 2
    print(f"card POST (paid, no 3-D Secure): {data} data statements, {transactions} transactions")


def test_return_view_is_lean_and_does_not_grow_with_orders(client, gateway):
    from django.test.utils import CaptureQueriesContext

    counts = []
    for existing in (0, 25):
        make_orders(existing)
        order = new_order(client)
        _payment, back = three_ds_done(client, order)
        parts = urlsplit(back)
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 303
        assert latest(order).status == S.PAID
        counts.append(statements(queries.captured_queries))
    assert counts[0] == counts[1]
    data, _transactions = counts[0]
    # Access check, exchange row, payment (and order) lock, update, history row, no other
    # secured attempt.
    assert data <= 8, queries.captured_queries
    print(f"return view (3-D Secure approved): {data} data statements")


def test_card_post_cache_round_trips(client, gateway, monkeypatch):
    from django.core.cache import caches

    order = new_order(client)
    client.get(card_url(order))  # the seToken key is fetched and cached here
    backend = caches["default"]
    calls: list[str] = []
    depth = [0]

    def recording(name, original):
        def call(*args, **kwargs):
            # Only the app's own calls: not those a backend makes to itself.
            if depth[0] == 0:
                calls.append(name)
            depth[0] += 1
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1

        return call

    names = ("get", "get_many", "set", "add", "incr", "decr", "delete", "set_many", "touch")
    for name in names:
        monkeypatch.setattr(backend, name, recording(name, getattr(backend, name)))
    pay(client, order, APPROVE)
    assert latest(order).status == S.PAID
    # Peek at both attempt counters at once, count the attempt on each (opening the
    # counters of a new window), read the seToken key (the card fields came without a
    # browser-built token), give the paid attempt back on each counter. Nothing else: no
    # session write, no other cache key.
    assert sorted(calls) == ["add", "add", "decr", "decr", "get", "get_many", "incr", "incr"], calls
