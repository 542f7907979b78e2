"""Saved cards as status answers report them: a new binding, a card used, a card gone.

The binding of a card saved by an attempt is read from the gateway's status answer
(``bindingInfo``), never from the browser or from a callback's own parameters:
``record_binding()`` runs inside the transaction that applies that answer.
``after_status_change()`` (a ``payment_status_changed`` receiver) stamps a saved card's
last use, disables a card the bank says is gone, and sends ``saved_card_charged`` for
merchant-initiated payments.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.utils import timezone

from checkout import signals
from checkout.cards import card_expiry, masked_pan
from checkout.gateway import OrderStatus
from checkout.models import Payment, SavedCard, Wallet
from checkout.status import SECURED_STATUSES, UNSUCCESSFUL_STATUSES, PaymentStatus

__all__ = [
    "CARD_GONE",
    "MERCHANT_INITIATED",
    "SAVING",
    "after_status_change",
    "record_binding",
    "wallet_for",
]

logger = logging.getLogger(__name__)

S = PaymentStatus

#: tii of an attempt that stores the card: initial common, recurring, instalment.
SAVING = frozenset({"CI", "RI", "II"})
#: tii of a payment the shop makes without the shopper: unscheduled, recurring, instalment.
MERCHANT_INITIATED = frozenset({"U", "R", "I"})

#: actionCodes saying the card can no longer be charged: blocked or cannot be used (4, 62),
#: expired (73, 101, 906), no such card (111, 125, 905), lost or stolen (203, 204, 208,
#: 823), black-listed (-2000). Any other decline leaves a saved card as it is.
CARD_GONE = frozenset({4, 62, 73, 101, 906, 111, 125, 905, 203, 204, 208, 823, -2000})


def wallet_for(owner: Any, *, create: bool = True) -> Wallet | None:
    """The open wallet of ``owner`` (any saved model instance), made on first use."""
    if owner is None or getattr(owner, "pk", None) is None:
        return None
    owner_type = ContentType.objects.get_for_model(owner)
    lookup = {"owner_type": owner_type, "owner_id": str(owner.pk), "closed_at__isnull": True}
    wallet = Wallet.objects.filter(**lookup).first()
    if wallet is not None or not create:
        return wallet
    try:
        with transaction.atomic():
            return Wallet.objects.create(owner_type=owner_type, owner_id=str(owner.pk))
    except IntegrityError:
        # Made by a concurrent request for the same owner a moment ago.
        return Wallet.objects.get(**lookup)


def record_binding(payment: Payment, status: OrderStatus) -> SavedCard | None:
    """Keep the card an attempt saved, from the gateway's answer about that attempt.

    Call it inside the transaction that applies ``status`` to ``payment`` (locked), once
    the answer has been checked against the attempt and secures its money. Nothing is
    recorded unless the attempt asked to save the card into a wallet and the answer names
    a binding of that wallet's clientId. Applying the same answer again changes nothing.
    """
    binding = getattr(status, "binding", None)
    wallet = payment.wallet
    if wallet is None or binding is None or not binding.binding_id:
        return None
    if binding.client_id and binding.client_id != wallet.client_id:
        logger.error("payment %s: binding for another clientId: not recorded", payment.order_number)
        return None
    card_info = status.card
    defaults: dict[str, Any] = {
        "brand": (card_info.payment_system or payment.card_brand or "")[:20],
        "masked_pan": masked_pan(card_info.masked_pan) or payment.masked_pan,
        "expiry": card_expiry(card_info.expiration) or payment.card_expiry,
        "network_reference": (binding.auth_ref_num or "")[:36],
        "first_paid_at": binding.auth_at or status.auth_date,
        "first_payment": payment,
    }
    card, created = SavedCard.objects.get_or_create(
        wallet=wallet, binding_id=binding.binding_id[:255], defaults=defaults
    )
    if created:
        logger.info("payment %s: card saved (%s)", payment.order_number, card.public_id)
        transaction.on_commit(
            lambda: signals.saved_card_added.send(sender=SavedCard, card=card, payment=payment),
            robust=True,
        )
        return card
    missing = {name: value for name, value in defaults.items() if value and not getattr(card, name)}
    if missing:
        SavedCard.objects.filter(pk=card.pk).update(**missing)
    return card


def after_status_change(
    sender: Any, payment: Payment, to_status: str, source: str, **kwargs: Any
) -> None:
    """``payment_status_changed`` receiver for payments made with a saved card."""
    if payment.saved_card_id is None:
        return
    now = timezone.now()
    if to_status in SECURED_STATUSES:
        SavedCard.objects.filter(pk=payment.saved_card_id).update(last_used_at=now)
    elif to_status == S.DECLINED and payment.action_code in CARD_GONE:
        disabled = SavedCard.objects.filter(pk=payment.saved_card_id, active=True).update(
            active=False,
            deactivated_at=now,
            deactivation_reason=f"{SavedCard.DECLINED}:{payment.action_code}",
        )
        if disabled:
            logger.info(
                "saved card of payment %s disabled: actionCode %s",
                payment.order_number,
                payment.action_code,
            )
    finished = to_status in SECURED_STATUSES or to_status in UNSUCCESSFUL_STATUSES
    if payment.tii in MERCHANT_INITIATED and finished:
        signals.saved_card_charged.send(
            sender=SavedCard,
            payment=payment,
            card=payment.saved_card,
            succeeded=to_status in SECURED_STATUSES,
        )
