"""checkout.backoffice: capture, void and refund against the sandbox gateway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone, translation

from checkout import backoffice
from checkout.cards import CardData
from checkout.exceptions import GatewayUnavailable, OperationNotAllowed, OutcomeUnknown
from checkout.models import Exchange, Payment, PaymentStatus, Source, StatusChange
from checkout.services import create_order, start_payment, submit_payment
from tests.factories import OperatorFactory, OrderFactory, PaymentFactory

S = PaymentStatus
SSL_CARD = CardData(pan="4444555511113333", cvc="123", expiry="203012")
ALL = ["jcc_checkout.capture_payment", "jcc_checkout.refund_payment"]


def pay(base_url: str, *, preauth: bool, amount: int = 1999) -> Payment:
    order = create_order(amount=amount, currency="EUR", description="Back-office test")
    payment = start_payment(order, preauth=preauth)
    back = base_url + reverse("jcc_checkout:return")
    payment, _ = submit_payment(payment, back_url=back, fail_url=back, card=SSL_CARD)
    assert payment.status == (S.HELD if preauth else S.PAID)
    return payment


def bank_order(payment: Payment):
    from checkout.sandbox.models import Order as BankOrder

    return BankOrder.objects.get(pk=payment.gateway_order_id)


def bank_operations(payment: Payment, kind: str) -> list[int]:
    return list(bank_order(payment).operations.filter(kind=kind).values_list("amount", flat=True))


def fault(kind: str, endpoint: str, times: int = 1) -> None:
    """Switch on a transport fault of the sandbox for the next ``times`` calls."""
    from checkout.sandbox.models import Merchant

    merchant = Merchant.objects.default()
    Merchant.objects.filter(pk=merchant.pk).update(
        fault=kind, fault_endpoints=endpoint, fault_remaining=times
    )


def exchanges(payment: Payment, operation: str) -> list[Exchange]:
    return list(Exchange.objects.filter(payment=payment, operation=operation).order_by("pk"))


def assert_no_intent(payment: Payment) -> None:
    payment.refresh_from_db()
    assert payment.pending_operation == ""
    assert payment.pending_amount == 0
    assert payment.pending_since is None
    assert payment.pending_operator is None


@pytest.fixture
def live(sandbox_url, live_server):
    return live_server.url


@pytest.fixture
def operator(db):
    return OperatorFactory(permissions=ALL)


# --- checks made before the gateway is asked -------------------------------------------------


@pytest.mark.django_db
class TestRefusedBeforeAnyCall:
    def test_capture_needs_its_permission(self):
        payment = PaymentFactory(status=S.HELD, gateway_order_id="g1")
        clerk = OperatorFactory(permissions=["jcc_checkout.refund_payment"])
        with pytest.raises(PermissionDenied):
            backoffice.capture(payment, operator=clerk, reason="ship")
        with pytest.raises(PermissionDenied):
            backoffice.void(payment, operator=clerk, reason="cancelled")
        assert_no_intent(payment)
        assert not Exchange.objects.exists()

    def test_refund_needs_its_permission(self):
        payment = PaymentFactory(status=S.PAID, gateway_order_id="g1", captured_amount=1999)
        clerk = OperatorFactory(permissions=["jcc_checkout.capture_payment"])
        with pytest.raises(PermissionDenied):
            backoffice.refund(payment, operator=clerk, reason="returned")
        assert not Exchange.objects.exists()

    def test_reason_is_required(self, operator):
        payment = PaymentFactory(status=S.HELD, gateway_order_id="g1")
        with pytest.raises(OperationNotAllowed, match="reason"):
            backoffice.capture(payment, operator=operator, reason="   ")

    @pytest.mark.parametrize("status", [S.PAID, S.AWAITING_3DS, S.VOIDED, S.REFUNDED])
    def test_capture_only_from_held(self, operator, status):
        payment = PaymentFactory(status=status, gateway_order_id="g1")
        with pytest.raises(OperationNotAllowed, match="cannot capture"):
            backoffice.capture(payment, operator=operator, reason="ship")
        assert_no_intent(payment)

    def test_refusals_are_whole_sentences_in_the_active_language(self, operator):
        """Each operation has its own sentence (Greek changes the words around the noun);
        the payment is not named: whoever shows the message names it once."""
        paid = PaymentFactory(status=S.PAID, gateway_order_id="g1", captured_amount=1999)
        expected = {
            backoffice.capture: "δεν γίνεται είσπραξη πληρωμής σε κατάσταση «Πληρώθηκε»",
            backoffice.void: "δεν γίνεται αποδέσμευση πληρωμής σε κατάσταση «Πληρώθηκε»",
        }
        with translation.override("el"):
            for operation, sentence in expected.items():
                with pytest.raises(OperationNotAllowed) as refused:
                    operation(paid, operator=operator, reason="x")
                assert str(refused.value) == sentence
                assert paid.order_number not in str(refused.value)
            with pytest.raises(OperationNotAllowed) as too_much:
                backoffice.refund(paid, 5000, operator=operator, reason="x")
        assert str(too_much.value) == (
            "το ποσό της επιστροφής πρέπει να είναι από 0,01\u00a0€ έως 19,99\u00a0€"
        )
        assert_no_intent(paid)

    @pytest.mark.parametrize("amount", [0, -5, 2000, 10**12])
    def test_refund_amount_out_of_range(self, operator, amount):
        payment = PaymentFactory(
            status=S.PARTLY_REFUNDED, gateway_order_id="g1", captured_amount=1999, refunded_amount=0
        )
        with pytest.raises(OperationNotAllowed, match="between"):
            backoffice.refund(payment, amount, operator=operator, reason="x")
        assert_no_intent(payment)

    def test_amount_must_be_an_integer(self, operator):
        payment = PaymentFactory(status=S.PAID, gateway_order_id="g1", captured_amount=1999)
        with pytest.raises(OperationNotAllowed, match="minor units"):
            backoffice.refund(payment, 10.5, operator=operator, reason="x")  # type: ignore[arg-type]

    def test_one_pending_operation_per_payment(self, operator):
        payment = PaymentFactory(
            status=S.PAID,
            gateway_order_id="g1",
            captured_amount=1999,
            pending_operation="refund",
            pending_amount=500,
            pending_since=timezone.now(),
        )
        with pytest.raises(OperationNotAllowed, match="already in progress"):
            backoffice.refund(payment, 100, operator=operator, reason="x")
        payment.refresh_from_db()
        assert (payment.pending_operation, payment.pending_amount) == ("refund", 500)
        assert not Exchange.objects.exists()

    def test_partial_refund_of_a_hold_is_refused(self, operator):
        payment = PaymentFactory(status=S.HELD, gateway_order_id="g1", approved_amount=1999)
        with pytest.raises(OperationNotAllowed, match="only held"):
            backoffice.refund(payment, 100, operator=operator, reason="x")

    def test_not_inside_a_transaction(self, operator, django_db_blocker):
        from django.db import transaction

        payment = PaymentFactory(status=S.HELD, gateway_order_id="g1")
        with transaction.atomic(), pytest.raises(RuntimeError):
            backoffice.capture(payment, operator=operator, reason="x")


def test_mark_fulfilled(db):
    order = OrderFactory()
    assert backoffice.mark_fulfilled(order) is True
    assert order.fulfilled_at is not None
    assert backoffice.mark_fulfilled(order) is False


# --- against the sandbox ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestCapture:
    def test_full(self, live, operator):
        payment = pay(live, preauth=True)
        payment = backoffice.capture(payment, operator=operator, reason="goods shipped")
        assert payment.status == S.PAID
        assert payment.captured_amount == 1999
        assert_no_intent(payment)
        change = StatusChange.objects.filter(payment=payment).latest()
        assert (change.from_status, change.to_status) == (S.HELD, S.PAID)
        assert change.source == Source.ADMIN
        assert change.operator == operator
        assert change.note == "capture 19.99 EUR: goods shipped"
        assert bank_operations(payment, "deposit") == [1999]
        # The gateway's state was read before the call and again after it.
        ops = list(
            Exchange.objects.filter(payment=payment)
            .order_by("pk")
            .values_list("operation", flat=True)
        )
        assert ops[-3:] == ["getOrderStatusExtended.do", "deposit.do", "getOrderStatusExtended.do"]

    def test_partial_then_refund_is_limited_to_the_captured_part(self, live, operator):
        payment = pay(live, preauth=True)
        payment = backoffice.capture(payment, 1500, operator=operator, reason="one item short")
        assert (payment.status, payment.captured_amount) == (S.PAID, 1500)
        with pytest.raises(OperationNotAllowed):
            backoffice.refund(payment, 1501, operator=operator, reason="too much")
        payment = backoffice.refund(payment, operator=operator, reason="all of it")
        assert (payment.status, payment.refunded_amount) == (S.REFUNDED, 1500)
        assert bank_operations(payment, "refund") == [1500]

    def test_captured_elsewhere_meanwhile(self, live, operator):
        """Our view says held, the gateway says deposited: refused, and our view is fixed."""
        from checkout.sandbox import processing

        payment = pay(live, preauth=True)
        processing.deposit(bank_order(payment), 0)
        with pytest.raises(OperationNotAllowed, match="deposited"):
            backoffice.capture(payment, operator=operator, reason="ship")
        payment.refresh_from_db()
        assert payment.status == S.PAID
        assert_no_intent(payment)
        assert bank_operations(payment, "deposit") == [1999]

    def test_gateway_unavailable_moves_nothing_and_clears_the_intent(self, live, operator):
        payment = pay(live, preauth=True)
        fault("http429", "deposit.do")
        with pytest.raises(GatewayUnavailable) as info:
            backoffice.capture(payment, operator=operator, reason="ship")
        assert not isinstance(info.value, OutcomeUnknown)
        assert_no_intent(payment)
        assert payment.status == S.HELD
        assert bank_operations(payment, "deposit") == []


@pytest.mark.django_db(transaction=True)
class TestVoid:
    def test_hold(self, live, operator):
        payment = pay(live, preauth=True)
        payment = backoffice.void(payment, operator=operator, reason="out of stock")
        assert payment.status == S.VOIDED
        assert_no_intent(payment)
        assert bank_order(payment).status == 3
        change = StatusChange.objects.filter(payment=payment).latest()
        assert change.operator == operator and "out of stock" in change.note

    def test_paid_payment_cannot_be_voided(self, live, operator):
        payment = pay(live, preauth=False)
        with pytest.raises(OperationNotAllowed):
            backoffice.void(payment, operator=operator, reason="x")

    def test_full_refund_of_a_hold_is_a_reversal(self, live, operator):
        payment = pay(live, preauth=True)
        payment = backoffice.refund(payment, operator=operator, reason="customer cancelled")
        assert payment.status == S.VOIDED
        assert bank_operations(payment, "reverse") == [1999]
        assert bank_operations(payment, "refund") == []


@pytest.mark.django_db(transaction=True)
class TestRefund:
    def test_repeated_partial_refunds_up_to_the_captured_amount(self, live, operator):
        payment = pay(live, preauth=False)
        payment = backoffice.refund(payment, 500, operator=operator, reason="damaged box")
        assert (payment.status, payment.refunded_amount) == (S.PARTLY_REFUNDED, 500)
        payment = backoffice.refund(payment, 499, operator=operator, reason="late delivery")
        assert (payment.status, payment.refunded_amount) == (S.PARTLY_REFUNDED, 999)
        with pytest.raises(OperationNotAllowed, match="between"):
            backoffice.refund(payment, 1001, operator=operator, reason="too much")
        payment = backoffice.refund(payment, operator=operator, reason="the rest")
        assert (payment.status, payment.refunded_amount) == (S.REFUNDED, 1999)
        with pytest.raises(OperationNotAllowed):
            backoffice.refund(payment, operator=operator, reason="again")
        assert bank_operations(payment, "refund") == [500, 499, 1000]
        notes = list(
            StatusChange.objects.filter(payment=payment, source=Source.ADMIN)
            .order_by("pk")
            .values_list("note", "operator")
        )
        assert notes == [
            ("refund 5.00 EUR: damaged box", operator.pk),
            ("refund 4.99 EUR: late delivery", operator.pk),
            ("refund 10.00 EUR: the rest", operator.pk),
        ]

    def test_request_carries_the_idempotency_fields(self, live, operator):
        payment = pay(live, preauth=False)
        backoffice.refund(payment, 700, operator=operator, reason="x")
        sent = exchanges(payment, "refund.do")[0].request
        assert sent["amount"] == "700"
        assert sent["expectedDepositedAmount"] == "1999"
        assert sent["externalRefundId"].startswith(f"{payment.pk}-")
        assert len(sent["externalRefundId"]) <= 32
        stored = bank_order(payment).operations.get(kind="refund")
        assert stored.external_refund_id == sent["externalRefundId"]

    def test_outcome_unknown_keeps_the_intent_and_is_settled_by_a_status_query(
        self, live, operator
    ):
        payment = pay(live, preauth=False)
        fault("drop_after", "refund.do")
        with pytest.raises(OutcomeUnknown):
            backoffice.refund(payment, 600, operator=operator, reason="broken screen")
        payment.refresh_from_db()
        # The money moved at the bank, but we cannot know yet: the intent stays recorded.
        assert bank_operations(payment, "refund") == [600]
        assert (payment.pending_operation, payment.pending_amount) == ("refund", 600)
        assert payment.pending_operator == operator
        assert payment.status == S.PAID
        # No second operation can start meanwhile, so nothing is repeated blindly.
        with pytest.raises(OperationNotAllowed, match="in progress"):
            backoffice.refund(payment, 600, operator=operator, reason="again")

        payment, outcome = backoffice.settle_pending(payment)
        assert outcome == "settled"
        assert (payment.status, payment.refunded_amount) == (S.PARTLY_REFUNDED, 600)
        assert_no_intent(payment)
        change = StatusChange.objects.filter(payment=payment).latest()
        assert change.source == Source.RECONCILIATION
        assert change.operator == operator
        assert change.note == "refund 6.00 EUR: broken screen"
        assert bank_operations(payment, "refund") == [600]
        assert len(exchanges(payment, "refund.do")) == 1

    def test_outcome_unknown_that_did_not_happen(self, live, operator):
        payment = pay(live, preauth=False)
        fault("http500_before", "refund.do")
        with pytest.raises(OutcomeUnknown):
            backoffice.refund(payment, 600, operator=operator, reason="x")
        payment.refresh_from_db()
        assert payment.pending_operation == "refund"
        # Too early to say it did not happen: the request may still be carried out.
        payment, outcome = backoffice.settle_pending(payment)
        assert outcome == "pending"
        assert payment.pending_operation == "refund"
        Payment.objects.filter(pk=payment.pk).update(
            pending_since=timezone.now() - timedelta(hours=1)
        )
        payment, outcome = backoffice.settle_pending(payment)
        assert outcome == "did not happen"
        assert_no_intent(payment)
        assert payment.status == S.PAID and payment.refunded_amount == 0
        assert bank_operations(payment, "refund") == []

    def test_refresh_settles_a_pending_operation_first(self, live, operator):
        payment = pay(live, preauth=True)
        fault("http500_after", "deposit.do")
        with pytest.raises(OutcomeUnknown):
            backoffice.capture(payment, operator=operator, reason="ship")
        payment = backoffice.refresh(payment, operator=operator)
        assert payment.status == S.PAID
        assert_no_intent(payment)
