"""Back-office operations on a payment: capture, void, refund, and settling their outcome.

Each operation follows the same steps, none of which holds a database lock while the
gateway is called:

1. Claim: in a short locked transaction, check the payment's status and amounts and record
   the intent (``pending_operation``, ``pending_amount``, ``pending_since``, who and why).
   One pending operation per payment: a second request is refused, which is what keeps
   concurrent refunds from exceeding the captured amount.
2. Ask the gateway where the order stands and choose the call from that (a "refund" of a
   hold is a reversal, as JCC's own tools do it).
3. Make the money-moving call, once. ``OutcomeUnknown`` keeps the intent: checkout_sync
   settles it later with a status query; the call is never repeated.
4. Confirm with a status query, apply it through ``services.apply_order_status()`` (the
   history row names the operator and the reason) and clear the intent.

The messages of the exceptions raised here are translated and do not repeat the payment's
number: the caller, which knows the payment, names it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from checkout import services
from checkout.conf import checkout_settings
from checkout.exceptions import GatewayError, OperationNotAllowed, OutcomeUnknown
from checkout.gateway import OrderStatus, get_client
from checkout.models import Order, Payment
from checkout.money import format_amount, format_money
from checkout.services.transitions import require_no_transaction
from checkout.status import (
    DEPOSITED_ORDER_STATUSES,
    REFUNDABLE_STATUSES,
    GatewayOrderStatus,
    PaymentStatus,
    Source,
)

__all__ = [
    "CAPTURE",
    "PERMISSIONS",
    "REFUND",
    "VOID",
    "capture",
    "mark_fulfilled",
    "operation_grace",
    "refresh",
    "refund",
    "refund_id",
    "settle_pending",
    "void",
]

logger = logging.getLogger(__name__)

S = PaymentStatus

CAPTURE = "capture"
VOID = "void"
REFUND = "refund"

#: Permission each operation needs when an operator asks for it.
PERMISSIONS = {
    CAPTURE: "jcc_checkout.capture_payment",
    VOID: "jcc_checkout.capture_payment",
    REFUND: "jcc_checkout.refund_payment",
}

#: Local statuses each operation may start from (the gateway's state decides the rest).
_STARTS = {
    CAPTURE: frozenset({S.HELD}),
    VOID: frozenset({S.HELD}),
    REFUND: REFUNDABLE_STATUSES,
}

G = GatewayOrderStatus

# What the operator is told: whole sentences, one per operation (the words differ by
# language), without the payment: the caller names it once. Looked up when raised, in the
# language active then.
_NO_PERMISSION: dict[str, Callable[[], str]] = {
    CAPTURE: lambda: gettext("You may not capture payments."),
    VOID: lambda: gettext("You may not void payments."),
    REFUND: lambda: gettext("You may not refund payments."),
}
_IN_PROGRESS: dict[str, Callable[[], str]] = {
    CAPTURE: lambda: gettext("a capture is already in progress"),
    VOID: lambda: gettext("a void is already in progress"),
    REFUND: lambda: gettext("a refund is already in progress"),
}
_CANNOT_START: dict[str, Callable[[], str]] = {
    CAPTURE: lambda: gettext("cannot capture a payment that is %(status)s"),
    VOID: lambda: gettext("cannot void a payment that is %(status)s"),
    REFUND: lambda: gettext("cannot refund a payment that is %(status)s"),
}
_AMOUNT_RANGE: dict[str, Callable[[], str]] = {
    CAPTURE: lambda: gettext("the capture amount must be between %(least)s and %(most)s"),
    VOID: lambda: gettext("the void amount must be between %(least)s and %(most)s"),
    REFUND: lambda: gettext("the refund amount must be between %(least)s and %(most)s"),
}
_REFUSED_BY_STATE: dict[str, Callable[[], str]] = {
    CAPTURE: lambda: gettext("the gateway reports %(state)s: cannot capture"),
    VOID: lambda: gettext("the gateway reports %(state)s: cannot void"),
    REFUND: lambda: gettext("the gateway reports %(state)s: cannot refund"),
}
_REFUSED_REFUNDABLE: dict[str, Callable[[], str]] = {
    CAPTURE: lambda: gettext("the gateway reports %(state)s: cannot capture; refund it instead"),
    VOID: lambda: gettext("the gateway reports %(state)s: cannot void; refund it instead"),
}


def capture(
    payment: Payment, amount: int | None = None, *, operator: Any = None, reason: str
) -> Payment:
    """Capture a hold, fully (``amount`` None) or partly; the gateway releases the rest.

    Returns the payment; if its ``pending_operation`` is still set, the gateway accepted
    the call but its result is not confirmed yet (checkout_sync settles it). Raises
    OperationNotAllowed, PermissionDenied, GatewayRefused, GatewayUnavailable, or
    OutcomeUnknown (the intent stays recorded: do not repeat the operation).
    """
    return _run(payment, CAPTURE, amount, operator=operator, reason=reason)


def void(payment: Payment, *, operator: Any = None, reason: str) -> Payment:
    """Release a hold in full (reverse.do). Same results as capture()."""
    return _run(payment, VOID, None, operator=operator, reason=reason)


def refund(
    payment: Payment, amount: int | None = None, *, operator: Any = None, reason: str
) -> Payment:
    """Give money back, fully (``amount`` None: all that is left) or partly; repeatable.

    A payment the gateway still only holds is reversed instead (in full only). Never more
    than captured minus refunded, also across concurrent requests. Same results as
    capture().
    """
    return _run(payment, REFUND, amount, operator=operator, reason=reason)


def refresh(payment: Payment, *, operator: Any = None, source: str = Source.ADMIN) -> Payment:
    """Bring a payment up to date from the gateway (settling a pending operation first)."""
    payment = Payment.objects.select_related("order").get(pk=payment.pk)
    if payment.pending_operation:
        payment, _ = settle_pending(payment, source=source)
        return payment
    payment, _ = services.refresh_payment(payment, source=source, operator=operator)
    return payment


def mark_fulfilled(order: Order) -> bool:
    """Record that the shop delivered ``order``: checkout_sync stops re-sending order_paid.

    Returns False if it was already marked. Call it from the ``order_paid`` receiver once
    the goods are on their way.
    """
    now = timezone.now()
    done = Order.objects.filter(pk=order.pk, fulfilled_at__isnull=True).update(fulfilled_at=now)
    if done:
        order.fulfilled_at = now
    return bool(done)


# --- the steps ----------------------------------------------------------------------------


def _run(
    payment: Payment, operation: str, amount: int | None, *, operator: Any, reason: str
) -> Payment:
    if operator is not None and not operator.has_perm(PERMISSIONS[operation]):
        raise PermissionDenied(_NO_PERMISSION[operation]())
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise OperationNotAllowed(gettext("Give a reason: it is kept in the payment's history."))
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        raise OperationNotAllowed(gettext("The amount must be a whole number of minor units."))
    require_no_transaction(f"{operation} of a payment")
    claimed = _claim(payment, operation, amount, operator=operator, reason=reason)
    try:
        before = services.query_status(claimed)
        call = _choose_call(claimed, before)
    except OperationNotAllowed:
        _release(claimed)
        # Our view was out of date: bring it in line so the operator sees why.
        services.apply_order_status(
            claimed,
            before,
            source=Source.ADMIN,
            operator=operator,
            note=f"found at the gateway before {operation}",
        )
        raise
    except Exception:
        _release(claimed)
        raise
    try:
        call()
    except OutcomeUnknown:
        logger.warning(
            "payment %s: %s of %s: outcome unknown, left for checkout_sync",
            claimed.order_number,
            operation,
            claimed.pending_amount,
        )
        raise
    except GatewayError:
        # The gateway refused, or the request never left: no money moved.
        _release(claimed)
        raise
    except Exception:
        # Anything else after the call started may have moved money: keep the intent.
        logger.exception("payment %s: %s failed after the call", claimed.order_number, operation)
        raise
    logger.info(
        "payment %s: %s of %s accepted (operator %s: %s)",
        claimed.order_number,
        operation,
        claimed.pending_amount,
        getattr(operator, "pk", None),
        reason,
    )
    try:
        after = services.query_status(claimed)
    except GatewayError as err:
        logger.warning(
            "payment %s: %s accepted but not confirmed yet: %s",
            claimed.order_number,
            operation,
            err,
        )
        claimed.refresh_from_db()
        return claimed
    payment, _ = _settle(claimed, after, source=Source.ADMIN, accepted=True)
    return payment


def _limit(payment: Payment, operation: str) -> int:
    """The most ``operation`` may move, from what this shop knows."""
    if operation == CAPTURE or payment.status == S.HELD:
        return payment.approved_amount or payment.amount
    return payment.captured_amount - payment.refunded_amount


def _claim(
    payment: Payment, operation: str, amount: int | None, *, operator: Any, reason: str
) -> Payment:
    """Record the intent on the locked payment, after checking it may go ahead."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("order").get(pk=payment.pk)
        if locked.pending_operation:
            in_progress = _IN_PROGRESS.get(locked.pending_operation)
            text = in_progress() if in_progress else gettext("another operation is in progress")
            raise OperationNotAllowed(text)
        if locked.status not in _STARTS[operation]:
            raise OperationNotAllowed(
                _CANNOT_START[operation]() % {"status": locked.get_status_display()}
            )
        if not locked.gateway_order_id:
            raise OperationNotAllowed(gettext("the gateway's order id is unknown"))
        limit = _limit(locked, operation)
        if amount is None:
            amount = limit
        if amount <= 0 or amount > limit:
            raise OperationNotAllowed(
                _AMOUNT_RANGE[operation]()
                % {
                    "least": format_money(1, locked.currency),
                    "most": format_money(limit, locked.currency),
                }
            )
        if operation == REFUND and locked.status == S.HELD and amount != limit:
            raise OperationNotAllowed(gettext("the payment is only held: void it, or capture less"))
        locked.pending_operation = operation
        locked.pending_amount = amount
        locked.pending_since = timezone.now()
        locked.pending_operator = operator if getattr(operator, "pk", None) else None
        locked.pending_reason = reason[:200]
        locked.save(
            update_fields=[
                "pending_operation",
                "pending_amount",
                "pending_since",
                "pending_operator",
                "pending_reason",
                "updated_at",
            ]
        )
    return locked


def _release(payment: Payment) -> None:
    """Clear the intent recorded by _claim() (only that one, not a later claim)."""
    Payment.objects.filter(
        pk=payment.pk,
        pending_operation=payment.pending_operation,
        pending_since=payment.pending_since,
    ).update(
        pending_operation="",
        pending_amount=0,
        pending_since=None,
        pending_operator=None,
        pending_reason="",
        updated_at=timezone.now(),
    )


def refund_id(payment: Payment) -> str:
    """The externalRefundId of the pending refund: stable for the intent, unique per refund.

    Derived from the recorded intent so that a second request for the same intent (there
    is none by design, but a proxy may replay) cannot refund twice.
    """
    since = payment.pending_since or timezone.now()
    return f"{payment.pk}-{int(since.timestamp() * 1000)}"[:32]


def _state(status: OrderStatus) -> str:
    state = status.amounts.payment_state or f"orderStatus {status.order_status}"
    return state.lower()


def _choose_call(payment: Payment, status: OrderStatus) -> Callable[[], Any]:
    """The gateway call for the claimed operation, chosen from the gateway's state."""
    client = get_client()
    order_id = str(payment.gateway_order_id)
    operation, amount = payment.pending_operation, payment.pending_amount
    gateway = status.order_status
    amounts = status.amounts
    if gateway == G.APPROVED:
        approved = amounts.approved or status.amount
        if operation == CAPTURE:
            if amount > approved:
                held = format_money(approved, payment.currency)
                raise OperationNotAllowed(
                    gettext("the gateway holds only %(held)s") % {"held": held}
                )
            return lambda: client.deposit(order_id, amount, context=payment)
        if operation == REFUND and amount < approved:
            raise OperationNotAllowed(gettext("the gateway still only holds this payment"))
        # Void, or a full "refund" of money that was never captured.
        return lambda: client.reverse(order_id, context=payment)
    if gateway in DEPOSITED_ORDER_STATUSES and operation == REFUND:
        available = amounts.deposited - amounts.refunded
        if amount > available:
            raise OperationNotAllowed(
                gettext("the gateway has only %(available)s left to refund")
                % {"available": format_money(available, payment.currency)}
            )
        return lambda: client.refund(
            order_id,
            amount,
            external_refund_id=refund_id(payment),
            expected_deposited_amount=amounts.deposited,
            context=payment,
        )
    refundable = gateway in DEPOSITED_ORDER_STATUSES and amounts.deposited > amounts.refunded
    refused = _REFUSED_REFUNDABLE.get(operation) if refundable else None
    text = (refused or _REFUSED_BY_STATE[operation])()
    raise OperationNotAllowed(text % {"state": _state(status)})


def _happened(payment: Payment, status: OrderStatus) -> bool:
    """Whether the gateway's state shows the pending operation took place."""
    operation = payment.pending_operation
    if operation == CAPTURE:
        return status.order_status in DEPOSITED_ORDER_STATUSES or status.amounts.deposited > 0
    if operation == VOID:
        return status.order_status == G.REVERSED
    if operation == REFUND:
        return (
            status.order_status == G.REVERSED or status.amounts.refunded > payment.refunded_amount
        )
    return False


def _note(payment: Payment) -> str:
    amount = format_amount(payment.pending_amount, payment.currency)
    return f"{payment.pending_operation} {amount}: {payment.pending_reason}"


def _settle(
    payment: Payment, status: OrderStatus, *, source: str, accepted: bool = False
) -> tuple[Payment, str]:
    """Apply a status answer for a payment with a pending operation; clear the intent if
    the answer settles it (or the call was accepted, or it is too old to still arrive)."""
    happened = _happened(payment, status)
    applied, _ = services.apply_order_status(
        payment, status, source=source, operator=payment.pending_operator, note=_note(payment)
    )
    if happened or accepted:
        outcome = "settled"
    elif timezone.now() - (payment.pending_since or timezone.now()) > operation_grace():
        outcome = "did not happen"
        logger.warning(
            "payment %s: %s of %s did not happen at the gateway; intent cleared",
            payment.order_number,
            payment.pending_operation,
            payment.pending_amount,
        )
    else:
        return applied, "pending"
    _release(payment)
    applied.refresh_from_db()
    return applied, outcome


def operation_grace() -> timedelta:
    """How long a call whose outcome is unknown may still take effect at the gateway."""
    timeouts = checkout_settings.TIMEOUTS
    return timedelta(seconds=float(timeouts["connect"]) + float(timeouts["read"]) + 60)


def settle_pending(payment: Payment, *, source: str = Source.RECONCILIATION) -> tuple[Payment, str]:
    """Settle a pending operation by a status query; never repeats the operation.

    Returns the payment and "settled", "did not happen" (intent cleared after the grace
    period) or "pending" (not visible yet). Raises GatewayError if the gateway cannot
    answer.
    """
    payment = Payment.objects.select_related("order").get(pk=payment.pk)
    if not payment.pending_operation:
        return payment, "settled"
    return _settle(payment, services.query_status(payment), source=source)
