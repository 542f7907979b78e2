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
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from checkout.sandbox.cards import (
    CARDS,
    UNKNOWN_CARD_ACTION_CODE,
    ThreeDS,
    card_for,
    describe,
    mask_pan,
    payment_system,
)
from checkout.sandbox.models import (
    BankCancellation,
    Binding,
    Merchant,
    Operation,
    Order,
    OrderStatus,
)
from checkout.sandbox.outbox import enqueue, enqueue_binding

__all__ = [
    "EXPIRED_CARD_ACTION_CODE",
    "ChargeCard",
    "NewOrder",
    "ProcessingError",
    "action_description",
    "bind_card",
    "cancel_binding_at_bank",
    "card_fingerprint",
    "card_from_binding",
    "card_from_pan",
    "deposit",
    "expire_binding",
    "expire_due_orders",
    "expire_if_due",
    "extend_binding",
    "finish_3ds",
    "finish_url",
    "pay_registered",
    "refund",
    "register",
    "register_and_pay",
    "reverse",
    "start_acs",
    "unbind_card",
]

#: What the issuer answers for a stored card past its expiry.
EXPIRED_CARD_ACTION_CODE = 101

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


@dataclass(frozen=True, repr=False)
class ChargeCard:
    """The card an order is charged to: what the bank keeps of it, never its number."""

    masked_pan: str
    expiry: str
    payment_system: str
    three_ds: str
    issuer_action_code: int
    fault: str = ""
    fingerprint: str = ""
    binding: Binding | None = None

    def __repr__(self) -> str:
        return f"<ChargeCard {self.masked_pan}>"


@sensitive_variables()
def card_fingerprint(pan: str) -> str:
    """A keyed digest that recognises a card again without keeping its number."""
    return salted_hmac("checkout.sandbox.binding", pan, algorithm="sha256").hexdigest()


def card_from_pan(pan: str, expiry: str) -> ChargeCard:
    """The test card with this number (an unknown number is declined, 71015)."""
    card = card_for(pan)
    return ChargeCard(
        masked_pan=mask_pan(pan),
        expiry=expiry,
        payment_system=payment_system(pan),
        three_ds=card.three_ds if card else ThreeDS.NONE,
        issuer_action_code=card.action_code if card else UNKNOWN_CARD_ACTION_CODE,
        fault=card.fault if card else "",
        fingerprint=card_fingerprint(pan),
    )


def card_from_binding(binding: Binding) -> ChargeCard:
    """The stored card: the issuer declines a closed (101 expired, or the bank's code) one."""
    action_code = binding.issuer_action_code
    if binding.cancelled_action_code is not None:
        action_code = binding.cancelled_action_code
    elif binding.expired:
        action_code = EXPIRED_CARD_ACTION_CODE
    return ChargeCard(
        masked_pan=binding.masked_pan,
        expiry=binding.expiry,
        payment_system=binding.payment_system,
        three_ds=binding.three_ds or ThreeDS.NONE,
        issuer_action_code=action_code,
        fault=binding.card_fault,
        fingerprint=binding.card_fingerprint,
        binding=binding,
    )


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


def _new_order(merchant: Merchant, new: NewOrder) -> Order:
    now = timezone.now()
    return Order(
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
        # Pairs, not an object: a JSON column may reorder an object's keys (PostgreSQL's
        # jsonb does), and merchantOrderParams lists them as they were sent.
        json_params=[[name, value] for name, value in (new.json_params or {}).items()],
        preauth=new.preauth,
        created_at=now,
        expires_at=now + timedelta(seconds=new.session_timeout),
    )


def _take_card(
    order: Order, card: ChargeCard, *, tii: str, merchant_initiated: bool, bind: bool
) -> None:
    """Put the card on the order. A merchant-initiated payment on stored credentials is
    never 3-D Secure and always one-phase."""
    order.masked_pan = card.masked_pan
    order.expiration = card.expiry
    order.payment_system = card.payment_system
    order.three_ds = ThreeDS.NONE if merchant_initiated else card.three_ds
    order.issuer_action_code = card.issuer_action_code
    order.tii = tii
    if merchant_initiated:
        order.preauth = False
    if card.binding is not None:
        order.binding = card.binding
        order.client_id = order.client_id or card.binding.client_id
    else:
        order.bind_card = bind and bool(order.client_id)
        order.card_fingerprint = card.fingerprint


def _run_card(order: Order) -> None:
    """Authorise at once, or send the shopper to the ACS first. Caller holds the lock."""
    if order.three_ds == ThreeDS.NONE:
        _authorise(order, order.issuer_action_code)
    else:
        # The shopper goes to the ACS next (acsRedirect.do or a POST to acsUrl).
        order.three_ds_trans_id = str(uuid.uuid4())
        order.save(update_fields=["three_ds_trans_id"])


def register_and_pay(
    merchant: Merchant,
    new: NewOrder,
    *,
    card: ChargeCard,
    cardholder_name: str,
    setoken_uuid: str = "",
    tii: str = "",
    merchant_initiated: bool = False,
    bind: bool = False,
) -> Order:
    """Register the order and run the card (instantPayment.do).

    The card number was used by the caller to pick the test card and to mask it; only the
    masked number (and a keyed fingerprint, to recognise a stored card) is kept.
    """
    order = _new_order(merchant, new)
    order.cardholder_name = cardholder_name
    order.setoken_uuid = setoken_uuid
    _take_card(order, card, tii=tii, merchant_initiated=merchant_initiated, bind=bind)
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            _run_card(order)
    except IntegrityError as err:
        taken = Order.objects.filter(merchant=merchant, order_number=new.order_number).exists()
        if taken:
            raise ProcessingError(1, "Order with this number was already processed") from err
        raise ProcessingError(5, "This seToken was already used") from err
    return order


def register(merchant: Merchant, new: NewOrder) -> Order:
    """Register an order to be paid later (register.do), e.g. by paymentOrderBinding.do."""
    order = _new_order(merchant, new)
    try:
        order.save(force_insert=True)
    except IntegrityError as err:
        raise ProcessingError(1, "Order with this number was already processed") from err
    return order


def pay_registered(
    order: Order, card: ChargeCard, *, tii: str, merchant_initiated: bool, ip: str = ""
) -> Order:
    """Pay a registered order with a stored card (paymentOrderBinding.do)."""
    order = expire_if_due(order)
    with transaction.atomic():
        locked = _locked(order.pk)
        if locked.status != S.REGISTERED or locked.three_ds_trans_id:
            raise ProcessingError(7, "The order cannot be paid in its current state")
        binding = card.binding
        if binding is not None and locked.client_id and locked.client_id != binding.client_id:
            raise ProcessingError(2, "Binding not found")
        _take_card(locked, card, tii=tii, merchant_initiated=merchant_initiated, bind=False)
        if ip:
            locked.ip = ip
        locked.save()
        _run_card(locked)
    return locked


def _authorise(order: Order, action_code: int, *, authenticated: bool = False) -> None:
    """The issuer's answer: hold or charge the amount, or decline. Caller holds the lock."""
    now = timezone.now()
    order.eci = _eci(order, authenticated)
    if action_code == 0:
        order.action_code = 0
        order.approval_code = _approval_code()
        order.auth_ref_num = _reference_number()
        order.net_ref_num = _reference_number()
        order.approved_amount = order.amount
        order.auth_at = now
        if order.preauth:
            order.status = S.APPROVED
        else:
            order.status = S.DEPOSITED
            order.deposited_amount = order.amount
            order.deposited_at = now
        created = _store_card(order) if order.bind_card and order.binding_id is None else None
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
        if created is not None:
            enqueue(order, "bindingCreated", success=True, binding=created)
    else:
        order.status = S.DECLINED
        order.action_code = action_code
        order.save()
        Operation.objects.create(
            order=order, kind=Operation.Kind.DECLINE, action_code=action_code, created_at=now
        )
        enqueue(order, "approved" if order.preauth else "deposited", success=False)


def _store_card(order: Order) -> Binding | None:
    """Bind the approved card to the order's client; None when an active binding of the
    same card is reused (no bindingCreated then). Caller holds the order's lock."""
    lookup = {
        "merchant": order.merchant,
        "client_id": order.client_id,
        "card_fingerprint": order.card_fingerprint,
        "active": True,
    }
    existing = Binding.objects.select_for_update().filter(**lookup).first()
    if existing is None:
        try:
            with transaction.atomic():
                created = Binding.objects.create(
                    **lookup,
                    masked_pan=order.masked_pan,
                    expiry=order.expiration,
                    payment_system=order.payment_system,
                    three_ds=order.three_ds,
                    issuer_action_code=order.issuer_action_code,
                    card_fault=_card_fault(order.card_fingerprint),
                    auth_ref_num=order.net_ref_num,
                    auth_at=order.auth_at or timezone.now(),
                )
            order.binding = created
            return created
        except IntegrityError:
            # A concurrent payment of the same card bound it first: the schema decides.
            existing = Binding.objects.get(**lookup)
    if order.expiration > existing.expiry:
        # A renewed card (same number, later expiry) renews the stored credential.
        existing.expiry = order.expiration
        existing.save(update_fields=["expiry"])
    order.binding = existing
    return None


def _card_fault(fingerprint: str) -> str:
    """The transport fault of the test card with this fingerprint, which the order does
    not keep (a stored fault card keeps spoiling its answers)."""
    for card in CARDS:
        if card.fault and card_fingerprint(card.pan) == fingerprint:
            return card.fault
    return ""


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


# --- stored credentials (bindings) ---------------------------------------------------------


def _locked_binding(binding: Binding) -> Binding:
    return Binding.objects.select_for_update().select_related("merchant").get(pk=binding.pk)


def unbind_card(binding: Binding) -> Binding:
    """Deactivate a binding (unBindCard.do); notified as bindingActivityChanged, status 0."""
    with transaction.atomic():
        locked = _locked_binding(binding)
        if not locked.active:
            raise ProcessingError(2, "Binding is not active")
        locked.active = False
        locked.save(update_fields=["active"])
        enqueue_binding(locked, "bindingActivityChanged", success=False)
    return locked


def bind_card(binding: Binding) -> Binding:
    """Reactivate an unbound binding (bindCard.do); bindingActivityChanged, status 1."""
    with transaction.atomic():
        locked = _locked_binding(binding)
        if locked.active:
            raise ProcessingError(2, "Binding is already active")
        locked.active = True
        try:
            with transaction.atomic():
                locked.save(update_fields=["active"])
        except IntegrityError as err:
            raise ProcessingError(2, "Another binding of this card is active") from err
        enqueue_binding(locked, "bindingActivityChanged", success=True)
    return locked


def extend_binding(binding: Binding, new_expiry: str) -> Binding:
    """Set a binding's card expiry (extendBinding.do)."""
    with transaction.atomic():
        locked = _locked_binding(binding)
        locked.expiry = new_expiry
        locked.save(update_fields=["expiry"])
    return locked


def expire_binding(binding: Binding) -> Binding:
    """Console: the card's expiry becomes last month."""
    now = timezone.now()
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return extend_binding(binding, f"{year:04d}{month:02d}")


def cancel_binding_at_bank(binding: Binding, action_code: int = BankCancellation.CLOSED) -> Binding:
    """Console: the issuer closed the card; its payments are declined with ``action_code``."""
    with transaction.atomic():
        locked = _locked_binding(binding)
        locked.cancelled_action_code = action_code
        locked.save(update_fields=["cancelled_action_code"])
    return locked
