"""The demo's monthly subscription: started by a paid order, charged on the saved card.

An order whose cart holds a monthly product starts a subscription (``recurrence``): its
card is saved with ``tii=RI`` and, once the order is paid, a Subscription remembers the
card. ``charge_due()`` (the ``charge_subscriptions`` command, or the admin's action) makes
each next payment a merchant-initiated one (``tii=R``) with an idempotency key per period
and retry, on an order of its own that gets a receipt like any purchase.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from checkout.exceptions import CheckoutError, GatewayUnavailable
from checkout.models import Order, Payment, SavedCard
from checkout.services import create_order
from checkout.services.saved_cards import CardNotChargeable, charge_saved_card
from checkout.signals import order_paid
from checkout.status import SECURED_STATUSES, UNSUCCESSFUL_STATUSES
from merchant_site.shop.models import Purchase, PurchaseLine, Subscription

__all__ = ["PERIOD", "charge", "charge_due", "start_subscription"]

logger = logging.getLogger(__name__)

#: Time between two charges of a subscription.
PERIOD = timedelta(days=30)


@receiver(order_paid, dispatch_uid="merchant_site.shop.start_subscription")
def start_subscription(
    sender: type[Order], order: Order, payment: Payment, **kwargs: Any
) -> Subscription | None:
    """A paid first order of a monthly product starts its subscription (once)."""
    if not order.recurrence:
        return None
    purchase = Purchase.objects.filter(order=order).first()
    if purchase is None or Subscription.objects.filter(first_purchase=purchase).exists():
        return None
    line = purchase.lines.filter(product__monthly=True).select_related("product").first()
    card = SavedCard.objects.filter(first_payment=payment).first()
    if line is None or line.product is None:
        return None
    if card is None:
        logger.warning("order %s: paid, but no card was saved for its subscription", order)
    wallet = card.wallet if card is not None else order.wallet
    user = wallet.owner if wallet is not None else None
    return Subscription.objects.create(
        user=user if getattr(user, "pk", None) else None,
        product=line.product,
        first_purchase=purchase,
        card=card,
        amount=line.total,
        currency=purchase.currency,
        next_charge_at=timezone.now() + PERIOD,
    )


def _order_for(subscription: Subscription) -> Order:
    """The order of the charge under way, made (with its purchase) on first need."""
    if subscription.current_order is not None:
        return subscription.current_order
    product = subscription.product
    email = subscription.first_purchase.email
    number = subscription.periods + 1
    with transaction.atomic():
        purchase = Purchase.objects.create(
            email=email, amount=subscription.amount, currency=subscription.currency
        )
        PurchaseLine.objects.create(
            purchase=purchase,
            product=product,
            name=f"{product.name} ({number})",
            unit_price=subscription.amount,
            quantity=1,
        )
        order = create_order(
            amount=subscription.amount,
            currency=subscription.currency,
            description=f"{product.name}, month {number}",
            email=email,
            merchant_reference=purchase.reference,
            content_object=purchase,
        )
        purchase.order = order
        purchase.save(update_fields=["order"])
        subscription.current_order = order
        subscription.save(update_fields=["current_order"])
    return order


def charge(subscription: Subscription) -> Payment | None:
    """Make (or look up) the subscription's next payment and apply its result.

    Paid: the next period starts. Declined: tried again on the next run, with a key of
    its own, and past due after MAX_FAILED declines. Unknown: the same key on the next run
    finds the same payment (settled by checkout_sync meanwhile), never a second charge.
    """
    card = subscription.card
    if subscription.status != Subscription.Status.ACTIVE:
        return None
    if card is None:
        Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.PAST_DUE)
        return None
    order = _order_for(subscription)
    try:
        payment = charge_saved_card(
            card, order, reason="R", idempotency_key=subscription.charge_key
        )
    except CardNotChargeable as err:
        logger.warning("subscription %s: card cannot be charged: %s", subscription.pk, err)
        Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.PAST_DUE)
        return None
    except (GatewayUnavailable, CheckoutError) as err:
        logger.warning("subscription %s: not charged now: %s", subscription.pk, err)
        return None
    if payment.status in SECURED_STATUSES:
        Subscription.objects.filter(pk=subscription.pk).update(
            periods=subscription.periods + 1,
            failed=0,
            current_order=None,
            next_charge_at=subscription.next_charge_at + PERIOD,
        )
    elif payment.status in UNSUCCESSFUL_STATUSES:
        # A decline may have disabled the card (lost, stolen, expired, closed).
        card.refresh_from_db()
        failed = subscription.failed + 1
        Subscription.objects.filter(pk=subscription.pk).update(
            failed=failed,
            current_order=None,
            status=(
                Subscription.Status.PAST_DUE
                if failed >= Subscription.MAX_FAILED or not card.usable()
                else Subscription.Status.ACTIVE
            ),
        )
    return payment


def charge_due(now: Any = None) -> list[tuple[Subscription, Payment | None]]:
    """Charge every active subscription whose next charge is due."""
    due = Subscription.objects.filter(
        status=Subscription.Status.ACTIVE, next_charge_at__lte=now or timezone.now()
    ).select_related("card", "product", "first_purchase", "current_order")
    return [(subscription, charge(subscription)) for subscription in due]
