"""The only place where a payment's status changes.

``transition()`` locks the payment, checks the transition table, saves with
``update_fields``, appends a history row and schedules the signals with
``transaction.on_commit``. Gateway I/O never happens in here: callers claim a payment in
one short transaction, call the gateway outside any transaction, then apply the result
with ``transition()`` in a second one.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from checkout import money, signals
from checkout.conf import checkout_settings
from checkout.exceptions import (
    GatewayError,
    GatewayRefused,
    GatewayUnavailable,
    InvalidTransition,
    OrderNotPayable,
    OutcomeUnknown,
)
from checkout.models import (
    ACTIVE_STATUSES,
    SECURED_STATUSES,
    Order,
    Payment,
    PaymentStatus,
    Source,
    StatusChange,
)

if TYPE_CHECKING:
    from checkout.gateway import CardData, InstantPaymentResult, OrderStatus

logger = logging.getLogger(__name__)

S = PaymentStatus

#: Allowed changes. A status missing here (or mapping to nothing) is final.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PROCESSING, S.EXPIRED, S.FAILED}),
    S.PROCESSING: frozenset(
        {
            S.AWAITING_3DS,
            S.HELD,
            S.PAID,
            S.DECLINED,
            S.FAILED,
            S.EXPIRED,
            S.OUTCOME_UNKNOWN,
            S.NEEDS_REVIEW,
        }
    ),
    S.AWAITING_3DS: frozenset({S.HELD, S.PAID, S.DECLINED, S.EXPIRED, S.NEEDS_REVIEW}),
    S.OUTCOME_UNKNOWN: frozenset(
        {S.AWAITING_3DS, S.HELD, S.PAID, S.DECLINED, S.FAILED, S.EXPIRED, S.NEEDS_REVIEW}
    ),
    S.HELD: frozenset({S.PAID, S.VOIDED, S.PARTLY_REFUNDED, S.REFUNDED, S.NEEDS_REVIEW}),
    S.PAID: frozenset({S.PARTLY_REFUNDED, S.REFUNDED, S.VOIDED, S.NEEDS_REVIEW}),
    # A further partial refund is a real event: it moves money and gets its own row.
    S.PARTLY_REFUNDED: frozenset({S.PARTLY_REFUNDED, S.REFUNDED, S.NEEDS_REVIEW}),
    S.REFUNDED: frozenset(),
    S.DECLINED: frozenset(),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
    S.VOIDED: frozenset(),
    S.NEEDS_REVIEW: frozenset(),
}

#: Fields of Payment that transition() may update along with the status.
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
) -> tuple[Payment, bool]:
    """Move a payment to ``to_status`` under a row lock.

    Returns the locked, refreshed payment and whether a transition happened. A change to
    the status the payment already has is a no-op (only ``fields`` are saved), except for
    the self-transitions the table allows when money moved. ``expect`` names the statuses
    the caller's decision was based on; if the row has moved on meanwhile, nothing is
    applied and ``(payment, False)`` is returned.
    """
    pk = payment.pk if isinstance(payment, Payment) else payment
    fields = dict(fields or {})
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"transition() cannot set {sorted(unknown)}.")
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("order").get(pk=pk)
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
        logger.info(
            "payment %s: %s -> %s (%s)", locked.order_number, from_status, to_status, source
        )
        first_secured = to_status in SECURED_STATUSES and from_status not in SECURED_STATUSES
        if first_secured:
            # Lock the order too so two attempts cannot both announce it as paid.
            Order.objects.select_for_update().filter(pk=locked.order_id).first()
            first_secured = not (
                Payment.objects.filter(order_id=locked.order_id, status__in=SECURED_STATUSES)
                .exclude(pk=locked.pk)
                .exists()
            )
        # Robust: a receiver's failure is logged and must not turn a committed transition
        # into an error for the caller (a shopper's page, a callback); checkout_sync sends
        # order_paid again until the order is marked fulfilled.
        transaction.on_commit(
            lambda: _announce(locked, from_status, to_status, source, first_secured),
            robust=True,
        )
        return locked, True


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


def status_from_gateway(
    order_status: int | None,
    action_code: int | None,
    *,
    approved: int = 0,
    deposited: int = 0,
    refunded: int = 0,
) -> str | None:
    """Our status for a gateway ``orderStatus`` (API-NOTES §4.3); None means "no news yet"."""
    if order_status is None:
        return None
    if order_status in (0, 5, 7):
        return None
    if order_status == 1:
        return S.HELD
    if order_status in (2, 4, 8):
        if refunded and deposited and refunded >= deposited:
            return S.REFUNDED
        if refunded:
            return S.PARTLY_REFUNDED
        return S.REFUNDED if order_status == 4 else S.PAID
    if order_status == 3:
        return S.VOIDED
    if order_status == 6:
        return S.EXPIRED if action_code == -2007 else S.DECLINED
    return S.DECLINED


# --------------------------------------------------------------------------------------
# Orders and payment attempts


#: Characters of generated order numbers: unambiguous upper-case letters and digits.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_NUMBER_RANDOM_LENGTH = 10
#: Longest accepted ORDER_NUMBER_PREFIX: the gateway takes at most 30 characters.
MAX_ORDER_NUMBER_PREFIX = 30 - 7 - _NUMBER_RANDOM_LENGTH


def new_order_number(now: datetime | None = None) -> str:
    """A fresh gateway orderNumber: prefix, date and 50 random bits, at most 30 ASCII chars."""
    prefix = str(checkout_settings.ORDER_NUMBER_PREFIX)
    if len(prefix) > MAX_ORDER_NUMBER_PREFIX or not prefix.isascii():
        raise ImproperlyConfigured(
            f"settings.CHECKOUT['ORDER_NUMBER_PREFIX'] must be ASCII and at most "
            f"{MAX_ORDER_NUMBER_PREFIX} characters."
        )
    day = (now or timezone.now()).strftime("%y%m%d")
    tail = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(_NUMBER_RANDOM_LENGTH))
    return f"{prefix}{day}-{tail}"


def create_order(
    *,
    amount: int,
    currency: str,
    description: str = "",
    email: str = "",
    ip: str | None = None,
    language: str = "en",
    merchant_reference: str = "",
    content_object: Any = None,
) -> Order:
    """Create an order to be paid by card; it expires after ORDER_EXPIRY seconds unpaid."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError("amount must be a positive integer in minor units.")
    code = money.currency(currency).code
    if _MARKUP.search(description):
        # The gateway rejects requests whose fields carry HTML or script fragments.
        raise ValueError("description must be plain text.")
    now = timezone.now()
    order = Order(
        amount=amount,
        currency=code,
        description=description.strip(),
        email=email,
        ip_address=ip or None,
        language=(language or checkout_settings.LANGUAGE)[:2].lower(),
        merchant_reference=merchant_reference,
        created_at=now,
        expires_at=now + timedelta(seconds=int(checkout_settings.ORDER_EXPIRY)),
    )
    if content_object is not None:
        order.content_object = content_object
    order.full_clean(exclude=["content_type", "object_id"])
    order.save()
    return order


_MARKUP = re.compile(r"[<>]")


def start_payment(order: Order, *, preauth: bool | None = None) -> Payment:
    """Claim a new attempt for ``order``: a Payment in PROCESSING, in one short transaction.

    Raises OrderNotPayable when the order's money is already secured, an attempt is
    still active (the partial unique constraint decides under concurrency), an earlier
    answer needs review, or the order has expired.
    """
    try:
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            blocking = (
                Payment.objects.filter(order=locked, status__in=_BLOCKING_STATUSES)
                .order_by("-created_at", "-pk")
                .first()
            )
            if blocking is not None:
                raise OrderNotPayable(_blocking_reason(blocking), payment=blocking)
            if locked.is_expired:
                raise OrderNotPayable(OrderNotPayable.EXPIRED)
            payment = Payment.objects.create(
                order=locked,
                order_number=new_order_number(),
                amount=locked.amount,
                currency=locked.currency,
                preauth=checkout_settings.PREAUTH if preauth is None else preauth,
            )
            payment, _ = transition(payment, S.PROCESSING, source=Source.CARD_ENTRY)
    except IntegrityError:
        # Another request claimed an attempt for this order between our check and insert.
        active = (
            Payment.objects.filter(order_id=order.pk, status__in=ACTIVE_STATUSES)
            .order_by("-created_at", "-pk")
            .first()
        )
        raise OrderNotPayable(OrderNotPayable.IN_PROGRESS, payment=active) from None
    return payment


_BLOCKING_STATUSES = frozenset({*SECURED_STATUSES, *ACTIVE_STATUSES, S.NEEDS_REVIEW})


def _blocking_reason(payment: Payment) -> str:
    if payment.status in SECURED_STATUSES:
        return OrderNotPayable.PAID
    if payment.status == S.NEEDS_REVIEW:
        return OrderNotPayable.REVIEW
    return OrderNotPayable.IN_PROGRESS


@sensitive_variables("card", "se_token")
def submit_payment(
    payment: Payment,
    *,
    back_url: str,
    fail_url: str,
    card: CardData | None = None,
    se_token: str | None = None,
    cardholder_name: str = "",
    email: str = "",
    ip: str = "",
) -> tuple[Payment, InstantPaymentResult | None]:
    """Send a claimed attempt to instantPayment.do and record what came back.

    Call it outside any transaction with a payment from start_payment(). Returns the
    payment and the gateway's answer (None when there was none). An approval is confirmed
    with a status query before the payment counts as paid. GatewayUnavailable (the request
    certainly had no effect) marks the attempt FAILED and propagates.
    """
    from checkout.gateway import get_client

    if _in_transaction():
        raise RuntimeError("instantPayment.do must not run inside a database transaction.")
    order = payment.order
    try:
        result = get_client().instant_payment(
            order_number=payment.order_number,
            amount=payment.amount,
            currency=payment.currency,
            description=order.description,
            language=order.language,
            back_url=back_url,
            fail_url=fail_url,
            card=card,
            se_token=se_token,
            cardholder_name=cardholder_name,
            email=email,
            ip=ip,
            preauth=payment.preauth,
            session_timeout=checkout_settings.SESSION_TIMEOUT,
            payment=payment,
        )
    except GatewayRefused as err:
        payment, _ = transition(
            payment,
            S.FAILED,
            source=Source.CARD_ENTRY,
            note=f"instantPayment refused: errorCode {err.code}",
            expect={S.PROCESSING},
        )
        return payment, None
    except OutcomeUnknown:
        payment, _ = transition(
            payment,
            S.OUTCOME_UNKNOWN,
            source=Source.CARD_ENTRY,
            note="instantPayment: no answer",
            expect={S.PROCESSING},
        )
        return payment, None
    except GatewayUnavailable:
        transition(
            payment,
            S.FAILED,
            source=Source.CARD_ENTRY,
            note="gateway unreachable: request not sent",
            expect={S.PROCESSING},
        )
        raise
    fields: dict[str, Any] = {
        "gateway_order_id": result.order_id or None,
        "masked_pan": masked_pan(result.masked_pan),
        "card_expiry": _expiry(result.expiration),
        "approval_code": result.approval_code[:12],
    }
    if result.action_code is not None:
        fields["action_code"] = result.action_code
    if result.requires_3ds:
        payment, _ = transition(
            payment,
            S.AWAITING_3DS,
            source=Source.CARD_ENTRY,
            fields=fields,
            expect={S.PROCESSING},
        )
        return payment, result
    # Keep the gateway's order id first, so the status query below (or a callback racing
    # it) can find this attempt.
    payment, _ = transition(
        payment, S.PROCESSING, source=Source.CARD_ENTRY, fields=fields, expect={S.PROCESSING}
    )
    try:
        payment, _ = refresh_payment(payment, source=Source.CARD_ENTRY)
    except GatewayError as err:
        logger.warning("payment %s: confirmation failed: %s", payment.order_number, err)
    if payment.status == S.PROCESSING:
        payment, _ = transition(
            payment,
            S.OUTCOME_UNKNOWN,
            source=Source.CARD_ENTRY,
            note="answered, not yet confirmed",
            expect={S.PROCESSING},
        )
    return payment, result


def _in_transaction() -> bool:
    """True inside an atomic block of the caller's (a test case's own wrapper does not count)."""
    blocks = transaction.get_connection().atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


def masked_pan(value: str) -> str:
    """The gateway's masked PAN if it really is masked (first six, last four); else ""."""
    value = (value or "").strip()
    return value if _MASKED_PAN.fullmatch(value) else ""


_MASKED_PAN = re.compile(r"\d{6}[*Xx]{2,9}\d{4}")


def _expiry(value: str) -> str:
    value = (value or "").strip()
    return value if re.fullmatch(r"\d{6}", value) else ""


# --------------------------------------------------------------------------------------
# Applying the gateway's view of an attempt


def apply_order_status(
    payment: Payment,
    status: OrderStatus,
    *,
    source: str,
    operator: Any = None,
    note: str = "",
) -> tuple[Payment, bool]:
    """Apply a getOrderStatusExtended answer to ``payment`` through transition().

    The answer must be about this attempt: same order number, amount and currency (and
    gateway order id once known); otherwise the payment goes to NEEDS_REVIEW and nothing
    counts as paid. Applying the same answer twice makes one transition.
    """
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("order").get(pk=payment.pk)
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
            )
        target = status_from_gateway(
            status.order_status,
            status.action_code,
            approved=status.amounts.approved,
            deposited=status.amounts.deposited,
            refunded=status.amounts.refunded,
        )
        fields = _status_fields(locked, status, target)
        if target is None:
            target = locked.status
            if (
                locked.status == S.OUTCOME_UNKNOWN
                and status.order_status in (0, 5)
                and fields.get("gateway_order_id")
            ):
                # The order exists and waits for 3-D Secure: the shopper can still finish
                # it through acsRedirect.do, which needs only the gateway order id.
                target = S.AWAITING_3DS
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
        return transition(
            locked, target, source=source, operator=operator, note=note, fields=fields
        )


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
        ("card_expiry", _expiry(card.expiration)),
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


def refresh_payment(payment: Payment, *, source: str, operator: Any = None) -> tuple[Payment, bool]:
    """Ask the gateway where ``payment`` stands and apply the answer.

    Runs the query outside any transaction (by gateway order id, else by order number).
    An order the gateway still does not know well after the attempt began (see
    UNKNOWN_ORDER_GRACE) settles the attempt as FAILED. A payment with a capture, void or
    refund in flight is left alone: ``backoffice.settle_pending()`` settles it. Raises
    GatewayUnavailable when the gateway cannot be reached, and GatewayRefused for any
    other refusal.
    """
    from checkout.gateway import get_client

    if _in_transaction():
        raise RuntimeError("getOrderStatusExtended.do must not run inside a transaction.")
    if payment.pending_operation:
        # Applied here first, the answer would hide from that settlement whether the
        # operation happened (a refund would read as "did not happen", inviting a second
        # one) and the history would not name the operator who asked for it.
        return payment, False
    client = get_client()
    try:
        if payment.gateway_order_id:
            status = client.order_status(order_id=payment.gateway_order_id, payment=payment)
        else:
            status = client.order_status(order_number=payment.order_number, payment=payment)
    except GatewayRefused as err:
        if err.code != UNKNOWN_ORDER or payment.gateway_order_id:
            raise
        payment.refresh_from_db(fields=["status", "gateway_order_id"])
        if payment.status in (S.PROCESSING, S.OUTCOME_UNKNOWN) and _call_is_over(payment):
            return transition(
                payment,
                S.FAILED,
                source=source,
                operator=operator,
                note="unknown to the gateway: never created",
                expect={S.PROCESSING, S.OUTCOME_UNKNOWN},
            )
        return payment, False
    return apply_order_status(payment, status, source=source, operator=operator)


#: errorCode of a status query for an order the gateway does not know.
UNKNOWN_ORDER = 6


def _call_is_over(payment: Payment) -> bool:
    """True once an instantPayment call for ``payment`` can no longer create an order.

    A request we gave up on may still be queued at the gateway and be carried out after
    our timeout, so "unknown order" is believed only well after the call began.
    """
    timeouts = checkout_settings.TIMEOUTS
    budget = float(timeouts["connect"]) + 2 * float(timeouts["read"])
    grace = timedelta(seconds=max(UNKNOWN_ORDER_GRACE, budget))
    return payment.created_at + grace < timezone.now()


#: Least time in seconds between claiming an attempt and believing that it never
#: reached the gateway.
UNKNOWN_ORDER_GRACE = 120
