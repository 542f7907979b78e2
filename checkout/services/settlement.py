"""Settlement: what the gateway says about an attempt, applied through ``transition()``.

``query_status()`` is the one way to ask (by gateway order id, else by our order number);
``apply_order_status()`` checks an answer against the attempt (number, amount, currency)
before it counts; ``refresh_payment()`` does both, outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from checkout import money
from checkout.cards import card_brand, card_expiry, masked_pan
from checkout.conf import checkout_settings
from checkout.exceptions import GatewayRefused
from checkout.gateway import InstantPaymentResult, OrderStatus, get_client
from checkout.models import Payment
from checkout.services.bindings import record_binding
from checkout.services.transitions import require_no_transaction, transition
from checkout.status import (
    AWAITING_AUTHENTICATION,
    SECURED_STATUSES,
    TRANSITIONS,
    UNCONFIRMED_STATUSES,
    UNKNOWN_ORDER,
    GatewayOrderStatus,
    PaymentStatus,
    status_from_gateway,
)

__all__ = [
    "UNKNOWN_ORDER_GRACE",
    "InstantSettlement",
    "apply_order_status",
    "ask_gateway",
    "instant_settlement",
    "query_status",
    "refresh_payment",
    "target_status",
]

logger = logging.getLogger(__name__)

S = PaymentStatus


def apply_order_status(
    payment: Payment,
    status: OrderStatus,
    *,
    source: str,
    operator: Any = None,
    note: str = "",
    then: Callable[[Payment], None] | None = None,
) -> tuple[Payment, bool]:
    """Apply a getOrderStatusExtended answer to ``payment`` through transition().

    The answer must be about this attempt: same order number, amount and currency (and
    gateway order id once known); otherwise the payment goes to NEEDS_REVIEW and nothing
    counts as paid. Applying the same answer twice makes one transition. An order found
    registered and waiting for 3-D Secure moves an attempt whose instantPayment answer was
    never applied (OUTCOME_UNKNOWN, or PROCESSING once that call's time is up: the process
    died) to AWAITING_3DS, with the gateway order id the shopper needs to go on. ``then``
    is called with the payment as it ends up, inside the same transaction, whatever the
    answer did: the caller's own rows are written in the commit that applies it.
    """
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("order").get(pk=payment.pk)
        applied = _apply_locked(locked, status, source=source, operator=operator, note=note)
        if then is not None:
            then(applied[0])
        return applied


def _apply_locked(
    locked: Payment, status: OrderStatus, *, source: str, operator: Any, note: str
) -> tuple[Payment, bool]:
    problems = _mismatches(locked, status)
    if problems:
        reason = "; ".join(problems)
        logger.warning("payment %s: gateway answer mismatch: %s", locked.order_number, reason)
        if S.NEEDS_REVIEW not in TRANSITIONS.get(locked.status, ()):
            return locked, False
        return transition(
            locked,
            S.NEEDS_REVIEW,
            source=source,
            operator=operator,
            note=f"mismatch: {reason}",
            fields={"gateway_status": status.order_status, "action_code": status.action_code},
            locked=True,
        )
    target = target_status(status)
    fields = _status_fields(locked, status, target)
    if target is None:
        target = locked.status
        if (
            status.order_status in AWAITING_AUTHENTICATION
            and (locked.gateway_order_id or fields.get("gateway_order_id"))
            and _unanswered(locked)
        ):
            # The order exists and waits for 3-D Secure, but the answer that said so
            # never reached this attempt: the shopper can still finish it through
            # acsRedirect.do, which needs only the gateway order id.
            target = S.AWAITING_3DS
            note = note or "found waiting for 3-D Secure"
    if target != locked.status and target not in TRANSITIONS.get(locked.status, ()):
        # An older answer overtaken by a newer one, or a final status the gateway
        # contradicts: never move backwards, but leave a trace.
        logger.error(
            "payment %s: gateway says %s (orderStatus %s) but payment is %s: not applied",
            locked.order_number,
            target,
            status.order_status,
            locked.status,
        )
        return locked, False
    if target in SECURED_STATUSES and locked.wallet_id is not None:
        # The card this attempt saves: only an answer about the attempt names it.
        record_binding(locked, status)
    return transition(
        locked, target, source=source, operator=operator, note=note, fields=fields, locked=True
    )


@dataclass(frozen=True)
class InstantSettlement:
    """What an approved ``instantPayment.do`` answer settles without a status query."""

    status: str
    fields: dict[str, Any]


def instant_settlement(payment: Payment, result: InstantPaymentResult) -> InstantSettlement | None:
    """The outcome an ``instantPayment.do`` answer settles on its own, or None.

    The gateway's answer to a call this server made over TLS is the gateway's word, and
    JCC's scheme makes the confirming status query optional. It is taken as final only
    for an unambiguous approval of exactly this attempt: ``errorCode`` 0 and the block's
    ``ErrorCode`` 0; no 3-D Secure field at all; the block's ``OrderNumber`` and
    ``currency`` equal to the attempt's; ``OrderStatus`` 2 with ``depositAmount`` equal
    to its amount (one-phase) or ``OrderStatus`` 1 with ``approvedAmount`` equal to it
    (two-phase). Everything else (declines, whose actionCode only the status query
    gives; partial amounts; missing or odd blocks) is confirmed by a status query, and
    so is everything when ``CONFIRM_CARD_PAYMENTS`` is on.
    """
    if checkout_settings.CONFIRM_CARD_PAYMENTS:
        return None
    if result.error_code != 0 or not result.has_status_block or result.status_error_code != 0:
        return None
    if result.mentions_3ds or result.requires_3ds or not result.order_id:
        return None
    if result.status_order_number != payment.order_number:
        return None
    if result.status_currency != money.currency(payment.currency).numeric:
        return None
    if payment.preauth:
        if result.order_status != GatewayOrderStatus.APPROVED:
            return None
        if result.approved_amount != payment.amount or result.deposit_amount not in (None, 0):
            return None
        status, approved, deposited = S.HELD, payment.amount, 0
    else:
        if result.order_status != GatewayOrderStatus.DEPOSITED:
            return None
        if result.deposit_amount != payment.amount:
            return None
        if result.approved_amount not in (None, payment.amount):
            return None
        status, approved, deposited = S.PAID, payment.amount, payment.amount
    pan = masked_pan(result.masked_pan)
    fields: dict[str, Any] = {
        "gateway_order_id": result.order_id,
        "gateway_status": result.order_status,
        "masked_pan": pan,
        "card_brand": card_brand(pan) if pan else "",
        "card_expiry": card_expiry(result.expiration),
        "approval_code": result.approval_code[:12],
        "approved_amount": approved,
        "captured_amount": deposited,
        "refunded_amount": 0,
    }
    if result.action_code is not None:
        fields["action_code"] = result.action_code
    return InstantSettlement(status=status, fields=fields)


def _mismatches(payment: Payment, status: OrderStatus) -> list[str]:
    problems = []
    if status.order_number != payment.order_number:
        problems.append(f"orderNumber {status.order_number!r}")
    if status.amount != payment.amount:
        problems.append(f"amount {status.amount}")
    if status.currency_code != payment.currency:
        problems.append(f"currency {status.currency or '?'}")
    if status.order_id and payment.gateway_order_id and status.order_id != payment.gateway_order_id:
        problems.append(f"orderId {status.order_id!r}")
    amounts = status.amounts
    if (
        amounts.approved > payment.amount
        or amounts.deposited > payment.amount
        or amounts.refunded > amounts.deposited
    ):
        problems.append("amounts out of range")
    authorised = amounts.approved or amounts.deposited
    if payment.status not in SECURED_STATUSES and authorised and authorised != payment.amount:
        # The order's amount is what was asked for; what counts as paid is what the bank
        # authorised, and a partial authorisation must not pass as the whole price.
        problems.append(f"authorised amount {authorised}")
    return problems


def _status_fields(payment: Payment, status: OrderStatus, target: str | None) -> dict[str, Any]:
    card = status.card
    fields: dict[str, Any] = {
        "gateway_status": status.order_status,
        "action_code": status.action_code,
        "action_code_description": (status.action_code_description or "")[:512],
    }
    if status.order_id and not payment.gateway_order_id:
        fields["gateway_order_id"] = status.order_id
    for name, value in (
        ("card_brand", (card.payment_system or "")[:20]),
        ("masked_pan", masked_pan(card.masked_pan)),
        ("card_expiry", card_expiry(card.expiration)),
        ("approval_code", (card.approval_code or "")[:12]),
    ):
        if value:
            fields[name] = value
    amounts = status.amounts
    approved, deposited, refunded = amounts.approved, amounts.deposited, amounts.refunded
    if not (approved or deposited or refunded):
        # Older API versions leave out paymentAmountInfo: derive from the order status.
        if target in (S.HELD, S.PAID, S.REFUNDED):
            approved = status.amount
        if target in (S.PAID, S.REFUNDED):
            deposited = status.amount
        if target == S.REFUNDED:
            refunded = status.amount
    fields["approved_amount"] = approved
    fields["captured_amount"] = deposited
    fields["refunded_amount"] = refunded
    return fields


def target_status(status: OrderStatus) -> str | None:
    """Our status for a status answer (None: no news yet), before it is checked."""
    return status_from_gateway(
        status.order_status,
        status.action_code,
        approved=status.amounts.approved,
        deposited=status.amounts.deposited,
        refunded=status.amounts.refunded,
    )


def query_status(payment: Payment) -> OrderStatus:
    """The gateway's answer for ``payment``: by gateway order id once known, else by number.

    Read-only and outside any transaction; raises GatewayError when there is no answer.
    """
    require_no_transaction("getOrderStatusExtended.do")
    client = get_client()
    if payment.gateway_order_id:
        return client.order_status(order_id=payment.gateway_order_id, context=payment)
    return client.order_status(order_number=payment.order_number, context=payment)


def refresh_payment(
    payment: Payment,
    *,
    source: str,
    operator: Any = None,
    then: Callable[[Payment], None] | None = None,
) -> tuple[Payment, bool]:
    """Ask the gateway where ``payment`` stands and apply the answer.

    ``ask_gateway()``, then ``apply_order_status()`` with its answer (and ``then``) when
    there is one to apply.
    """
    asked = ask_gateway(payment, source=source, operator=operator)
    if isinstance(asked, OrderStatus):
        return apply_order_status(payment, asked, source=source, operator=operator, then=then)
    return asked


def ask_gateway(
    payment: Payment, *, source: str, operator: Any = None
) -> OrderStatus | tuple[Payment, bool]:
    """The gateway's answer about ``payment`` to apply, or the payment when none is due.

    Runs the query outside any transaction (by gateway order id, else by order number).
    An order the gateway still does not know well after the attempt began (see
    UNKNOWN_ORDER_GRACE) settles the attempt as FAILED here. A payment with a capture,
    void or refund in flight is left alone: ``backoffice.settle_pending()`` settles it.
    Raises GatewayUnavailable when the gateway cannot be reached, and GatewayRefused for
    any other refusal. Only those two cases touch the database; a plain answer is
    returned for the caller to apply, in another thread if it likes.
    """
    require_no_transaction("getOrderStatusExtended.do")
    if payment.pending_operation:
        # Applied here first, the answer would hide from that settlement whether the
        # operation happened (a refund would read as "did not happen", inviting a second
        # one) and the history would not name the operator who asked for it.
        return payment, False
    try:
        return query_status(payment)
    except GatewayRefused as err:
        if err.code != UNKNOWN_ORDER or payment.gateway_order_id:
            raise
        payment.refresh_from_db(fields=["status", "gateway_order_id"])
        if payment.status in UNCONFIRMED_STATUSES and _call_is_over(payment):
            return transition(
                payment,
                S.FAILED,
                source=source,
                operator=operator,
                note="unknown to the gateway: never created",
                expect=UNCONFIRMED_STATUSES,
            )
        return payment, False


def _unanswered(payment: Payment) -> bool:
    """True for an attempt whose instantPayment answer nobody is going to apply.

    OUTCOME_UNKNOWN: the claiming request gave up on the answer. PROCESSING: the claiming
    request may still be waiting for it, and applies it itself (a status query may see
    the order registered, orderStatus 0, for a card that is approved a moment later);
    only once that call's time is up can nobody be waiting any more (the process died).
    """
    if payment.status == S.OUTCOME_UNKNOWN:
        return True
    if payment.status != S.PROCESSING:
        return False
    return payment.created_at + timedelta(seconds=_call_budget()) < timezone.now()


def _call_budget() -> float:
    """Seconds an instantPayment call can take at most: connecting, sending, the answer."""
    timeouts = checkout_settings.TIMEOUTS
    return float(timeouts["connect"]) + 2 * float(timeouts["read"])


def _call_is_over(payment: Payment) -> bool:
    """True once an instantPayment call for ``payment`` can no longer create an order.

    A request we gave up on may still be queued at the gateway and be carried out after
    our timeout, so "unknown order" is believed only well after the call began.
    """
    grace = timedelta(seconds=max(UNKNOWN_ORDER_GRACE, _call_budget()))
    return payment.created_at + grace < timezone.now()


#: Least time in seconds between claiming an attempt and believing that it never
#: reached the gateway.
UNKNOWN_ORDER_GRACE = 120
