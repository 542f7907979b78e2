"""Orders and payment attempts: create an order, claim an attempt, send it to the gateway.

The flow is claim (``start_payment``, one short transaction), call (``submit_payment``:
``instantPayment.do`` outside any transaction), then apply (``transition()`` and, for an
approval, a confirming status query through ``settlement``).
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from checkout import money
from checkout.cards import CardData, card_expiry, masked_pan
from checkout.conf import checkout_settings
from checkout.exceptions import (
    GatewayError,
    GatewayRefused,
    GatewayUnavailable,
    OrderNotPayable,
    OutcomeUnknown,
)
from checkout.exchanges import held_exchanges, save_exchanges
from checkout.gateway import ExchangeRecord, InstantPaymentResult, get_client
from checkout.i18n import gateway_language, order_language
from checkout.models import Order, Payment, SavedCard, Wallet
from checkout.services.bindings import MERCHANT_INITIATED, wallet_for
from checkout.services.settlement import instant_settlement, refresh_payment
from checkout.services.transitions import create_claimed, require_no_transaction, transition
from checkout.status import (
    ACTIVE_STATUSES,
    BLOCKING_STATUSES,
    SECURED_STATUSES,
    PaymentStatus,
    Source,
)

__all__ = [
    "MAX_ORDER_NUMBER_PREFIX",
    "abandon_payment",
    "create_order",
    "new_order_number",
    "start_payment",
    "submit_payment",
]

logger = logging.getLogger(__name__)

S = PaymentStatus


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
    language: str | None = None,
    merchant_reference: str = "",
    content_object: Any = None,
    owner: Any = None,
    recurrence: str = "",
) -> Order:
    """Create an order to be paid by card; it expires after ORDER_EXPIRY seconds unpaid.

    ``language`` (two letters are kept) defaults to the active language: the shopper's,
    when called while a request is served. ``owner`` (the shopper's user, or any model
    instance standing for them) makes the order's card page offer their saved cards and
    to save a new one, when SAVED_CARDS is enabled. ``recurrence`` (``"recurring"`` or
    ``"instalments"``) says the order starts a subscription or an instalment plan: its
    card is then saved for the payments that follow (tii ``RI`` or ``II``).
    """
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
        language=order_language(language),
        merchant_reference=merchant_reference,
        recurrence=recurrence,
        created_at=now,
        expires_at=now + timedelta(seconds=int(checkout_settings.ORDER_EXPIRY)),
    )
    if content_object is not None:
        order.content_object = content_object
    if owner is not None:
        order.wallet = wallet_for(owner)
    order.full_clean(exclude=["content_type", "object_id"])
    order.save()
    return order


_MARKUP = re.compile(r"[<>]")


def start_payment(
    order: Order,
    *,
    preauth: bool | None = None,
    client_key: str = "",
    wallet: Wallet | None = None,
    saved_card: SavedCard | None = None,
    tii: str = "",
    idempotency_key: str | None = None,
    source: str = Source.CARD_ENTRY,
) -> Payment:
    """Claim a new attempt for ``order``: a Payment in PROCESSING, in one short transaction.

    ``client_key`` names the shopper's address counter the caller counts the attempt on
    (``checkout.ratelimit.client_key``); it is given back if the attempt secures the money.
    ``wallet`` saves the card into that wallet; ``saved_card`` pays with a saved card;
    ``tii`` is the initiator indicator sent with either (``checkout.services.saved_cards``
    sets them).

    Raises OrderNotPayable when the order's money is already secured, an attempt is
    still active (the partial unique constraint decides under concurrency), an earlier
    answer needs review, or the order has expired.
    """
    try:
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            blocking = (
                Payment.objects.filter(order=locked, status__in=BLOCKING_STATUSES)
                .order_by("-created_at", "-pk")
                .first()
            )
            if blocking is not None:
                raise OrderNotPayable(_blocking_reason(blocking), payment=blocking)
            if locked.is_expired:
                raise OrderNotPayable(OrderNotPayable.EXPIRED)
            payment = create_claimed(
                Payment(
                    order=locked,
                    order_number=new_order_number(),
                    amount=locked.amount,
                    currency=locked.currency,
                    preauth=checkout_settings.PREAUTH if preauth is None else preauth,
                    client_key=client_key[:32],
                    wallet=wallet,
                    saved_card=saved_card,
                    tii=tii,
                    idempotency_key=idempotency_key,
                ),
                source=source,
            )
    except IntegrityError:
        # Another request claimed an attempt for this order between our check and insert.
        active = (
            Payment.objects.filter(order_id=order.pk, status__in=ACTIVE_STATUSES)
            .order_by("-created_at", "-pk")
            .first()
        )
        raise OrderNotPayable(OrderNotPayable.IN_PROGRESS, payment=active) from None
    return payment


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
    certainly had no effect) marks the attempt FAILED and propagates. If a status query
    moved the attempt on while the call ran (only once the call outlived its timeouts),
    the answer is not applied over it: the payment is returned as it now stands.
    """
    require_no_transaction("instantPayment.do")
    order = payment.order
    stored = _stored_credential(payment)
    # The call's exchange row is written in the transaction that applies its answer (on
    # its own, at the end, if that transaction never commits).
    held: list[ExchangeRecord] = []
    #: (status, note, exception to raise after applying it) when the call failed.
    failure: tuple[str, str, GatewayError | None] | None = None
    try:
        with held_exchanges(held):
            try:
                result = get_client().instant_payment(
                    order_number=payment.order_number,
                    amount=payment.amount,
                    currency=payment.currency,
                    description=order.description,
                    language=gateway_language(order.language),
                    back_url=back_url,
                    fail_url=fail_url,
                    card=card,
                    se_token=se_token,
                    cardholder_name=cardholder_name,
                    email=email,
                    ip=ip,
                    preauth=payment.preauth,
                    session_timeout=checkout_settings.SESSION_TIMEOUT,
                    context=payment,
                    **stored,
                )
            except GatewayRefused as err:
                failure = (S.FAILED, f"instantPayment refused: errorCode {err.code}", None)
            except OutcomeUnknown:
                failure = (S.OUTCOME_UNKNOWN, "instantPayment: no answer", None)
            except GatewayUnavailable as err:
                failure = (S.FAILED, "gateway unreachable: request not sent", err)
        if failure is not None:
            to_status, note, raised = failure
            payment = _from_claim(payment, to_status, note=note, held=held)
            if raised is not None:
                raise raised
            return payment, None
        return _apply_answer(payment, result, held)
    finally:
        save_exchanges(held)


def _stored_credential(payment: Payment) -> dict[str, Any]:
    """The stored-credential parameters of an attempt's instantPayment.do call.

    Saving a card sends the wallet's clientId and the attempt's tii; paying with a saved
    card sends its wallet's clientId, the tii and the first payment's network reference
    and date (without them the gateway makes a regular payment); a merchant-initiated
    payment also names the binding, as no seToken carries it. Any other attempt, when the
    shop uses saved cards, asks the gateway not to keep the card.
    """
    card = payment.saved_card
    if card is not None:
        params: dict[str, Any] = {"client_id": card.wallet.client_id, "tii": payment.tii}
        if card.network_reference and card.first_paid_at:
            params["original_payment_net_ref_num"] = card.network_reference
            params["original_payment_date"] = card.first_paid_at
        if payment.tii in MERCHANT_INITIATED:
            params["binding_id"] = card.binding_id
        return params
    if payment.wallet is not None:
        return {"client_id": payment.wallet.client_id, "tii": payment.tii or "CI"}
    if checkout_settings.SAVED_CARDS["enabled"]:
        return {"binding_not_needed": True}
    return {}


def _apply_answer(
    payment: Payment, result: InstantPaymentResult, held: list[ExchangeRecord]
) -> tuple[Payment, InstantPaymentResult]:
    # An attempt that saves a card waits for the status answer, which names the binding.
    settled = None if payment.wallet_id else instant_settlement(payment, result)
    if settled is not None:
        # An unambiguous approval of exactly this attempt: final without a status query.
        payment = _from_claim(payment, settled.status, fields=settled.fields, held=held)
        if payment.status == settled.status:
            return payment, result
        # A status query moved the attempt on while the call outlived its timeouts: the
        # gateway's current answer decides, applied to where the attempt now stands.
        return _confirm(payment), result
    fields: dict[str, Any] = {
        "gateway_order_id": result.order_id or None,
        "masked_pan": masked_pan(result.masked_pan),
        "card_expiry": card_expiry(result.expiration),
        "approval_code": result.approval_code[:12],
    }
    if result.action_code is not None:
        fields["action_code"] = result.action_code
    if result.requires_3ds:
        return _from_claim(payment, S.AWAITING_3DS, fields=fields, held=held), result
    # Keep the gateway's order id first, so the status query below (or a callback racing
    # it) can find this attempt.
    payment = _from_claim(payment, S.PROCESSING, fields=fields, held=held)
    return _confirm(payment), result


def _confirm(payment: Payment) -> Payment:
    """Settle an answered attempt by a status query; unknown if none can be had."""
    try:
        payment, _ = refresh_payment(payment, source=_source(payment))
    except GatewayError as err:
        logger.warning("payment %s: confirmation failed: %s", payment.order_number, err)
    if payment.status == S.PROCESSING:
        payment = _from_claim(payment, S.OUTCOME_UNKNOWN, note="answered, not yet confirmed")
    return payment


def abandon_payment(payment: Payment, *, reason: str) -> Payment:
    """Give up a claimed attempt before anything was sent to the gateway (FAILED)."""
    return _from_claim(payment, S.FAILED, note=f"not sent: {reason}")


def _from_claim(
    payment: Payment,
    to_status: str,
    *,
    note: str = "",
    fields: dict[str, Any] | None = None,
    held: list[ExchangeRecord] | None = None,
) -> Payment:
    """Apply what the card call brought to an attempt still claimed by this request.

    The exchange rows ``held`` back are written in the same transaction.
    """
    with transaction.atomic():
        if held:
            save_exchanges(held)
        # Locked here rather than by transition(), so that no savepoint is needed for it.
        locked = Payment.objects.select_for_update().select_related("order").get(pk=payment.pk)
        payment, _ = transition(
            locked,
            to_status,
            source=_source(payment),
            note=note,
            fields=fields,
            expect={S.PROCESSING},
            locked=True,
        )
    return payment


def _source(payment: Payment) -> str:
    return Source.MERCHANT if payment.tii in MERCHANT_INITIATED else Source.CARD_ENTRY
