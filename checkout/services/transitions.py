"""The only place where a payment's status changes.

``transition()`` locks the payment, checks the transition table (``checkout.status``),
saves with ``update_fields``, appends a history row and schedules the signals with
``transaction.on_commit``. Gateway I/O never happens in here: callers claim a payment in
one short transaction, call the gateway outside any transaction, then apply the result
with ``transition()`` in a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from checkout import signals
from checkout.exceptions import InvalidTransition
from checkout.models import Order, Payment, StatusChange
from checkout.ratelimit import give_back_attempt
from checkout.status import SECURED_STATUSES, TRANSITIONS, PaymentStatus

__all__ = [
    "UPDATABLE_FIELDS",
    "create_claimed",
    "require_no_transaction",
    "send_order_paid",
    "transition",
]

logger = logging.getLogger(__name__)

UPDATABLE_FIELDS = frozenset(
    {
        "gateway_order_id",
        "gateway_status",
        "action_code",
        "action_code_description",
        "card_brand",
        "masked_pan",
        "card_expiry",
        "approval_code",
        "approved_amount",
        "captured_amount",
        "refunded_amount",
        "pending_operation",
        "pending_amount",
        "pending_since",
        "lease_until",
    }
)


def transition(
    payment: Payment | int,
    to_status: str,
    *,
    source: str,
    operator: Any = None,
    note: str = "",
    fields: Mapping[str, Any] | None = None,
    expect: frozenset[str] | set[str] | None = None,
    locked: bool = False,
) -> tuple[Payment, bool]:
    """Move a payment to ``to_status`` under a row lock.

    Returns the locked, refreshed payment and whether a transition happened. A change to
    the status the payment already has is a no-op (only ``fields`` are saved), except for
    the self-transitions the table allows when money moved. ``expect`` names the statuses
    the caller's decision was based on; if the row has moved on meanwhile, nothing is
    applied and ``(payment, False)`` is returned. ``locked=True`` says the caller read
    ``payment`` with ``select_for_update().select_related("order")`` in the transaction it
    is in now: it is used as it is, not read again.
    """
    pk = payment.pk if isinstance(payment, Payment) else payment
    fields = dict(fields or {})
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"transition() cannot set {sorted(unknown)}.")
    if locked:
        if not (isinstance(payment, Payment) and transaction.get_connection().in_atomic_block):
            raise ValueError(
                "transition(locked=True): pass the payment locked in this transaction."
            )
        return _apply(payment, to_status, source, operator, note, fields, expect)
    with transaction.atomic():
        # With the order joined, PostgreSQL locks the order's row too: two attempts of one
        # order cannot both be announced as paid.
        row = Payment.objects.select_for_update().select_related("order").get(pk=pk)
        return _apply(row, to_status, source, operator, note, fields, expect)


def _apply(
    locked: Payment,
    to_status: str,
    source: str,
    operator: Any,
    note: str,
    fields: dict[str, Any],
    expect: frozenset[str] | set[str] | None,
) -> tuple[Payment, bool]:
    from_status = locked.status
    if expect is not None and from_status not in expect:
        return locked, False
    changed = [name for name, value in fields.items() if getattr(locked, name) != value]
    for name in changed:
        setattr(locked, name, fields[name])
    same = from_status == to_status
    money_moved = "refunded_amount" in changed or "captured_amount" in changed
    if same and not (money_moved and to_status in TRANSITIONS.get(from_status, ())):
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
        return locked, False
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise InvalidTransition(f"{locked}: {from_status} → {to_status} is not allowed.")
    locked.status = to_status
    update = ["status", "updated_at", *changed]
    if not TRANSITIONS.get(to_status) or to_status in SECURED_STATUSES:
        locked.settled_at = locked.settled_at or timezone.now()
        update.append("settled_at")
    locked.save(update_fields=update)
    StatusChange.objects.create(
        payment=locked,
        from_status=from_status,
        to_status=to_status,
        source=source,
        operator=operator if getattr(operator, "pk", None) else None,
        gateway_status=locked.gateway_status,
        action_code=locked.action_code,
        note=note[:255],
    )
    logger.info("payment %s: %s -> %s (%s)", locked.order_number, from_status, to_status, source)
    first_secured = to_status in SECURED_STATUSES and from_status not in SECURED_STATUSES
    if first_secured:
        # The order's row is locked with the payment's (see above), so this sees every
        # other attempt that was secured before.
        first_secured = not (
            Payment.objects.filter(order_id=locked.order_id, status__in=SECURED_STATUSES)
            .exclude(pk=locked.pk)
            .exists()
        )
    if to_status in SECURED_STATUSES and from_status not in SECURED_STATUSES:
        # A successful attempt stops counting towards the card-testing limits, whichever
        # request or job learnt of its success.
        transaction.on_commit(lambda: give_back_attempt(locked), robust=True)
    # Robust: a receiver's failure is logged and must not turn a committed transition
    # into an error for the caller (a shopper's page, a callback); checkout_sync sends
    # order_paid again until the order is marked fulfilled.
    transaction.on_commit(
        lambda: _announce(locked, from_status, to_status, source, first_secured),
        robust=True,
    )
    return locked, True


def create_claimed(payment: Payment, *, source: str, note: str = "") -> Payment:
    """Insert a new attempt straight into PROCESSING (``created`` → ``processing``).

    The same step as ``transition(payment, PROCESSING)`` right after the insert, with its
    history row and signal, without reading back and updating the row just written. Call
    it inside the transaction that claims the attempt.
    """
    if payment.pk is not None:
        raise ValueError("create_claimed() inserts a new payment.")
    from_status, to_status = PaymentStatus.CREATED, PaymentStatus.PROCESSING
    if payment.status != from_status or to_status not in TRANSITIONS[from_status]:
        raise InvalidTransition(f"{payment}: {payment.status} → {to_status} is not allowed.")
    payment.status = to_status
    payment.save(force_insert=True)
    StatusChange.objects.create(
        payment=payment,
        from_status=from_status,
        to_status=to_status,
        source=source,
        note=note[:255],
    )
    logger.info("payment %s: %s -> %s (%s)", payment.order_number, from_status, to_status, source)
    transaction.on_commit(
        lambda: _announce(payment, from_status, to_status, source, False), robust=True
    )
    return payment


def _announce(
    payment: Payment, from_status: str, to_status: str, source: str, order_paid: bool
) -> None:
    signals.payment_status_changed.send(
        sender=Payment,
        payment=payment,
        order=payment.order,
        from_status=from_status,
        to_status=to_status,
        source=source,
    )
    if order_paid:
        send_order_paid(payment)


def send_order_paid(payment: Payment) -> None:
    """Send ``order_paid`` for a payment whose money is secured (also used by the sync)."""
    signals.order_paid.send(
        sender=Order,
        order=payment.order,
        payment=payment,
        captured=payment.status != PaymentStatus.HELD,
    )


def require_no_transaction(call: str) -> None:
    """RuntimeError inside a caller's atomic block: ``call`` talks to the gateway.

    A test case's own wrapping transaction does not count.
    """
    blocks = transaction.get_connection().atomic_blocks
    if any(not getattr(block, "_from_testcase", False) for block in blocks):
        raise RuntimeError(f"{call} calls the gateway: not inside a database transaction.")
