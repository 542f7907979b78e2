"""Saved cards: offering them to a known shopper, removing them, merchant-initiated payments.

A card is saved by an attempt that carries the shopper's wallet (its random ``clientId``
and ``tii=CI``, ``RI`` or ``II``); the binding is recorded from the gateway's status answer
(``checkout.services.bindings``). A shopper pays with a saved card by a seToken that holds
its bindingId and the CVC (``tii=F``), through the same claim → call → apply flow as any
card. ``charge_saved_card()`` makes a merchant-initiated payment (``tii=U``, ``R`` or
``I``): no shopper, no CVC, no 3-D Secure, idempotent on the caller's key.

Removing a card never waits for the gateway: the card leaves the shopper's list at once
and ``unBindCard.do`` is called after; when that call fails or its answer is lost,
``checkout_sync`` calls it again (unbinding twice is harmless) until the gateway confirms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from checkout import access
from checkout.cards import card_expiry, masked_pan
from checkout.conf import checkout_settings
from checkout.exceptions import (
    CheckoutError,
    GatewayError,
    GatewayRefused,
    OrderNotPayable,
)
from checkout.gateway import BINDING_NOT_FOUND, get_client
from checkout.models import Order, Payment, SavedCard, Wallet
from checkout.services.attempts import start_payment, submit_payment
from checkout.services.bindings import MERCHANT_INITIATED, wallet_for
from checkout.status import PaymentStatus, Source

__all__ = [
    "CardNotChargeable",
    "ShopperCards",
    "can_save",
    "charge_saved_card",
    "close_wallet",
    "reconcile_wallet",
    "remove_card",
    "shopper_cards",
    "shopper_wallet",
    "sync_saved_cards",
    "unbind_pending",
    "wallet_of_binding",
]

logger = logging.getLogger(__name__)

S = PaymentStatus

#: Unbind attempts after which checkout_sync stops retrying a card and reports it.
MAX_UNBIND_ATTEMPTS = 20


class CardNotChargeable(CheckoutError):
    """A merchant-initiated payment cannot be made on this card.

    ``reason`` is a stable code (``REMOVED``, ``EXPIRED``, ``NO_REFERENCE``); ``message``
    says it in the active language.
    """

    REMOVED = "removed"
    EXPIRED = "expired"
    NO_REFERENCE = "no_reference"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        messages = {
            self.REMOVED: _("the card was removed"),
            self.EXPIRED: _("the card has expired"),
            self.NO_REFERENCE: _(
                "the gateway has not named the card's first payment, which a payment "
                "without the shopper must quote"
            ),
        }
        return str(messages.get(self.reason, self.reason))


def enabled() -> bool:
    return bool(checkout_settings.SAVED_CARDS["enabled"])


# --- the card page -----------------------------------------------------------------------


def shopper_wallet(request: HttpRequest, order: Order, *, create: bool = False) -> Wallet | None:
    """The wallet whose cards this request may see and add to on ``order``'s card page.

    The order's own wallet (the shop named the owner when it made the order) if it is
    open; when that owner is a user of the auth model, only while that user is signed in.
    Else the signed-in shopper's, if this browser session made the order (an operator who
    opens a shopper's order is not offered their own cards); made when ``create``. None
    when SAVED_CARDS is off.
    """
    known = _known_shopper(request, order)
    if isinstance(known, Wallet) or known is None:
        return known
    return wallet_for(known, create=create)


def can_save(request: HttpRequest, order: Order) -> bool:
    """Whether the card page may offer this shopper to save the card (see shopper_wallet)."""
    return _known_shopper(request, order) is not None


def _known_shopper(request: HttpRequest, order: Order) -> Wallet | Any:
    if not enabled():
        return None
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    if order.wallet_id is not None:
        wallet = order.wallet
        if wallet is None or wallet.closed_at is not None:
            return None
        if wallet.owner_type_id == _user_type().pk:
            return (
                wallet
                if user is not None and signed_in and str(user.pk) == wallet.owner_id
                else None
            )
        return wallet
    if signed_in and access.owns(request, order):
        return user
    return None


def _user_type() -> ContentType:
    app_label, model = settings.AUTH_USER_MODEL.split(".")
    return ContentType.objects.get_by_natural_key(app_label, model.lower())


@dataclass(frozen=True)
class ShopperCards:
    """What the card page shows of a wallet: cards to pay with, and expired ones."""

    usable: list[SavedCard]
    expired: list[SavedCard]


def shopper_cards(wallet: Wallet | None) -> ShopperCards:
    """A wallet's active cards, most recently used first, the expired ones apart."""
    if wallet is None:
        return ShopperCards(usable=[], expired=[])
    cards = list(wallet.cards.filter(active=True, unbind=SavedCard.Unbind.NONE))
    now = timezone.now()
    return ShopperCards(
        usable=[card for card in cards if not card.expired(now)],
        expired=[card for card in cards if card.expired(now)],
    )


# --- removing ----------------------------------------------------------------------------


def remove_card(card: SavedCard, *, reason: str = SavedCard.SHOPPER) -> SavedCard:
    """Take a card out of use at once, then unbind it at the gateway (retried by sync)."""
    now = timezone.now()
    with transaction.atomic():
        SavedCard.objects.filter(pk=card.pk, unbind=SavedCard.Unbind.NONE).update(
            active=False,
            deactivated_at=now,
            deactivation_reason=reason[:100],
            unbind=SavedCard.Unbind.PENDING,
        )
    card.refresh_from_db()
    if card.unbind == SavedCard.Unbind.PENDING:
        _unbind(card)
    return card


def _unbind(card: SavedCard) -> bool:
    """Call unBindCard.do for a card being removed; True once the gateway confirmed it."""
    try:
        get_client().unbind_card(card.binding_id)
    except GatewayRefused as err:
        if err.code != BINDING_NOT_FOUND:
            return _unbind_failed(card, f"refused: errorCode {err.code}")
        # Not (or no longer) known to the gateway: nothing left to unbind.
    except GatewayError as err:
        # Not money-moving: whatever happened, calling it again is safe.
        return _unbind_failed(card, str(err))
    SavedCard.objects.filter(pk=card.pk).update(
        unbind=SavedCard.Unbind.DONE, unbind_attempts=card.unbind_attempts + 1
    )
    card.unbind = SavedCard.Unbind.DONE
    logger.info("saved card %s unbound at the gateway", card.public_id)
    return True


def _unbind_failed(card: SavedCard, why: str) -> bool:
    SavedCard.objects.filter(pk=card.pk).update(unbind_attempts=card.unbind_attempts + 1)
    card.unbind_attempts += 1
    logger.warning("saved card %s: unbind not confirmed (%s): retried later", card.public_id, why)
    return False


def unbind_pending(*, limit: int = 200) -> tuple[int, int]:
    """Retry unBindCard.do for removed cards the gateway has not confirmed: (done, left)."""
    cards = SavedCard.objects.filter(
        unbind=SavedCard.Unbind.PENDING, unbind_attempts__lt=MAX_UNBIND_ATTEMPTS
    ).order_by("pk")[:limit]
    done = sum(1 for card in list(cards) if _unbind(card))
    left = SavedCard.objects.filter(unbind=SavedCard.Unbind.PENDING).count()
    return done, left


def close_wallet(owner: Any) -> Wallet | None:
    """The owner is going away: close their wallet and unbind every card in it.

    The wallet and its cards stay as tombstones until the gateway has confirmed each
    unbind (``checkout_sync`` retries). Connected to the deletion of the auth user model;
    a shop whose owners are another model calls it when it deletes one. Safe inside the
    transaction that deletes the owner: the gateway is called once it has committed.
    """
    wallet = wallet_for(owner, create=False)
    if wallet is None:
        return None
    now = timezone.now()
    Wallet.objects.filter(pk=wallet.pk).update(closed_at=now)
    wallet.cards.filter(unbind=SavedCard.Unbind.NONE).update(
        active=False,
        deactivated_at=now,
        deactivation_reason=SavedCard.OWNER_DELETED,
        unbind=SavedCard.Unbind.PENDING,
    )
    wallet_pk = wallet.pk

    def unbind_all() -> None:
        for card in SavedCard.objects.filter(wallet_id=wallet_pk, unbind=SavedCard.Unbind.PENDING):
            _unbind(card)

    transaction.on_commit(unbind_all, robust=True)
    return wallet


def owner_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` receiver for the auth user model: see close_wallet()."""
    close_wallet(instance)


# --- comparing with the gateway ----------------------------------------------------------


def reconcile_wallet(wallet: Wallet) -> dict[str, int]:
    """Compare a wallet's cards with getBindings.do and apply the gateway's list.

    A card the gateway no longer lists is deactivated (nothing left to unbind); a listed
    card gets the gateway's expiry (after extendBinding.do, say); a card removed here but
    still listed is unbound again; a binding listed for this clientId that the shop lost
    track of (its status answer never arrived) is added, without the first payment's
    reference, so it serves the shopper but not merchant-initiated payments.
    """
    listed = {
        binding.binding_id: binding for binding in get_client().get_bindings(wallet.client_id)
    }
    counts = {"deactivated": 0, "updated": 0, "added": 0, "unbound": 0}
    now = timezone.now()
    for card in wallet.cards.all():
        binding = listed.pop(card.binding_id, None)
        if binding is None:
            if card.active or card.unbind == SavedCard.Unbind.PENDING:
                SavedCard.objects.filter(pk=card.pk).update(
                    active=False,
                    deactivated_at=card.deactivated_at or now,
                    deactivation_reason=card.deactivation_reason or SavedCard.NOT_LISTED,
                    unbind=SavedCard.Unbind.DONE if card.unbind else SavedCard.Unbind.NONE,
                )
                counts["deactivated"] += 1
            continue
        if card.unbind:
            if _unbind(card):
                counts["unbound"] += 1
            continue
        changes = {
            name: value
            for name, value in (
                ("expiry", card_expiry(binding.expiry)),
                ("masked_pan", masked_pan(binding.masked_pan)),
            )
            if value and value != getattr(card, name)
        }
        if changes:
            SavedCard.objects.filter(pk=card.pk).update(**changes)
            counts["updated"] += 1
    if wallet.closed_at is None:
        for binding in listed.values():
            SavedCard.objects.get_or_create(
                wallet=wallet,
                binding_id=binding.binding_id[:255],
                defaults={
                    "brand": (binding.payment_system or "")[:20],
                    "masked_pan": masked_pan(binding.masked_pan),
                    "expiry": card_expiry(binding.expiry),
                },
            )
            counts["added"] += 1
    Wallet.objects.filter(pk=wallet.pk).update(checked_at=now)
    return counts


def wallet_of_binding(binding_id: str, client_id: str = "") -> Wallet | None:
    """The wallet holding ``binding_id`` (or, failing that, known by ``client_id``)."""
    if binding_id:
        card = SavedCard.objects.select_related("wallet").filter(binding_id=binding_id).first()
        if card is not None:
            return card.wallet
    if client_id:
        return Wallet.objects.filter(client_id=client_id).first()
    return None


def sync_saved_cards(*, limit: int = 200) -> dict[str, int]:
    """checkout_sync's share: pending unbinds, then wallets due for a comparison."""
    done, left = unbind_pending(limit=limit)
    totals = {"unbound": done, "unbind_pending": left, "wallets_checked": 0}
    every = int(checkout_settings.SAVED_CARDS["check_every"] or 0)
    if every > 0:
        due = timezone.now() - timedelta(seconds=every)
        wallets = (
            Wallet.objects.filter(Q(checked_at__isnull=True) | Q(checked_at__lt=due))
            .filter(cards__isnull=False)
            .distinct()
            .order_by("checked_at", "pk")[:limit]
        )
        for wallet in list(wallets):
            try:
                counts = reconcile_wallet(wallet)
            except GatewayError as err:
                logger.warning("wallet %s: getBindings.do failed: %s", wallet.pk, err)
                continue
            totals["wallets_checked"] += 1
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
    return totals


# --- merchant-initiated payments ---------------------------------------------------------


def charge_saved_card(
    card: SavedCard,
    order: Order,
    *,
    reason: str,
    idempotency_key: str,
) -> Payment:
    """Charge a saved card for ``order`` without the shopper (one-phase, no CVC, no 3DS).

    ``reason`` is the initiator indicator: ``"U"`` unscheduled, ``"R"`` recurring,
    ``"I"`` instalment. ``idempotency_key`` (the caller's, at most 100 characters) makes
    the call safe to repeat: a second call with a key already used returns that key's
    payment as it stands and never charges again (only an attempt that certainly never
    reached the gateway, FAILED, gives its key to a new attempt). The same rules as every
    card payment: claim, call outside any transaction, apply; an unknown outcome is
    settled by a status query (``checkout_sync``), never by calling again. The result is
    also sent as ``saved_card_charged``.

    Raises GatewayUnavailable when the gateway certainly did not take the payment (it
    could not be reached, or refused the request unread): the attempt is then FAILED and
    its key free for a new try. Raises CardNotChargeable for a card that is removed,
    expired, or has no reference of its first payment (without it the gateway makes a
    regular payment, which may ask for 3-D Secure that nobody can complete), ValueError
    for a bad reason or key, and OrderNotPayable when the order is paid, expired or has
    an attempt running.
    """
    if reason not in MERCHANT_INITIATED:
        raise ValueError(f"reason must be one of {sorted(MERCHANT_INITIATED)}, not {reason!r}.")
    key = str(idempotency_key).strip()
    if not key or len(key) > 100:
        raise ValueError("idempotency_key must be 1 to 100 characters.")
    earlier = _earlier_charge(key, card, order)
    if earlier is not None:
        return earlier
    card.refresh_from_db()
    if not card.active or card.unbind:
        raise CardNotChargeable(CardNotChargeable.REMOVED)
    if card.expired():
        raise CardNotChargeable(CardNotChargeable.EXPIRED)
    if not (card.network_reference and card.first_paid_at):
        raise CardNotChargeable(CardNotChargeable.NO_REFERENCE)
    try:
        payment = start_payment(
            order,
            preauth=False,
            saved_card=card,
            tii=reason,
            idempotency_key=key,
            source=Source.MERCHANT,
        )
    except OrderNotPayable:
        # The same key claimed by a concurrent call a moment ago is that call's payment.
        earlier = _earlier_charge(key, card, order)
        if earlier is not None:
            return earlier
        raise
    return_url = checkout_settings.SITE_URL + reverse("jcc_checkout:return")
    payment, _ = submit_payment(
        payment, back_url=return_url, fail_url=return_url + "?failed=1", email=order.email
    )
    if payment.status == S.AWAITING_3DS:
        logger.error(
            "merchant-initiated payment %s: the gateway asks for 3-D Secure: it will expire",
            payment.order_number,
        )
    return payment


def _earlier_charge(key: str, card: SavedCard, order: Order) -> Payment | None:
    earlier = Payment.objects.filter(idempotency_key=key).first()
    if earlier is None:
        return None
    if earlier.order_id != order.pk or earlier.saved_card_id != card.pk:
        raise ValueError("idempotency_key was used for another charge.")
    if earlier.status == S.FAILED:
        # Certainly never charged: the key may start a new attempt.
        Payment.objects.filter(pk=earlier.pk, status=S.FAILED).update(idempotency_key=None)
        return None
    return earlier
