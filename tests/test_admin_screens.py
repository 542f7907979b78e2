"""The admin's operator screens: capture, void and refund pages with a confirmation in money,
operations offered only when they can happen, one time zone, codes in words, and what
became of each callback notification.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from checkout import backoffice, callbacks
from checkout.cards import CardData
from checkout.models import Exchange, Notification, Payment, PaymentStatus, StatusChange
from tests.factories import NotificationFactory, OrderFactory, PaymentFactory
from tests.test_admin import NOTIFICATIONS, messages_of, operator_client, pay

S = PaymentStatus
GREEK = {"HTTP_ACCEPT_LANGUAGE": "el"}
NBSP = "\u00a0"
DECLINED_CARD = CardData(pan="4000000000001166", cvc="123", expiry="203012")  # actionCode 116


def page_url(payment: Payment, name: str, back: str = "") -> str:
    url = reverse(f"admin:jcc_checkout_payment_{name}", args=[payment.pk])
    return f"{url}?back={back}" if back else url


def change_url(payment: Payment) -> str:
    return reverse("admin:jcc_checkout_payment_change", args=[payment.pk])


def order_url(payment: Payment) -> str:
    return reverse("admin:jcc_checkout_order_change", args=[payment.order_id])


def bank(payment: Payment):
    """The sandbox's own record of the payment's order."""
    from checkout.sandbox.models import Order as BankOrder

    return BankOrder.objects.get(pk=payment.gateway_order_id)


def text(response) -> str:
    """The page's text without tags, with runs of white space (no-break spaces too) as one
    space."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def buttons(response) -> set[str]:
    """The operation buttons on a change page."""
    return set(re.findall(r'class="checkout-operation checkout-(\w+)"', response.content.decode()))


def field_value(response, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    assert match, f"no {name} field"
    return match.group(1)


def review(client: Client, payment: Payment, name: str, **data):
    """Open the operation's page, then send its form: the confirmation page (or the form
    again with its errors)."""
    back = data.pop("back", "")
    form = client.get(page_url(payment, name, back))
    assert form.status_code == 200
    fields = {"state": field_value(form, "state"), "reason": "customer asked", "back": back}
    return client.post(page_url(payment, name), {"review": "1", **fields, **data})


def confirm(client: Client, payment: Payment, name: str, confirmation, **extra):
    """Press the confirmation page's button, as the browser would send it."""
    body = confirmation.content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', body))
    fields.pop("csrfmiddlewaretoken", None)
    return client.post(page_url(payment, name), {**fields, "confirm": "1", **extra}, follow=True)


def gateway_calls(operation: str) -> int:
    return Exchange.objects.filter(operation=operation).count()


@pytest.fixture
def live(sandbox_url, live_server):
    return live_server.url


def set_fault(**fields) -> None:
    from checkout.sandbox.models import Merchant

    Merchant.objects.filter(pk=Merchant.objects.default().pk).update(**fields)


# --- the operation pages against the sandbox ------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestOperationPages:
    def test_refund_is_confirmed_in_money_before_it_happens(self, admin_client, admin_user, live):
        paid = pay(live, amount=1890)
        page = admin_client.get(change_url(paid))
        assert buttons(page) == {"refund"}
        form = admin_client.get(page_url(paid, "refund"))
        assert field_value(form, "amount") == "18.90"  # all that is left, pre-filled
        assert "at most €18.90" in text(form)

        confirmation = review(admin_client, paid, "refund", amount="12.50", reason="one cup broken")
        assert confirmation.status_code == 200
        body = text(confirmation)
        assert "Refund €12.50 of €18.90 to VISA 444455••3333." in body
        assert "€6.40 will be left to refund." in body
        assert 'value="Refund €12.50"' in confirmation.content.decode()
        # Nothing has happened yet, at the gateway or here.
        assert (bank(paid).refunded_amount, gateway_calls("refund.do")) == (0, 0)
        paid.refresh_from_db()
        assert (paid.status, paid.refunded_amount) == (S.PAID, 0)

        done = confirm(admin_client, paid, "refund", confirmation)
        assert done.redirect_chain == [(change_url(paid), 302)]
        assert messages_of(done) == [
            (
                "success",
                f"{paid}: refunded €12.50; now Partly refunded, €12.50 refunded of "
                "€18.90 captured.",
            )
        ]
        assert bank(paid).refunded_amount == 1250
        paid.refresh_from_db()
        assert (paid.status, paid.refunded_amount) == (S.PARTLY_REFUNDED, 1250)
        change = StatusChange.objects.filter(payment=paid).latest()
        assert (change.operator, change.note) == (admin_user, "refund 12.50 EUR: one cup broken")
        # The next refund offers what is left, and says what was refunded already.
        assert field_value(admin_client.get(page_url(paid, "refund")), "amount") == "6.40"
        again = text(review(admin_client, paid, "refund", amount="6.40"))
        assert "Refund €6.40 of €6.40 to VISA 444455••3333." in again
        assert "This is everything left to refund." in again
        assert "Already refunded: €12.50 of the €18.90 captured." in again

    def test_capture_of_part_of_a_hold(self, admin_client, live):
        held = pay(live, preauth=True, amount=1890)
        assert buttons(admin_client.get(change_url(held))) == {"capture", "void"}
        assert field_value(admin_client.get(page_url(held, "capture")), "amount") == "18.90"
        full = text(review(admin_client, held, "capture", amount="18.90"))
        assert "Capture €18.90 of the €18.90 held." in full
        assert "This is the full amount held." in full
        confirmation = review(admin_client, held, "capture", amount="15.00")
        body = text(confirmation)
        assert "Capture €15.00 of the €18.90 held." in body
        assert "The other €3.90 is released and never charged." in body
        assert "Charged to VISA 444455••3333." in body
        assert (bank(held).deposited_amount, gateway_calls("deposit.do")) == (0, 0)

        done = confirm(admin_client, held, "capture", confirmation)
        assert messages_of(done) == [("success", f"{held}: captured €15.00; now Paid.")]
        assert bank(held).deposited_amount == 1500
        held.refresh_from_db()
        assert (held.status, held.captured_amount) == (S.PAID, 1500)

    def test_void_from_the_order_page(self, admin_client, live):
        held = pay(live, preauth=True, amount=1890)
        order_page = admin_client.get(order_url(held))
        assert buttons(order_page) == {"capture", "void"}
        assert page_url(held, "void", back="order") in order_page.content.decode()
        confirmation = review(admin_client, held, "void", back="order", reason="out of stock")
        body = text(confirmation)
        assert "Release the hold of €18.90." in body
        assert "Nothing is charged to VISA 444455••3333." in body
        assert "amount" not in dict(confirmation.context["form"].fields)
        assert bank(held).reversed_at is None

        done = confirm(admin_client, held, "void", confirmation)
        # Back where it started: the order's page.
        assert done.redirect_chain == [(order_url(held), 302)]
        assert messages_of(done) == [
            ("success", f"{held}: the hold of €18.90 is released; now Voided.")
        ]
        assert bank(held).reversed_at is not None
        held.refresh_from_db()
        assert held.status == S.VOIDED
        # Nothing is offered for it any more.
        assert buttons(admin_client.get(order_url(held))) == set()

    def test_atomic_requests_do_not_wrap_the_gateway_call(self, admin_client, live, monkeypatch):
        from django.db import connections

        paid = pay(live)
        monkeypatch.setitem(connections["default"].settings_dict, "ATOMIC_REQUESTS", True)
        confirmation = review(admin_client, paid, "refund", amount="2.00")
        done = confirm(admin_client, paid, "refund", confirmation)
        assert messages_of(done)[0][0] == "success"
        assert bank(paid).refunded_amount == 200

    def test_the_change_button_goes_back_to_the_form(self, admin_client, live):
        paid = pay(live)
        confirmation = review(admin_client, paid, "refund", amount="1.00")
        edit = confirm(admin_client, paid, "refund", confirmation, edit="1")
        # "edit" wins over "confirm": nothing happens, the form comes back filled in.
        assert edit.redirect_chain == []
        assert field_value(edit, "amount") == "1.00" and 'name="review"' in edit.content.decode()
        assert gateway_calls("refund.do") == 0

    def test_declined_by_the_gateway(self, admin_client, live):
        paid = pay(live)
        confirmation = review(admin_client, paid, "refund", amount="5.00")
        # The gateway no longer accepts the shop's credentials: it refuses the call.
        set_fault(password="changed-at-the-bank")
        done = confirm(admin_client, paid, "refund", confirmation)
        [(level, message)] = messages_of(done)
        assert level == "error"
        assert message == (
            f"{paid}: JCC declined the refund: Access denied (errorCode 5). No money moved."
        )
        assert bank(paid).refunded_amount == 0
        paid.refresh_from_db()
        assert (paid.status, paid.pending_operation) == (S.PAID, "")

    def test_outcome_unknown_says_we_are_checking(self, admin_client, live):
        paid = pay(live)
        confirmation = review(admin_client, paid, "refund", amount="5.00")
        set_fault(fault="drop_after", fault_endpoints="refund.do", fault_remaining=1)
        done = confirm(admin_client, paid, "refund", confirmation)
        [(level, message)] = messages_of(done)
        assert level == "warning"
        assert "We are checking with JCC" in message and "do not repeat it" in message
        assert message.count(str(paid)) == 1
        # The sandbox did refund; we hold the intent until checkout_sync settles it.
        assert bank(paid).refunded_amount == 500
        paid.refresh_from_db()
        assert (paid.pending_operation, paid.pending_amount) == ("refund", 500)
        # While it is in flight, no operation is offered and the page says why.
        page = admin_client.get(change_url(paid))
        assert buttons(page) == set()
        assert "A refund of €5.00 is in progress" in text(page)
        refused = admin_client.get(page_url(paid, "refund"), follow=True)
        assert messages_of(refused) == [
            ("error", f"{paid}: the refund is not possible: a refund is already in progress.")
        ]
        assert gateway_calls("refund.do") == 1

    def test_a_payment_changed_between_form_and_confirmation(self, admin_client, live):
        paid = pay(live)
        confirmation = review(admin_client, paid, "refund", amount="10.00")
        # Meanwhile another operator refunds part of it.
        backoffice.refund(paid, 500, operator=None, reason="refunded by a colleague")
        calls = gateway_calls("refund.do")
        done = confirm(admin_client, paid, "refund", confirmation)
        assert done.redirect_chain == [(change_url(paid), 302)]
        assert messages_of(done) == [
            (
                "warning",
                f"{paid} changed while you were on the refund page: it is now Partly "
                "refunded, €19.99 captured, €5.00 refunded. Nothing was done: check "
                "the amounts and start again.",
            )
        ]
        assert gateway_calls("refund.do") == calls
        assert bank(paid).refunded_amount == 500
        # The same for a form sent with another (or no) state.
        for state in ("forged", ""):
            response = admin_client.post(
                page_url(paid, "refund"),
                {"amount": "1.00", "reason": "r", "state": state, "confirm": "1"},
                follow=True,
            )
            assert "changed while you were on the refund page" in messages_of(response)[0][1]
        assert gateway_calls("refund.do") == calls

    def test_a_payment_refunded_in_full_meanwhile_is_refused(self, admin_client, live):
        paid = pay(live)
        confirmation = review(admin_client, paid, "refund", amount="10.00")
        backoffice.refund(paid, None, operator=None, reason="all of it, elsewhere")
        done = confirm(admin_client, paid, "refund", confirmation)
        assert messages_of(done) == [
            ("error", f"{paid}: the refund is not possible: it is Refunded: nothing to refund.")
        ]
        assert bank(paid).refunded_amount == 1999
        assert gateway_calls("refund.do") == 1


# --- what is not offered -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestGreek:
    """The operation pages in Greek: the words and the amounts in the operator's language,
    the amount typed as before ("12.50"), the history's note in its one plain form."""

    def test_refund_in_greek(self, admin_client, live):
        paid = pay(live, amount=1890)
        form = admin_client.get(page_url(paid, "refund"), **GREEK)
        assert field_value(form, "amount") == "18.90"
        assert "Σε EUR, για παράδειγμα 12.50· έως 18,90 €." in text(form)
        assert 'class="checkout-operation checkout-refund">Επιστροφή χρημάτων<' in (
            admin_client.get(change_url(paid), **GREEK).content.decode()
        )

        form_data = {"state": field_value(form, "state"), "reason": "σπασμένο φλιτζάνι"}
        confirmation = admin_client.post(
            page_url(paid, "refund"), {"review": "1", "amount": "12.50", **form_data}, **GREEK
        )
        body = text(confirmation)
        assert "Επιστροφή 12,50 € από τα 18,90 € στην κάρτα VISA 444455••3333." in body
        assert "Θα απομένουν 6,40 € για επιστροφή." in body
        assert f'value="Επιστροφή 12,50{NBSP}€"' in confirmation.content.decode()

        fields = dict(
            re.findall(
                r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirmation.content.decode()
            )
        )
        fields.pop("csrfmiddlewaretoken", None)
        done = admin_client.post(
            page_url(paid, "refund"), {**fields, "confirm": "1"}, follow=True, **GREEK
        )
        assert messages_of(done) == [
            (
                "success",
                f"{paid}: επιστράφηκαν 12,50{NBSP}€· κατάσταση τώρα: Μερική επιστροφή χρημάτων, "
                f"έχουν επιστραφεί 12,50{NBSP}€ από τα 18,90{NBSP}€ που εισπράχθηκαν.",
            )
        ]
        change = StatusChange.objects.filter(payment=paid).latest()
        assert change.note == "refund 12.50 EUR: σπασμένο φλιτζάνι"

    def test_a_refusal_in_greek_names_the_payment_once(self, admin_client, live):
        held = pay(live, preauth=True)
        refused = admin_client.get(page_url(held, "refund"), follow=True, **GREEK)
        assert messages_of(refused) == [
            (
                "error",
                f"{held}: η επιστροφή χρημάτων δεν είναι δυνατή: είναι μόνο δεσμευμένη: "
                "αποδεσμεύστε την.",
            )
        ]


@pytest.mark.django_db(transaction=True)
class TestNotOffered:
    @pytest.mark.parametrize("name", ["refund", "capture", "void"])
    def test_nothing_on_a_declined_payment(self, admin_client, live, name):
        declined = pay(live, DECLINED_CARD)
        assert declined.status == S.DECLINED
        assert buttons(admin_client.get(change_url(declined))) == set()
        calls = Exchange.objects.count()
        for response in (
            admin_client.get(page_url(declined, name), follow=True),
            admin_client.post(
                page_url(declined, name),
                {"amount": "1.00", "reason": "r", "state": "x", "confirm": "1"},
                follow=True,
            ),
        ):
            assert response.redirect_chain == [(change_url(declined), 302)]
            [(level, message)] = messages_of(response)
            assert level == "error" and message.startswith(
                f"{declined}: the {name} is not possible"
            )
        assert Exchange.objects.count() == calls

    @pytest.mark.parametrize("name", ["capture", "void"])
    def test_no_capture_or_void_of_a_paid_payment(self, admin_client, live, name):
        paid = pay(live)
        response = admin_client.post(
            page_url(paid, name),
            {"amount": "19.99", "reason": "r", "state": "x", "confirm": "1"},
            follow=True,
        )
        assert messages_of(response) == [
            ("error", f"{paid}: the {name} is not possible: it is Paid, not held.")
        ]
        assert (bank(paid).deposited_amount, bank(paid).reversed_at) == (1999, None)
        assert gateway_calls("deposit.do") + gateway_calls("reverse.do") == 0

    def test_no_refund_of_a_hold(self, admin_client, live):
        held = pay(live, preauth=True)
        response = admin_client.get(page_url(held, "refund"), follow=True)
        assert messages_of(response) == [
            ("error", f"{held}: the refund is not possible: it is only held: void it instead.")
        ]

    def test_without_the_permission(self, live):
        paid = pay(live)
        held = pay(live, preauth=True)
        capturer = operator_client("jcc_checkout.view_payment", "jcc_checkout.capture_payment")
        assert buttons(capturer.get(change_url(paid))) == set()
        assert buttons(capturer.get(change_url(held))) == {"capture", "void"}
        for method in ("get", "post"):
            response = getattr(capturer, method)(page_url(paid, "refund"), follow=True)
            assert messages_of(response) == [("error", f"{paid}: You may not refund payments.")]
        refunder = operator_client(
            "jcc_checkout.view_payment", "jcc_checkout.view_order", "jcc_checkout.refund_payment"
        )
        assert buttons(refunder.get(change_url(held))) == set()
        assert buttons(refunder.get(order_url(held))) == set()
        assert buttons(refunder.get(order_url(paid))) == {"refund"}
        response = refunder.post(
            page_url(held, "void"), {"reason": "r", "state": "x", "confirm": "1"}, follow=True
        )
        assert messages_of(response) == [("error", f"{held}: You may not void payments.")]
        assert gateway_calls("refund.do") + gateway_calls("reverse.do") == 0
        # Without even the permission to see payments, the page does not exist for them.
        stranger = operator_client("jcc_checkout.refund_payment")
        assert stranger.get(page_url(paid, "refund")).status_code == 403

    def test_csrf_is_required(self, admin_user, live):
        paid = pay(live)
        client = Client(enforce_csrf_checks=True)
        client.force_login(admin_user)
        response = client.post(
            page_url(paid, "refund"), {"amount": "1.00", "reason": "r", "confirm": "1"}
        )
        assert response.status_code == 403
        assert gateway_calls("refund.do") == 0


# --- the form ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestForm:
    @pytest.mark.parametrize(
        ("amount", "error"),
        [
            ("", "Enter the amount; the most is €19.99."),
            ("   ", "Enter the amount; the most is €19.99."),
            ("20.00", "At most €19.99: that is what is left to refund."),
            ("0", "The amount must be positive."),
            ("0.00", "The amount must be positive."),
            ("abc", "Not an amount: write it as in 12.50."),
            ("-5", "Not an amount: write it as in 12.50."),
            ("1e3", "Not an amount: write it as in 12.50."),
            ("12,50", "Not an amount: use a point for decimals, as in 12.50."),
            ("1.234", "Too many decimal places for EUR."),
            ("9" * 40, "Ensure this value has at most 30 characters (it has 40)."),
        ],
    )
    def test_amount_errors(self, admin_client, live, amount, error):
        paid = pay(live)
        response = review(admin_client, paid, "refund", amount=amount)
        assert response.status_code == 200
        assert response.context["form"].errors["amount"] == [error]
        assert 'name="confirm"' not in response.content.decode()
        # Sent straight to the confirmation, it is refused the same way.
        forced = confirm(admin_client, paid, "refund", response, amount=amount)
        assert forced.context["form"].errors["amount"] == [error]
        assert gateway_calls("refund.do") == 0

    def test_a_reason_is_required(self, admin_client, live):
        held = pay(live, preauth=True)
        for reason in ("", "   "):
            response = review(admin_client, held, "void", reason=reason)
            assert response.context["form"].errors["reason"] == ["This field is required."]
        assert gateway_calls("reverse.do") == 0


@pytest.mark.django_db
class TestTamperedRequests:
    def test_an_unknown_payment(self, admin_client):
        for object_id in ("999999", "not-a-number"):
            url = reverse("admin:jcc_checkout_payment_refund", args=[object_id])
            response = admin_client.get(url, follow=True)
            assert response.status_code == 200
            assert messages_of(response) == [
                ("warning", f"There is no payment with the id {object_id}.")
            ]

    def test_another_method(self, admin_client):
        payment = PaymentFactory(status=S.PAID, captured_amount=1999, gateway_order_id="g")
        assert admin_client.put(page_url(payment, "refund")).status_code == 405

    def test_back_is_only_the_payment_or_its_order(self, admin_client):
        payment = PaymentFactory(status=S.DECLINED)
        for back in ("https://evil.example/", "//evil.example", "order"):
            response = admin_client.get(page_url(payment, "refund", back=back))
            expected = order_url(payment) if back == "order" else change_url(payment)
            assert response.status_code == 302 and response["Location"] == expected


# --- list actions check up front ---------------------------------------------------------------


@pytest.mark.django_db
def test_capture_action_names_what_is_not_held_before_the_form(admin_client):
    held = PaymentFactory(status=S.HELD, gateway_order_id="g1", approved_amount=1999)
    paid = PaymentFactory(status=S.PAID, gateway_order_id="g2", captured_amount=1999)
    busy = PaymentFactory(
        status=S.HELD, gateway_order_id="g3", approved_amount=1999, pending_operation="void"
    )
    data = {"action": "capture_payments", "_selected_action": [held.pk, paid.pk, busy.pk]}
    form = admin_client.post(reverse("admin:jcc_checkout_payment_changelist"), data)
    assert form.status_code == 200
    assert [p for p, _ in form.context["payments"]] == [held]
    assert messages_of(form) == [
        (
            "warning",
            f"Not capturable, left out: {paid} (it is Paid, not held); "
            f"{busy} (a void is already in progress).",
        )
    ]
    nothing = admin_client.post(
        reverse("admin:jcc_checkout_payment_changelist"),
        {"action": "capture_payments", "_selected_action": [paid.pk]},
        follow=True,
    )
    assert messages_of(nothing)[-1] == ("warning", "Nothing selected can be captured.")
    assert not Exchange.objects.exists()


def test_capture_action_in_greek(admin_client):
    """The list action's warnings and page in the operator's language: whole sentences, the
    operation's own words, amounts as Greek writes them."""
    held = PaymentFactory(status=S.HELD, gateway_order_id="g1", amount=1890, approved_amount=1890)
    busy = PaymentFactory(
        status=S.HELD, gateway_order_id="g2", approved_amount=1999, pending_operation="void"
    )
    data = {"action": "capture_payments", "_selected_action": [held.pk, busy.pk]}
    form = admin_client.post(reverse("admin:jcc_checkout_payment_changelist"), data, **GREEK)
    assert messages_of(form) == [
        (
            "warning",
            f"Δεν μπορούν να εισπραχθούν και παραλείπονται: {busy} "
            "(μια αποδέσμευση βρίσκεται ήδη σε εξέλιξη).",
        )
    ]
    body = text(form)
    assert "Είσπραξη: 1 πληρωμή" in body
    assert "ποσό 18,90 €, εισπράχθηκαν 0,00 €" in body
    assert f'value="{held.pk}"' in form.content.decode()


# --- one time zone -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_page_shows_times_in_the_shops_zone_to_the_minute(admin_client, settings):
    assert settings.TIME_ZONE == "Asia/Nicosia"
    summer = datetime(2030, 6, 1, 12, 4, 30, tzinfo=UTC)  # 15:04 in Nicosia (EEST)
    winter = datetime(2030, 1, 15, 22, 59, 59, tzinfo=UTC)  # 00:59 the next day (EET)
    order = OrderFactory(created_at=summer, expires_at=summer)
    payment = PaymentFactory(status=S.PROCESSING, created_at=summer, order=order)
    StatusChange.objects.create(
        payment=payment,
        from_status=S.PROCESSING,
        to_status=S.FAILED,
        source="system",
        created_at=winter,
    )
    Exchange.objects.create(payment=payment, operation="x.do", url="u", created_at=summer)
    NotificationFactory(payment=payment, received_at=winter, processed_at=summer)
    pages = {
        "payment": change_url(payment),
        "order": order_url(payment),
        "notifications": NOTIFICATIONS,
        "notification": reverse(
            "admin:jcc_checkout_notification_change", args=[Notification.objects.get().pk]
        ),
        "exchanges": reverse("admin:jcc_checkout_exchange_changelist"),
        "payments": reverse("admin:jcc_checkout_payment_changelist"),
    }
    shown = {}
    for name, url in pages.items():
        body = text(admin_client.get(url))
        # Neither UTC nor Django's default format of these moments.
        for other in ("2030-06-01 12:04", "2030-01-15 22:59", "June 1, 2030", "Jan. 15, 2030"):
            assert other not in body, (name, other)
        assert not re.search(r"\d\d:\d\d:\d\d", body), name  # no seconds
        shown[name] = set(re.findall(r"2030-\d\d-\d\d \d\d:\d\d EES?T", body))
    assert shown["payment"] >= {"2030-06-01 15:04 EEST", "2030-01-16 00:59 EET"}
    assert shown["order"] >= {"2030-06-01 15:04 EEST", "2030-01-16 00:59 EET"}
    assert shown["notifications"] == {"2030-01-16 00:59 EET"}
    assert shown["notification"] == {"2030-01-16 00:59 EET", "2030-06-01 15:04 EEST"}
    assert shown["exchanges"] == {"2030-06-01 15:04 EEST"}
    assert "2030-06-01 15:04 EEST" in shown["payments"]


# --- codes in words ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_gateway_codes_card_and_expiry_in_words(admin_client, live):
    paid = pay(live)
    body = text(admin_client.get(change_url(paid)))
    assert "2 — deposited" in body
    assert "0 — approved" in body
    assert "12/2030" in body and "203012" not in body
    assert "VISA 444455••3333" in body
    declined = pay(live, DECLINED_CARD)
    body = text(admin_client.get(change_url(declined)))
    assert "6 — declined" in body
    assert "116 — not enough funds, or a card limit reached" in body
    order_page = text(admin_client.get(order_url(declined)))
    assert "116 — not enough funds, or a card limit reached" in order_page
    assert "6 — declined" in order_page


# --- notification outcomes ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_notification_outcomes(admin_client, live):
    from checkout.sandbox import crypto, defaults

    def signed(payment_number: str, operation: str = "deposited") -> Notification:
        params = {"orderNumber": payment_number, "operation": operation, "status": "1"}
        params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
        return NotificationFactory(params=params)

    paid = pay(live)
    rows = {}
    rows["processed"] = signed(paid.order_number)
    callbacks.handle(rows["processed"])
    rows["not_ours"] = signed("NOT-OURS-1")
    callbacks.handle(rows["not_ours"])
    rows["refused"] = NotificationFactory(params={"orderNumber": paid.order_number, "x": "1"})
    callbacks.handle(rows["refused"])
    # The gateway cannot answer the status query: the delivery failed and is retried.
    set_fault(fault="http500_before", fault_endpoints="getOrderStatusExtended.do")
    rows["failed"] = signed(paid.order_number)
    callbacks.handle(rows["failed"])
    set_fault(fault="", fault_endpoints="")
    # A refund in flight (its answer lost) settles the payment itself.
    set_fault(fault="drop_after", fault_endpoints="refund.do", fault_remaining=1)
    confirmation = review(admin_client, paid, "refund", amount="1.00")
    confirm(admin_client, paid, "refund", confirmation)
    rows["by_operation"] = signed(paid.order_number, "refunded")
    callbacks.handle(rows["by_operation"])
    # Deliveries deferred to the next status query, one of them covered by it since.
    rows["waiting"] = NotificationFactory(payment=paid, error=callbacks.DEFERRED)
    rows["covered"] = NotificationFactory(payment=paid, error=callbacks.DEFERRED)
    later = datetime(2100, 1, 1, tzinfo=UTC)  # after the query below started
    Notification.objects.filter(pk=rows["waiting"].pk).update(received_at=later)
    callbacks.settle_covered(paid.pk, datetime.now(UTC))

    expected = {
        "processed": "processed",
        "not_ours": "not ours (unknown order)",
        "refused": "refused (wrong checksum or malformed)",
        "failed": "failed (retried)",
        "by_operation": "covered by the back-office operation",
        "waiting": "waiting for a status query",
        "covered": "covered by a later query",
    }
    listing = admin_client.get(NOTIFICATIONS)
    shown = {row.pk: row.outcome for row in listing.context["cl"].result_list}
    assert shown == {row.pk: name for name, row in rows.items()}
    for name, row in rows.items():
        url = reverse("admin:jcc_checkout_notification_change", args=[row.pk])
        assert f"Outcome: {expected[name]}" in text(admin_client.get(url)), name
        # The list's filter finds each row under its outcome, and only there.
        found = admin_client.get(NOTIFICATIONS, {"outcome": name}).context["cl"].result_list
        assert [r.pk for r in found] == [row.pk], name
        assert expected[name] in text(listing)
    # The list has no "error" column any more: what went wrong, or how it was settled, is
    # in the details.
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', listing.content.decode())
    assert "outcome_display" in headers and "short_details" in headers
    assert not any("error" in header for header in headers)
    # The payment's page and its order's page say the same.
    for url in (change_url(paid), order_url(paid)):
        body = text(admin_client.get(url))
        for name in ("processed", "by_operation", "covered", "waiting"):
            assert expected[name] in body, (url, name)
