"""checkout.admin: read-only audit pages, search, and every back-office action."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from checkout.cards import CardData
from checkout.models import Exchange, Notification, Order, Payment, PaymentStatus, StatusChange
from checkout.services import create_order, start_payment, submit_payment, transition
from tests.factories import NotificationFactory, OperatorFactory, OrderFactory, PaymentFactory

S = PaymentStatus
SSL_CARD = CardData(pan="4444555511113333", cvc="123", expiry="203012")
FRICTIONLESS_CARD = CardData(pan="4111111111111111", cvc="123", expiry="203012")
PAYMENTS = reverse("admin:jcc_checkout_payment_changelist")
ORDERS = reverse("admin:jcc_checkout_order_changelist")
NOTIFICATIONS = reverse("admin:jcc_checkout_notification_changelist")
EXCHANGES = reverse("admin:jcc_checkout_exchange_changelist")


def pay(base_url: str, card: CardData = SSL_CARD, *, preauth: bool = False, **order) -> Payment:
    order = create_order(
        amount=order.pop("amount", 1999), currency="EUR", description="Admin test", **order
    )
    payment = start_payment(order, preauth=preauth)
    back = base_url + reverse("jcc_checkout:return")
    payment, _ = submit_payment(payment, back_url=back, fail_url=back, card=card)
    return payment


def messages_of(response) -> list[tuple[str, str]]:
    """The messages shown on the page the action redirected to."""
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def act(client: Client, url: str, action: str, objs, **form) -> object:
    """Run an admin action; with ``form`` given, also submit its intermediate form."""
    data = {"action": action, "_selected_action": [o.pk for o in objs], "index": "0"}
    if not form:
        return client.post(url, data, follow=True)
    first = client.post(url, data)
    assert first.status_code == 200, first
    return client.post(url, {**data, "apply": "1", **form}, follow=True)


@pytest.fixture
def live(sandbox_url, live_server):
    return live_server.url


def operator_client(*permissions: str) -> Client:
    client = Client()
    client.force_login(OperatorFactory(permissions=list(permissions)))
    return client


# --- pages --------------------------------------------------------------------------------


@pytest.mark.django_db
class TestPages:
    def test_lists_and_details_render(self, admin_client):
        payment = PaymentFactory(
            status=S.PAID,
            masked_pan="444455**3333",
            card_brand="VISA",
            gateway_order_id="0179018d-8f96-7fbe-bc2b-4b7e00a7d8c0",
            captured_amount=1999,
        )
        StatusChange.objects.create(
            payment=payment, from_status=S.PROCESSING, to_status=S.PAID, source="callback"
        )
        Exchange.objects.create(
            payment=payment, operation="getOrderStatusExtended.do", url="u", request={"a": "1"}
        )
        note = NotificationFactory(payment=payment, valid=True)
        for url in (PAYMENTS, ORDERS, NOTIFICATIONS, EXCHANGES):
            assert admin_client.get(url).status_code == 200
        page = admin_client.get(reverse("admin:jcc_checkout_payment_change", args=[payment.pk]))
        body = page.content.decode()
        assert page.status_code == 200
        assert "VISA 444455••3333" in body
        assert "€19.99" in body
        assert "getOrderStatusExtended.do" in body  # the exchange log inline
        assert "Callback" in body  # the status history inline
        assert reverse("admin:jcc_checkout_notification_change", args=[note.pk]) in body
        page = admin_client.get(reverse("admin:jcc_checkout_order_change", args=[payment.order_id]))
        assert payment.order_number in page.content.decode()
        for name, pk in (("notification", note.pk), ("exchange", Exchange.objects.get().pk)):
            url = reverse(f"admin:jcc_checkout_{name}_change", args=[pk])
            assert admin_client.get(url).status_code == 200

    def test_order_audit_tables(self, admin_client):
        payment = PaymentFactory(status=S.PROCESSING)
        transition(payment, S.FAILED, source="system", note="<b>card</b> refused")
        page = admin_client.get(reverse("admin:jcc_checkout_order_change", args=[payment.order_id]))
        body = page.content.decode()
        assert "<th>when</th><th>attempt</th><th>from</th><th>to</th>" in body
        assert f"<td>{payment.order_number}</td><td>Processing</td><td>Failed</td>" in body
        assert "&lt;b&gt;card&lt;/b&gt; refused" in body and "<b>card</b>" not in body
        # No exchange and no notification yet: a dash for each.
        assert body.count('<div class="readonly">—</div>') == 2

    @pytest.mark.parametrize("model", ["order", "payment", "notification", "exchange"])
    def test_read_only(self, admin_client, model):
        assert admin_client.get(reverse(f"admin:jcc_checkout_{model}_add")).status_code == 403
        obj = {
            "order": lambda: OrderFactory(),
            "payment": lambda: PaymentFactory(),
            "notification": lambda: NotificationFactory(),
            "exchange": lambda: Exchange.objects.create(operation="x", url="u"),
        }[model]()
        url = reverse(f"admin:jcc_checkout_{model}_delete", args=[obj.pk])
        assert admin_client.get(url).status_code == 403
        response = admin_client.post(
            reverse(f"admin:jcc_checkout_{model}_change", args=[obj.pk]), {"email": "x@y.z"}
        )
        assert response.status_code == 403

    def test_history_inlines_cannot_be_edited(self, admin_client):
        payment = PaymentFactory(status=S.PROCESSING)
        transition(payment, S.FAILED, source="system", note="original")
        page = admin_client.get(reverse("admin:jcc_checkout_payment_change", args=[payment.pk]))
        assert 'name="history-0-note"' not in page.content.decode()
        assert "original" in page.content.decode()


@pytest.mark.django_db
class TestSearch:
    @pytest.fixture
    def payments(self):
        first = PaymentFactory(
            status=S.PAID,
            masked_pan="444455**3333",
            gateway_order_id="aaaaaaaa-0000-0000-0000-000000000001",
            order=OrderFactory(email="alice@example.com"),
        )
        second = PaymentFactory(
            status=S.HELD,
            masked_pan="555555**5599",
            gateway_order_id="bbbbbbbb-0000-0000-0000-000000000002",
            order=OrderFactory(email="bob@example.com"),
        )
        return first, second

    def found(self, client, url, term) -> set[str]:
        response = client.get(url, {"q": term})
        assert response.status_code == 200
        return {str(obj.pk) for obj in response.context["cl"].result_list}

    @pytest.mark.parametrize(
        "term, index",
        [
            ("3333", 0),
            ("5599", 1),
            ("alice@example.com", 0),
            ("bob@", 1),
            ("aaaaaaaa-0000-0000-0000-000000000001", 0),
        ],
    )
    def test_payments(self, admin_client, payments, term, index):
        assert self.found(admin_client, PAYMENTS, term) == {str(payments[index].pk)}

    def test_payments_by_order_number_and_public_ids(self, admin_client, payments):
        first, second = payments
        assert self.found(admin_client, PAYMENTS, second.order_number) == {str(second.pk)}
        assert self.found(admin_client, PAYMENTS, str(first.public_id)) == {str(first.pk)}
        assert self.found(admin_client, PAYMENTS, str(first.order.public_id)) == {str(first.pk)}
        assert self.found(admin_client, PAYMENTS, "9999") == set()

    def test_payments_by_the_shops_reference_of_their_order(self, admin_client, payments):
        first, second = payments
        Order.objects.filter(pk=first.order_id).update(merchant_reference="K7Q2-M9XP")
        Order.objects.filter(pk=second.order_id).update(merchant_reference="K7Q2-M9XPX")
        assert self.found(admin_client, PAYMENTS, "K7Q2-M9XP") == {str(first.pk)}
        assert self.found(admin_client, PAYMENTS, "K7Q2") == set()  # exactly, not a part
        assert list(Payment.objects.identified_by(" K7Q2-M9XPX ")) == [second]

    @pytest.mark.parametrize("term", ["3333", "alice@example.com", "aaaaaaaa-0000"])
    def test_orders(self, admin_client, payments, term):
        assert self.found(admin_client, ORDERS, term) == {str(payments[0].order_id)}

    def test_orders_by_order_number_and_public_id(self, admin_client, payments):
        second = payments[1]
        assert self.found(admin_client, ORDERS, second.order_number) == {str(second.order_id)}
        assert self.found(admin_client, ORDERS, str(second.order.public_id)) == {
            str(second.order_id)
        }

    def test_orders_by_what_identifies_a_payment(self, admin_client, payments):
        first = payments[0]
        for term in (first.order_number, first.gateway_order_id, "3333", f" {first.order_number} "):
            assert self.found(admin_client, ORDERS, term) == {str(first.order_id)}, term

    def test_an_order_without_attempts_by_its_public_id(self, admin_client, payments):
        unpaid = OrderFactory()
        assert self.found(admin_client, ORDERS, str(unpaid.public_id)) == {str(unpaid.pk)}

    def test_search_keeps_the_list_filters(self, admin_client, payments):
        first = payments[0]
        for url, status, term in (
            (PAYMENTS, "status__exact", "3333"),
            (PAYMENTS, "status__exact", str(first.public_id)),
            (ORDERS, "payment_status", "3333"),
            (ORDERS, "payment_status", first.order_number),
        ):
            held = admin_client.get(url, {"q": term, status: S.HELD})
            assert list(held.context["cl"].result_list) == [], (url, term)
            paid = admin_client.get(url, {"q": term, status: S.PAID})
            assert len(paid.context["cl"].result_list) == 1, (url, term)

    def test_filters(self, admin_client, payments):
        first, second = payments
        response = admin_client.get(PAYMENTS, {"status__exact": S.HELD})
        assert [p.pk for p in response.context["cl"].result_list] == [second.pk]
        response = admin_client.get(ORDERS, {"payment_status": S.PAID, "currency": "EUR"})
        assert [o.pk for o in response.context["cl"].result_list] == [first.order_id]
        response = admin_client.get(ORDERS, {"fulfilled_at__isempty": "1"})
        assert len(response.context["cl"].result_list) == 2

    def test_notifications(self, admin_client, payments):
        note = NotificationFactory(
            payment=payments[0], params={"orderNumber": payments[0].order_number}
        )
        NotificationFactory(params={"orderNumber": "OTHER"})
        assert self.found(admin_client, NOTIFICATIONS, payments[0].order_number) == {str(note.pk)}


@pytest.mark.django_db
def test_actions_follow_permissions():
    def actions(client, url=PAYMENTS) -> set[str]:
        response = client.get(url)
        return {name for name, _ in response.context["action_form"].fields["action"].choices}

    viewer = operator_client("jcc_checkout.view_payment", "jcc_checkout.view_order")
    assert actions(viewer) == {"", "refresh_from_gateway"}
    capturer = operator_client("jcc_checkout.view_payment", "jcc_checkout.capture_payment")
    assert actions(capturer) == {"", "refresh_from_gateway", "capture_payments", "void_payments"}
    refunder = operator_client("jcc_checkout.view_payment", "jcc_checkout.refund_payment")
    assert actions(refunder) == {"", "refresh_from_gateway", "refund_payments"}
    # Asking for an action one may not run does nothing.
    payment = PaymentFactory(status=S.PAID, gateway_order_id="g", captured_amount=1999)
    act(refunder, PAYMENTS, "capture_payments", [payment])
    assert not Exchange.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "query"),
    [
        (PAYMENTS, "status=%00"),
        (PAYMENTS, "currency=E%00R"),
        (ORDERS, "payment_status=%00"),
        (NOTIFICATIONS, "created_at__gte=%00"),
        (EXCHANGES, "operation=%00"),
    ],
)
def test_a_nul_in_list_parameters_is_a_bad_request(admin_client, url, query):
    PaymentFactory()
    assert admin_client.get(f"{url}?{query}").status_code == 400
    assert admin_client.get(url).status_code == 200


@pytest.mark.django_db
def test_amount_needs_one_currency(admin_client):
    eur = PaymentFactory(status=S.PAID, gateway_order_id="g1", captured_amount=1999)
    usd = PaymentFactory(
        status=S.PAID,
        gateway_order_id="g2",
        captured_amount=1999,
        order=OrderFactory(currency="USD"),
    )
    response = act(admin_client, PAYMENTS, "refund_payments", [eur, usd], amount="1.00", reason="x")
    assert "one currency" in str(response.context["form"].errors)


@pytest.mark.django_db
def test_a_decimal_comma_is_refused_not_read_as_thousands(admin_client):
    paid = PaymentFactory(status=S.PAID, gateway_order_id="g", captured_amount=1999)
    response = act(admin_client, PAYMENTS, "refund_payments", [paid], amount="1,50", reason="x")
    assert "use a point for decimals" in str(response.context["form"].errors)
    assert not Exchange.objects.exists()


# --- actions against the sandbox -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestActions:
    def test_refresh(self, admin_client, live):
        from checkout.sandbox.models import Order as BankOrder
        from checkout.sandbox.processing import start_acs

        waiting = pay(live, FRICTIONLESS_CARD)
        start_acs(BankOrder.objects.get(pk=waiting.gateway_order_id))
        paid = pay(live)
        response = act(admin_client, PAYMENTS, "refresh_from_gateway", [waiting, paid])
        assert response.redirect_chain[-1][1] == 302
        assert sorted(messages_of(response)) == sorted(
            [
                ("success", f"{waiting}: Awaiting 3-D Secure → Paid"),
                ("success", f"{paid}: unchanged (Paid)"),
            ]
        )
        waiting.refresh_from_db()
        assert waiting.status == S.PAID

    def test_capture_with_amount_and_reason(self, admin_client, admin_user, live):
        held = pay(live, preauth=True)
        data = {"action": "capture_payments", "_selected_action": [held.pk], "index": "0"}
        form = admin_client.post(PAYMENTS, data)
        assert form.status_code == 200
        assert b"Reason" in form.content and held.order_number.encode() in form.content
        response = admin_client.post(
            PAYMENTS,
            {**data, "apply": "1", "amount": "15.00", "reason": "one item short"},
            follow=True,
        )
        assert response.redirect_chain[-1][1] == 302
        [(level, text)] = messages_of(response)
        assert level == "success" and "captured" in text
        held.refresh_from_db()
        assert (held.status, held.captured_amount) == (S.PAID, 1500)
        change = StatusChange.objects.filter(payment=held).latest()
        assert change.operator == admin_user
        assert change.note == "capture 15.00 EUR: one item short"

    def test_form_errors_change_nothing(self, admin_client, live):
        held = pay(live, preauth=True)
        for form in ({"amount": "", "reason": ""}, {"amount": "1.234", "reason": "x"}):
            response = act(admin_client, PAYMENTS, "capture_payments", [held], **form)
            assert response.status_code == 200
            assert response.context["form"].errors
        held.refresh_from_db()
        assert held.status == S.HELD
        assert not Exchange.objects.filter(operation="deposit.do").exists()

    def test_void(self, admin_client, live):
        held = pay(live, preauth=True)
        response = act(admin_client, PAYMENTS, "void_payments", [held], reason="out of stock")
        [(level, text)] = messages_of(response)
        assert (level, text) == (
            "success",
            f"{held}: the hold of €19.99 is released; now Voided.",
        )
        held.refresh_from_db()
        assert held.status == S.VOIDED

    def test_refund_reports_each_payment(self, admin_client, live):
        paid = pay(live)
        held = pay(live, preauth=True)
        failed = PaymentFactory(status=S.FAILED)
        response = act(
            admin_client, PAYMENTS, "refund_payments", [paid, failed], amount="5.00", reason="r"
        )
        # The failed payment is left out before the form, and named once, on both pages.
        left_out = (
            "warning",
            f"Nothing to refund, left out: {failed} (it is Failed: nothing to refund).",
        )
        assert messages_of(response) == [
            left_out,
            (
                "success",
                f"{paid}: refunded €5.00; now Partly refunded, €5.00 refunded of €19.99 captured.",
            ),
        ]
        assert all(
            text.count(str(paid)) + text.count(str(failed)) == 1
            for _, text in messages_of(response)
        )
        paid.refresh_from_db()
        assert (paid.status, paid.refunded_amount) == (S.PARTLY_REFUNDED, 500)
        # A hold is voided, not refunded: the action leaves it out and shows no form.
        response = act(admin_client, PAYMENTS, "refund_payments", [held])
        assert messages_of(response) == [
            ("warning", f"Nothing to refund, left out: {held} (it is only held: void it instead)."),
            ("warning", "Nothing selected can be refunded."),
        ]
        held.refresh_from_db()
        assert held.status == S.HELD
        assert not Exchange.objects.filter(payment=held, operation="reverse.do").exists()

    def test_outcome_unknown_is_a_warning(self, admin_client, live):
        from checkout.sandbox.models import Merchant

        paid = pay(live)
        Merchant.objects.filter(pk=Merchant.objects.default().pk).update(
            fault="drop_after", fault_endpoints="refund.do", fault_remaining=1
        )
        response = act(admin_client, PAYMENTS, "refund_payments", [paid], amount="", reason="r")
        [(level, text)] = messages_of(response)
        assert level == "warning" and "do not repeat" in text
        paid.refresh_from_db()
        assert paid.pending_operation == "refund"

    def test_order_actions_pick_the_right_payment(self, admin_client, live):
        held = pay(live, preauth=True)
        unpaid = OrderFactory()
        response = act(
            admin_client,
            ORDERS,
            "capture_payments",
            [held.order, unpaid],
            amount="",
            reason="ship",
        )
        assert messages_of(response) == [
            ("warning", f"Not capturable, left out: {unpaid} (no payment attempt)."),
            ("success", f"{held}: captured €19.99; now Paid."),
        ]
        held.refresh_from_db()
        assert held.status == S.PAID
        response = act(admin_client, ORDERS, "mark_fulfilled", [held.order, unpaid])
        assert sorted(level for level, _ in messages_of(response)) == ["error", "success"]
        assert Order.objects.get(pk=held.order_id).fulfilled_at is not None

    def test_operator_without_refund_permission(self, live):
        paid = pay(live)
        client = operator_client("jcc_checkout.view_payment", "jcc_checkout.capture_payment")
        response = act(client, PAYMENTS, "refund_payments", [paid])
        assert response.status_code == 200
        assert "No action selected" in str(messages_of(response))
        paid.refresh_from_db()
        assert paid.status == S.PAID
        assert not Exchange.objects.filter(operation="refund.do").exists()

    def test_reprocess_notification(self, admin_client, live):
        from checkout.sandbox import crypto, defaults
        from checkout.sandbox.models import Order as BankOrder
        from checkout.sandbox.processing import start_acs

        waiting = pay(live, FRICTIONLESS_CARD)
        start_acs(BankOrder.objects.get(pk=waiting.gateway_order_id))
        params = {"orderNumber": waiting.order_number, "operation": "deposited", "status": "1"}
        params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
        good = NotificationFactory(params=params, error="status query failed")
        forged = NotificationFactory(params={**params, "status": "0"})
        response = act(admin_client, NOTIFICATIONS, "reprocess", [good, forged])
        levels = {text.split(" ")[1]: level for level, text in messages_of(response)}
        assert levels == {str(good.pk): "success", str(forged.pk): "error"}
        waiting.refresh_from_db()
        assert waiting.status == S.PAID
        good.refresh_from_db()
        assert good.processed_at is not None and good.valid is True
        assert Notification.objects.get(pk=forged.pk).valid is False
