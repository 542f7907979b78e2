"""checkout.services: orders, claiming attempts, applying the gateway's status answers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from checkout import backoffice, signals
from checkout.exceptions import OrderNotPayable, OutcomeUnknown
from checkout.gateway import CardAuthInfo, OrderStatus, PaymentAmountInfo
from checkout.models import Order, Payment, PaymentStatus, Source, StatusChange
from checkout.services import (
    apply_order_status,
    create_order,
    new_order_number,
    refresh_payment,
    start_payment,
    transition,
)
from tests.factories import OperatorFactory, OrderFactory, PaymentFactory
from tests.test_backoffice import bank_operations, fault, pay

S = PaymentStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    """Every payment_status_changed and order_paid sent during the test."""
    seen: dict[str, list[dict]] = {"changed": [], "paid": []}

    def on_changed(sender, **kwargs):
        seen["changed"].append(kwargs)

    def on_paid(sender, **kwargs):
        seen["paid"].append(kwargs)

    signals.payment_status_changed.connect(on_changed, dispatch_uid="test-changed")
    signals.order_paid.connect(on_paid, dispatch_uid="test-paid")
    yield seen
    signals.payment_status_changed.disconnect(dispatch_uid="test-changed")
    signals.order_paid.disconnect(dispatch_uid="test-paid")


@pytest.fixture
def oncommit(django_capture_on_commit_callbacks):
    """Runs on_commit callbacks (the signals) when the block exits."""
    return django_capture_on_commit_callbacks


def answer(payment: Payment, order_status: int | None, action_code: int | None = 0, **kw):
    """A getOrderStatusExtended answer about ``payment`` (override any field)."""
    amounts = {
        1: PaymentAmountInfo("APPROVED", payment.amount, 0, 0),
        2: PaymentAmountInfo("DEPOSITED", payment.amount, payment.amount, 0),
        6: PaymentAmountInfo("DECLINED", 0, 0, 0),
    }.get(order_status, PaymentAmountInfo())
    values = {
        "order_number": payment.order_number,
        "order_id": payment.gateway_order_id or "8a1f9c64-0000-4000-8000-000000000001",
        "order_status": order_status,
        "action_code": action_code,
        "action_code_description": "",
        "amount": payment.amount,
        "currency": "978",
        "currency_code": "EUR",
        "date": None,
        "card": CardAuthInfo("444455**3333", "203012", "A SHOPPER", "123456", "VISA"),
        "amounts": amounts,
        "error_message": "",
    }
    values.update(kw)
    return OrderStatus(**values)


# --- orders ----------------------------------------------------------------------------


def test_create_order_normalises_and_sets_expiry(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "ORDER_EXPIRY": 3600}
    user = get_user_model().objects.create(username="buyer")
    before = timezone.now()
    order = create_order(
        amount=1450,
        currency="eur",
        description="  Halloumi  ",
        email="a@example.com",
        ip="192.0.2.7",
        language="EL",
        merchant_reference="cart-17",
        content_object=user,
    )
    order.refresh_from_db()
    assert (order.amount, order.currency, order.description) == (1450, "EUR", "Halloumi")
    assert order.language == "el" and order.ip_address == "192.0.2.7"
    assert order.content_object == user and order.merchant_reference == "cart-17"
    assert (
        before + timedelta(seconds=3600)
        <= order.expires_at
        <= timezone.now() + timedelta(seconds=3600)
    )
    assert not order.is_expired and not order.is_paid


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 19.99},
        {"amount": True},
        {"currency": "XYZ"},
        {"description": "<script>alert(1)</script>"},
        {"email": "not an address"},
    ],
)
def test_create_order_refuses_bad_input(kwargs):
    values = {"amount": 100, "currency": "EUR", **kwargs}
    with pytest.raises((ValueError, ValidationError)):
        create_order(**values)
    assert Order.objects.count() == 0


def test_order_numbers_are_short_unique_ascii(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "ORDER_NUMBER_PREFIX": "SHOP-"}
    numbers = {new_order_number() for _ in range(2000)}
    assert len(numbers) == 2000
    assert all(n.startswith("SHOP-") and len(n) <= 30 and n.isascii() for n in numbers)


def test_too_long_order_number_prefix_is_a_configuration_error(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "ORDER_NUMBER_PREFIX": "X" * 14}
    with pytest.raises(ImproperlyConfigured, match="ORDER_NUMBER_PREFIX"):
        new_order_number()


def test_amount_and_currency_are_frozen_once_the_order_has_a_payment():
    order = OrderFactory(amount=1000)
    order.amount = 1200  # no attempt yet: the shop may still change its mind
    order.save()
    PaymentFactory(order=order)
    order.refresh_from_db()
    order.amount = 1
    with pytest.raises(ValueError, match="frozen"):
        order.save()
    order.refresh_from_db()
    order.currency = "USD"
    with pytest.raises(ValueError, match="frozen"):
        order.save(update_fields=["currency"])
    order.refresh_from_db()
    order.email = "new@example.com"
    order.save(update_fields=["email"])
    assert Order.objects.get(pk=order.pk).amount == 1200


def test_expired_orders(settings):
    past = timezone.now() - timedelta(minutes=1)
    stale = OrderFactory(expires_at=past)
    paid_late = OrderFactory(expires_at=past)
    PaymentFactory(order=paid_late, status=S.PAID)
    fresh = OrderFactory()
    assert list(Order.objects.expired()) == [stale]
    assert stale.is_expired and not paid_late.is_expired and not fresh.is_expired


# --- claiming an attempt ---------------------------------------------------------------


def test_start_payment_claims_a_new_attempt(oncommit, events):
    order = OrderFactory()
    with oncommit(execute=True):
        payment = start_payment(order)
    assert payment.status == S.PROCESSING
    assert (payment.amount, payment.currency) == (order.amount, order.currency)
    history = list(payment.history.values_list("from_status", "to_status", "source"))
    assert history == [(S.CREATED, S.PROCESSING, Source.CARD_ENTRY)]
    assert [e["to_status"] for e in events["changed"]] == [S.PROCESSING]
    assert events["paid"] == []


def test_start_payment_refuses_while_an_attempt_is_active():
    order = OrderFactory()
    first = start_payment(order)
    with pytest.raises(OrderNotPayable) as info:
        start_payment(order)
    assert info.value.reason == OrderNotPayable.IN_PROGRESS and info.value.payment == first
    assert order.payments.count() == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (S.PAID, OrderNotPayable.PAID),
        (S.HELD, OrderNotPayable.PAID),
        (S.REFUNDED, OrderNotPayable.PAID),
        (S.NEEDS_REVIEW, OrderNotPayable.REVIEW),
        (S.AWAITING_3DS, OrderNotPayable.IN_PROGRESS),
        (S.OUTCOME_UNKNOWN, OrderNotPayable.IN_PROGRESS),
    ],
)
def test_start_payment_refuses_when_money_is_secured_or_in_doubt(status, reason):
    existing = PaymentFactory(status=status)
    with pytest.raises(OrderNotPayable) as info:
        start_payment(existing.order)
    assert info.value.reason == reason


def test_retry_after_a_decline_is_a_new_attempt_with_a_new_number():
    order = OrderFactory()
    first = start_payment(order)
    transition(first, S.DECLINED, source=Source.CARD_ENTRY)
    second = start_payment(order)
    assert second.pk != first.pk and second.order_number != first.order_number
    assert list(order.payments.order_by("pk").values_list("status", flat=True)) == [
        S.DECLINED,
        S.PROCESSING,
    ]


def test_start_payment_refuses_an_expired_order():
    order = OrderFactory(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(OrderNotPayable) as info:
        start_payment(order)
    assert info.value.reason == OrderNotPayable.EXPIRED
    assert not order.payments.exists()


def test_database_allows_one_active_attempt_per_order():
    order = OrderFactory()
    PaymentFactory(order=order, status=S.AWAITING_3DS)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentFactory(order=order, status=S.PROCESSING)


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_start_one_attempt():
    order = OrderFactory()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def claim():
        try:
            barrier.wait()
            start_payment(order)
            outcomes.append("claimed")
        except OrderNotPayable as err:
            outcomes.append(err.reason)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed"] + [OrderNotPayable.IN_PROGRESS] * 3
    assert order.payments.count() == 1


# --- applying status answers ---------------------------------------------------------------


def apply(payment, status, capture, source=Source.CALLBACK):
    with capture(execute=True):
        return apply_order_status(payment, status, source=source)


def test_paid_answer_marks_paid_copies_details_and_signals_once(oncommit, events):
    payment = PaymentFactory(status=S.PROCESSING, gateway_order_id="gw-1")
    status = answer(payment, 2, 0, action_code_description="Approved")
    payment, changed = apply(payment, status, oncommit)
    assert changed and payment.status == S.PAID
    payment.refresh_from_db()
    assert payment.gateway_status == 2 and payment.action_code == 0
    assert payment.action_code_description == "Approved"
    assert (payment.card_brand, payment.masked_pan, payment.card_expiry) == (
        "VISA",
        "444455**3333",
        "203012",
    )
    assert payment.approval_code == "123456"
    assert (payment.approved_amount, payment.captured_amount, payment.refunded_amount) == (
        payment.amount,
        payment.amount,
        0,
    )
    assert payment.settled_at is not None
    row = payment.history.get()
    assert (row.from_status, row.to_status, row.source) == (S.PROCESSING, S.PAID, "callback")
    assert (row.gateway_status, row.action_code) == (2, 0)
    assert [(e["from_status"], e["to_status"]) for e in events["changed"]] == [
        (S.PROCESSING, S.PAID)
    ]
    assert len(events["paid"]) == 1 and events["paid"][0]["captured"] is True
    assert events["paid"][0]["order"] == payment.order

    # The same answer again (a callback after the return): nothing new happens.
    again, changed = apply(payment, status, oncommit)
    assert not changed and again.status == S.PAID
    assert payment.history.count() == 1 and len(events["paid"]) == 1
    assert len(events["changed"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_breaks_neither_the_caller_nor_the_transition(caplog):
    payment = PaymentFactory(status=S.PROCESSING, gateway_order_id="gw-13")

    def broken(sender, **kwargs):
        raise RuntimeError("mail server down")

    signals.order_paid.connect(broken, dispatch_uid="test-broken")
    try:
        # Committed for real: the receivers run as they do in production.
        payment, changed = apply_order_status(payment, answer(payment, 2), source=Source.CALLBACK)
    finally:
        signals.order_paid.disconnect(dispatch_uid="test-broken")
    assert changed and Payment.objects.get(pk=payment.pk).status == S.PAID
    # Logged; checkout_sync sends order_paid again until the order is marked fulfilled.
    assert "mail server down" in caplog.text


def test_hold_then_capture_signals_order_paid_once(oncommit, events):
    payment = PaymentFactory(status=S.AWAITING_3DS, gateway_order_id="gw-2", preauth=True)
    payment, _ = apply(payment, answer(payment, 1), oncommit)
    assert payment.status == S.HELD
    assert events["paid"][0]["captured"] is False
    payment, _ = apply(payment, answer(payment, 2), oncommit)
    assert payment.status == S.PAID and payment.captured_amount == payment.amount
    assert len(events["paid"]) == 1
    assert [e["to_status"] for e in events["changed"]] == [S.HELD, S.PAID]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 1),
        ("currency_code", "USD"),
        ("currency_code", ""),
        ("order_number", "SOMEONE-ELSES"),
        ("order_id", "another-gateway-order"),
    ],
)
def test_mismatching_answer_needs_review_and_never_pays(field, value, oncommit, events):
    payment = PaymentFactory(status=S.AWAITING_3DS, gateway_order_id="gw-3")
    status = answer(payment, 2, **{field: value})
    payment, changed = apply(payment, status, oncommit)
    assert changed and payment.status == S.NEEDS_REVIEW
    payment.refresh_from_db()
    assert payment.captured_amount == 0 and not payment.order.is_paid
    assert "mismatch" in payment.history.get().note
    assert events["paid"] == []


@pytest.mark.parametrize(
    ("action_code", "expected"), [(116, S.DECLINED), (208, S.DECLINED), (-2007, S.EXPIRED)]
)
def test_declined_answers(action_code, expected, oncommit, events):
    payment = PaymentFactory(status=S.AWAITING_3DS, gateway_order_id="gw-4")
    payment, _ = apply(payment, answer(payment, 6, action_code), oncommit)
    assert payment.status == expected and payment.action_code == action_code
    assert payment.captured_amount == 0 and events["paid"] == []


def test_an_older_answer_never_moves_a_payment_backwards(oncommit):
    payment = PaymentFactory(status=S.PROCESSING, gateway_order_id="gw-5")
    payment, _ = apply(payment, answer(payment, 2), oncommit)
    payment, changed = apply(payment, answer(payment, 1), oncommit)
    assert not changed and payment.status == S.PAID
    assert payment.history.count() == 1


def test_pending_answer_keeps_waiting_and_records_the_gateway_id(
    oncommit,
):
    payment = PaymentFactory(status=S.PROCESSING)
    status = answer(payment, 0, None, order_id="gw-6")
    payment, changed = apply(payment, status, oncommit)
    assert not changed and payment.status == S.PROCESSING
    assert Payment.objects.get(pk=payment.pk).gateway_order_id == "gw-6"


def test_unknown_outcome_found_waiting_for_3ds_can_resume(oncommit):
    payment = PaymentFactory(status=S.OUTCOME_UNKNOWN)
    status = answer(payment, 0, None, order_id="gw-7")
    payment, changed = apply(payment, status, oncommit)
    assert changed and payment.status == S.AWAITING_3DS and payment.gateway_order_id == "gw-7"


def test_partial_refund_then_full_refund(oncommit, events):
    payment = PaymentFactory(status=S.PROCESSING, gateway_order_id="gw-8")
    payment, _ = apply(payment, answer(payment, 2), oncommit)
    part = PaymentAmountInfo("REFUNDED", payment.amount, payment.amount, 500)
    payment, _ = apply(payment, answer(payment, 4, amounts=part), oncommit)
    assert payment.status == S.PARTLY_REFUNDED and payment.refunded_amount == 500
    full = PaymentAmountInfo("REFUNDED", payment.amount, payment.amount, payment.amount)
    payment, _ = apply(payment, answer(payment, 4, amounts=full), oncommit)
    assert payment.status == S.REFUNDED and payment.refunded_amount == payment.amount
    assert len(events["paid"]) == 1


def test_answer_without_amount_block_still_records_the_capture(
    oncommit,
):
    payment = PaymentFactory(status=S.PROCESSING, gateway_order_id="gw-9")
    payment, _ = apply(payment, answer(payment, 2, amounts=PaymentAmountInfo()), oncommit)
    assert payment.status == S.PAID and payment.captured_amount == payment.amount


def test_amounts_out_of_range_need_review(oncommit):
    payment = PaymentFactory(status=S.PROCESSING, gateway_order_id="gw-10")
    too_much = PaymentAmountInfo("DEPOSITED", payment.amount, payment.amount + 1, 0)
    payment, _ = apply(payment, answer(payment, 2, amounts=too_much), oncommit)
    assert payment.status == S.NEEDS_REVIEW and payment.captured_amount == 0


@pytest.mark.parametrize(
    ("order_status", "amounts"),
    [
        (2, PaymentAmountInfo("DEPOSITED", 1000, 1000, 0)),
        (1, PaymentAmountInfo("APPROVED", 1000, 0, 0)),
        (1, PaymentAmountInfo("APPROVED", 2500, 0, 0)),
    ],
)
def test_authorisation_of_another_amount_needs_review_and_never_pays(
    order_status, amounts, oncommit, events
):
    payment = PaymentFactory(status=S.AWAITING_3DS, gateway_order_id="gw-11")
    assert payment.amount == 1999
    payment, _ = apply(payment, answer(payment, order_status, amounts=amounts), oncommit)
    assert payment.status == S.NEEDS_REVIEW and not payment.order.is_paid
    assert payment.approved_amount == 0 and payment.captured_amount == 0
    assert events["paid"] == []


def test_capturing_part_of_a_hold_is_not_a_mismatch(oncommit, events):
    payment = PaymentFactory(status=S.PROCESSING, gateway_order_id="gw-12", preauth=True)
    payment, _ = apply(payment, answer(payment, 1), oncommit)
    part = PaymentAmountInfo("DEPOSITED", payment.amount, 1000, 0)
    payment, _ = apply(payment, answer(payment, 2, amounts=part), oncommit)
    assert payment.status == S.PAID and payment.captured_amount == 1000
    assert len(events["paid"]) == 1


def test_history_is_append_only():
    payment = PaymentFactory(status=S.PROCESSING)
    transition(payment, S.DECLINED, source=Source.CARD_ENTRY)
    row = StatusChange.objects.get(payment=payment)
    row.note = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        row.save()


def test_refresh_leaves_a_back_office_operation_in_flight_to_its_settlement(
    sandbox_url, live_server
):
    payment = pay(live_server.url, preauth=False)
    operator = OperatorFactory(permissions=["jcc_checkout.refund_payment"])
    fault("drop_after", "refund.do")
    with pytest.raises(OutcomeUnknown):
        backoffice.refund(payment, 600, operator=operator, reason="broken screen")
    assert bank_operations(payment, "refund") == [600]
    # A page load (the return URL, say) asks for the status meanwhile: it must not apply it.
    payment, changed = refresh_payment(
        Payment.objects.get(pk=payment.pk), source=Source.THREEDS_RETURN
    )
    assert not changed and payment.status == S.PAID and payment.refunded_amount == 0
    # The settlement then sees that the refund happened and names who asked for it.
    payment, outcome = backoffice.settle_pending(payment)
    assert outcome == "settled"
    assert (payment.status, payment.refunded_amount) == (S.PARTLY_REFUNDED, 600)
    change = payment.history.latest()
    assert change.operator == operator and change.note == "refund 6.00 EUR: broken screen"
