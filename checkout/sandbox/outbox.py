"""Callback notifications: the persisted outbox the sandbox's state changes write to.

Each state change queues a row in the same transaction as the change; after commit the
``queued`` signal tells the sender (``checkout.sandbox.delivery``) that work is due.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from checkout.conf import checkout_settings
from checkout.sandbox import crypto
from checkout.sandbox.conf import sandbox_settings
from checkout.sandbox.faults import callback_fault_for
from checkout.sandbox.models import CallbackDelivery, CallbackFault, Merchant

if TYPE_CHECKING:
    from checkout.sandbox.models import Order

__all__ = ["callback_params", "default_callback_url", "enqueue", "merchant_callback_url", "queued"]

# Sent after the transaction that queued a callback has committed (no arguments).
queued = Signal()


def default_callback_url() -> str:
    """The shop's checkout callback URL, when the project has one and SITE_URL is set."""
    site = str(checkout_settings.SITE_URL)
    if not site:
        return ""
    try:
        # The project's URLconf, also when the sandbox serves its own (run_sandbox).
        path = reverse("jcc_checkout:callback", urlconf=settings.ROOT_URLCONF)
    except NoReverseMatch:
        return ""
    return site + path


def merchant_callback_url(merchant: Merchant) -> str:
    return merchant.callback_url or default_callback_url()


def _creation_date() -> str:
    # The gateway's Java-style date, e.g. "Mon Jan 31 21:46:52 UTC 2022".
    return timezone.now().astimezone(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def callback_params(order: Order, operation: str, *, success: bool) -> dict[str, str]:
    """The parameters of one notification, checksum included (callbacks are all strings)."""
    merchant = order.merchant
    params = {
        "mdOrder": str(order.id),
        "orderNumber": order.order_number,
        "operation": operation,
        "status": "1" if success else "0",
    }
    if merchant.callback_extra_params:
        params.update(
            amount=str(order.amount),
            currency=order.currency,
            actionCode=str(order.action_code),
            approvedAmount=str(order.approved_amount),
            depositedAmount=str(order.deposited_amount),
            refundedAmount=str(order.refunded_amount),
            callbackCreationDate=_creation_date(),
        )
    if merchant.callback_signing == Merchant.Signing.HMAC:
        params["checksum"] = crypto.hmac_checksum(params, merchant.callback_secret)
    elif merchant.callback_signing == Merchant.Signing.RSA:
        params["checksum"] = crypto.rsa_checksum(params)
        params["sign_alias"] = crypto.SIGN_ALIAS
    return params


def enqueue(order: Order, operation: str, *, success: bool) -> None:
    """Queue the notification of a state change (call inside the change's transaction)."""
    merchant = order.merchant
    if not merchant.callbacks_enabled:
        return
    url = order.dynamic_callback_url or merchant_callback_url(merchant)
    fault = callback_fault_for(merchant, order)
    now = timezone.now()
    state = CallbackDelivery.State.PENDING if url else CallbackDelivery.State.NO_URL
    if fault == CallbackFault.NEVER:
        state = CallbackDelivery.State.SUPPRESSED
    if fault == CallbackFault.REORDER and order.deliveries.filter(overtake=True).exists():
        # One callback is held back already: this one overtakes it and then lets it go.
        fault = ""
    held_back = fault in (CallbackFault.DELAY, CallbackFault.REORDER)
    row = CallbackDelivery(
        merchant=merchant,
        order=order,
        operation=operation,
        status="1" if success else "0",
        url=url,
        method=merchant.callback_method,
        params=callback_params(order, operation, success=success),
        state=state,
        next_attempt_at=now + timedelta(seconds=sandbox_settings.CALLBACK_DELAY)
        if held_back
        else now,
        overtake=fault == CallbackFault.REORDER,
        created_at=now,
    )
    row.save()
    if fault == CallbackFault.DUPLICATE:
        row.pk = None
        row.save()
    transaction.on_commit(lambda: queued.send(sender=CallbackDelivery))
