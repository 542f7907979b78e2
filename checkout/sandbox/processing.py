"""The sandbox bank's processing: authorisations, 3-D Secure, captures, reversals, refunds.

Independent of HTTP: the REST views validate and format, this module changes state.
Every change happens under a row lock and queues its callback in the same transaction.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.utils import timezone

from checkout.sandbox.cards import (
    UNKNOWN_CARD_ACTION_CODE,
    ThreeDS,
    card_for,
    describe,
    mask_pan,
    payment_system,
)
from checkout.sandbox.models import Merchant, Operation, Order, OrderStatus
from checkout.sandbox.outbox import enqueue

__all__ = [
    "NewOrder",
    "ProcessingError",
    "action_description",
    "deposit",
    "expire_due_orders",
    "expire_if_due",
    "finish_3ds",
    "finish_url",
    "refund",
    "register_and_pay",
    "reverse",
    "start_acs",
]

S = OrderStatus


class ProcessingError(Exception):
    """A request the bank refuses: carries the gateway's errorCode and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class NewOrder:
    """A validated instantPayment.do request, without the card."""

    order_number: str
    amount: int
    currency: str
    description: str
    language: str
    back_url: str
    fail_url: str
    preauth: bool
    session_timeout: int
    ip: str = ""
    email: str = ""
    client_id: str = ""
    json_params: dict[str, str] | None = None
    dynamic_callback_url: str = ""


def _approval_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _reference_number() -> str:
    return f"{secrets.randbelow(10**12):012d}"


def _eci(order: Order, authenticated: bool) -> str:
    visa = order.payment_system == "VISA"
    if order.three_ds == ThreeDS.NONE:
        return "07" if visa else "00"
    if not authenticated:
        return "06" if visa else "01"
    return "05" if visa else "02"


def register_and_pay(
    merchant: Merchant,
    new: NewOrder,
    *,
    pan: str,
    expiry: str,
    cardholder_name: str,
    setoken_uuid: str = "",
) -> Order:
    """Register the order and run the card (instantPayment.do).

    The card number is used here to pick the test card and to mask it; only the masked
    number is stored.
    """
    card = card_for(pan)
    now = timezone.now()
    order = Order(
        merchant=merchant,
        order_number=new.order_number,
        amount=new.amount,
        currency=new.currency,
        description=new.description,
        language=new.language,
        back_url=new.back_url,
        fail_url=new.fail_url,
        dynamic_callback_url=new.dynamic_callback_url,
        ip=new.ip,
        email=new.email,
        client_id=new.client_id,
        json_params=new.json_params or {},
        preauth=new.preauth,
        masked_pan=mask_pan(pan),
        expiration=expiry,
        cardholder_name=cardholder_name,
        payment_system=payment_system(pan),
        three_ds=card.three_ds if card else ThreeDS.NONE,
        issuer_action_code=card.action_code if card else UNKNOWN_CARD_ACTION_CODE,
        setoken_uuid=setoken_uuid,
        created_at=now,
        expires_at=now + timedelta(seconds=new.session_timeout),
    )
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            if order.three_ds == ThreeDS.NONE:
                _authorise(order, order.issuer_action_code)
            else:
                # The shopper goes to the ACS next (acsRedirect.do or a POST to acsUrl).
                order.three_ds_trans_id = str(uuid.uuid4())
                order.save(update_fields=["three_ds_trans_id"])
    except IntegrityError as err:
        taken = Order.objects.filter(merchant=merchant, order_number=new.order_number).exists()
        if taken:
            raise ProcessingError(1, "Order with this number was already processed") from err
        raise ProcessingError(5, "This seToken was already used") from err
    return order


def _authorise(order: Order, action_code: int, *, authenticated: bool = False) -> None:
    """The issuer's answer: hold or charge the amount, or decline. Caller holds the lock."""
    now = timezone.now()
    order.eci = _eci(order, authenticated)
    if action_code == 0:
        order.action_code = 0
        order.approval_code = _approval_code()
        order.auth_ref_num = _reference_number()
        order.approved_amount = order.amount
        order.auth_at = now
        if order.preauth:
            order.status = S.APPROVED
        else:
            order.status = S.DEPOSITED
            order.deposited_amount = order.amount
            order.deposited_at = now
        order.save()
        Operation.objects.create(
            order=order,
            kind=Operation.Kind.AUTHORIZE,
            amount=order.amount,
            approval_code=order.approval_code,
            reference_number=order.auth_ref_num,
            created_at=now,
        )
        if not order.preauth:
            Operation.objects.create(
                order=order, kind=Operation.Kind.DEPOSIT, amount=order.amount, created_at=now
            )
        enqueue(order, "approved" if order.preauth else "deposited", success=True)
    else:
        order.status = S.DECLINED
        order.action_code = action_code
        order.save()
        Operation.objects.create(
            order=order, kind=Operation.Kind.DECLINE, action_code=action_code, created_at=now
        )
        enqueue(order, "approved" if order.preauth else "deposited", success=False)


def _locked(order_id: uuid.UUID) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def action_description(order: Order) -> str:
    return "" if order.action_code in (0, -100) else describe(order.action_code)


# --- lifetime ---------------------------------------------------------------------------------


def expire_if_due(order: Order) -> Order:
    """Decline an unpaid order whose session ran out (actionCode -2007)."""
    if order.status not in (S.REGISTERED, S.ACS_STARTED) or order.expires_at > timezone.now():
        return order
    with transaction.atomic():
        locked = _locked(order.pk)
        if locked.status in (S.REGISTERED, S.ACS_STARTED) and locked.expires_at <= timezone.now():
            _expire(locked)
    return locked


def _expire(order: Order) -> None:
    """Decline a locked order whose session ran out."""
    order.status = S.DECLINED
    order.action_code = -2007
    order.save(update_fields=["status", "action_code"])
    Operation.objects.create(order=order, kind=Operation.Kind.EXPIRE, action_code=-2007)
    enqueue(order, "declinedByTimeout", success=False)


def expire_due_orders(limit: int = 100) -> int:
    """Expire the unpaid orders whose session ran out; returns how many."""
    due = Order.objects.filter(
        status__in=(S.REGISTERED, S.ACS_STARTED), expires_at__lte=timezone.now()
    ).order_by("expires_at")[:limit]
    count = 0
    for order in due:
        if expire_if_due(order).status == S.DECLINED:
            count += 1
    return count


# --- 3-D Secure -------------------------------------------------------------------------------


def start_acs(order: Order) -> Order:
    """The shopper reached the ACS: frictionless cards finish here, others see a challenge."""
    order = expire_if_due(order)
    if not order.awaiting_3ds:
        return order
    if order.three_ds == ThreeDS.FRICTIONLESS:
        return finish_3ds(order, authenticated=True)
    if order.three_ds == ThreeDS.FRICTIONLESS_FAIL:
        return finish_3ds(order, authenticated=False, action_code=order.issuer_action_code)
    if order.status == S.REGISTERED:
        Order.objects.filter(pk=order.pk, status=S.REGISTERED).update(status=S.ACS_STARTED)
        order.refresh_from_db()
    return order


def finish_3ds(order: Order, *, authenticated: bool, action_code: int = -2006) -> Order:
    """End 3-D Secure: authorise as the card does, or decline with ``action_code``."""
    with transaction.atomic():
        locked = _locked(order.pk)
        if not locked.awaiting_3ds:
            return locked
        if locked.expires_at <= timezone.now():
            _expire(locked)
        elif authenticated:
            _authorise(locked, locked.issuer_action_code, authenticated=True)
        else:
            _authorise(locked, action_code)
    return locked


def finish_url(order: Order) -> str:
    """Where the shopper goes after the gateway: backUrl, or failUrl when it failed."""
    base = order.back_url
    if not order.succeeded and order.fail_url:
        base = order.fail_url
    separator = "&" if "?" in base else "?"
    return base + separator + urlencode({"orderId": str(order.id), "lang": order.language})


# --- back office ------------------------------------------------------------------------------


def deposit(order: Order, amount: int) -> Order:
    """Capture a hold, in full (amount 0) or in part."""
    order = expire_if_due(order)
    with transaction.atomic():
        locked = _locked(order.pk)
        if locked.status != S.APPROVED:
            raise ProcessingError(7, "Payment must be in a correct state (held)")
        amount = amount or locked.approved_amount
        if amount > locked.approved_amount:
            raise ProcessingError(7, "Deposit amount exceeds the approved amount")
        now = timezone.now()
        locked.status = S.DEPOSITED
        locked.deposited_amount = amount
        locked.deposited_at = now
        locked.save(update_fields=["status", "deposited_amount", "deposited_at"])
        Operation.objects.create(
            order=locked, kind=Operation.Kind.DEPOSIT, amount=amount, created_at=now
        )
        enqueue(locked, "deposited", success=True)
    return locked


def reverse(order: Order, amount: int | None) -> Order:
    """Void a hold. Only whole holds: a partial amount is refused."""
    order = expire_if_due(order)
    with transaction.atomic():
        locked = _locked(order.pk)
        if locked.status != S.APPROVED:
            raise ProcessingError(7, "Reversal is not possible in the current order state")
        if amount and amount != locked.approved_amount:
            raise ProcessingError(7, "Partial reversal is not allowed")
        now = timezone.now()
        locked.status = S.REVERSED
        locked.reversed_at = now
        locked.save(update_fields=["status", "reversed_at"])
        Operation.objects.create(
            order=locked, kind=Operation.Kind.REVERSE, amount=locked.approved_amount
        )
        enqueue(locked, "reversed", success=True)
    return locked


def refund(
    order: Order,
    amount: int,
    *,
    external_refund_id: str | None = None,
    expected_deposited_amount: int | None = None,
) -> Order:
    """Give back deposited money, repeatedly, never more than was deposited."""
    with transaction.atomic():
        locked = _locked(order.pk)
        if external_refund_id:
            earlier = locked.operations.filter(external_refund_id=external_refund_id).first()
            if earlier is not None:
                # A repeated request: answered like the first, nothing moves again.
                if amount and amount != earlier.amount:
                    raise ProcessingError(
                        7, "A refund with this externalRefundId has a different amount"
                    )
                return locked
        if locked.status not in (S.DEPOSITED, S.REFUNDED):
            raise ProcessingError(7, "Refund is not possible in the current order state")
        # Compared with the deposited total as getOrderStatusExtended reports it
        # (paymentAmountInfo.depositedAmount, which refunds do not lower).
        if (
            expected_deposited_amount is not None
            and expected_deposited_amount != locked.deposited_amount
        ):
            raise ProcessingError(7, "The deposited amount differs from expectedDepositedAmount")
        left = locked.deposited_amount - locked.refunded_amount
        amount = amount or left
        if left <= 0 or amount > left:
            raise ProcessingError(7, "Refund amount exceeds the deposited amount")
        now = timezone.now()
        locked.status = S.REFUNDED
        locked.refunded_amount += amount
        locked.refunded_at = now
        locked.save(update_fields=["status", "refunded_amount", "refunded_at"])
        Operation.objects.create(
            order=locked,
            kind=Operation.Kind.REFUND,
            amount=amount,
            approval_code=_approval_code(),
            reference_number=_reference_number(),
            external_refund_id=external_refund_id or "",
            created_at=now,
        )
        enqueue(locked, "refunded", success=True)
    return locked
