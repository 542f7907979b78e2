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
    from checkout.sandbox.models import Binding, Order

__all__ = [
    "binding_callback_params",
    "callback_params",
    "default_callback_url",
    "enqueue",
    "enqueue_binding",
    "merchant_callback_url",
    "queued",
]

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


def _signed(merchant: Merchant, params: dict[str, str]) -> dict[str, str]:
    # callbackCreationDate is signed like any other parameter: a client that builds the
    # checksum string from a fixed list of names fails here, as it would with JCC.
    params["callbackCreationDate"] = _creation_date()
    if merchant.callback_signing == Merchant.Signing.HMAC:
        params["checksum"] = crypto.hmac_checksum(params, merchant.callback_secret)
    elif merchant.callback_signing == Merchant.Signing.RSA:
        params["checksum"] = crypto.rsa_checksum(params)
        params["sign_alias"] = crypto.SIGN_ALIAS
    return params


def callback_params(
    order: Order, operation: str, *, success: bool, binding: Binding | None = None
) -> dict[str, str]:
    """The parameters of one notification, checksum included (callbacks are all strings)."""
    merchant = order.merchant
    params = {
        "mdOrder": str(order.id),
        "orderNumber": order.order_number,
        "operation": operation,
        "status": "1" if success else "0",
    }
    if binding is not None:
        # bindingCreated names the new binding and its client.
        params.update(bindingId=str(binding.id), clientId=binding.client_id)
    if merchant.callback_extra_params:
        params.update(
            amount=str(order.amount),
            currency=order.currency,
            actionCode=str(order.action_code),
            approvedAmount=str(order.approved_amount),
            depositedAmount=str(order.deposited_amount),
            refundedAmount=str(order.refunded_amount),
        )
    return _signed(merchant, params)


def binding_callback_params(binding: Binding, operation: str, *, success: bool) -> dict[str, str]:
    """bindingActivityChanged: the binding and its client, no order (status 1 = active)."""
    params = {
        "bindingId": str(binding.id),
        "clientId": binding.client_id,
        "operation": operation,
        "status": "1" if success else "0",
    }
    return _signed(binding.merchant, params)


def enqueue(order: Order, operation: str, *, success: bool, binding: Binding | None = None) -> None:
    """Queue the notification of a state change (call inside the change's transaction)."""
    merchant = order.merchant
    if not merchant.callbacks_enabled:
        return
    _queue(
        merchant,
        url=order.dynamic_callback_url or merchant_callback_url(merchant),
        fault=callback_fault_for(merchant, order),
        operation=operation,
        success=success,
        params=callback_params(order, operation, success=success, binding=binding),
        order=order,
        binding=binding,
    )


def enqueue_binding(binding: Binding, operation: str, *, success: bool) -> None:
    """Queue a notification about a binding alone (to the merchant's static URL)."""
    merchant = binding.merchant
    if not merchant.callbacks_enabled:
        return
    _queue(
        merchant,
        url=merchant_callback_url(merchant),
        fault=merchant.callback_fault,
        operation=operation,
        success=success,
        params=binding_callback_params(binding, operation, success=success),
        binding=binding,
    )


def _queue(
    merchant: Merchant,
    *,
    url: str,
    fault: str,
    operation: str,
    success: bool,
    params: dict[str, str],
    order: Order | None = None,
    binding: Binding | None = None,
) -> None:
    now = timezone.now()
    state = CallbackDelivery.State.PENDING if url else CallbackDelivery.State.NO_URL
    if fault == CallbackFault.NEVER:
        state = CallbackDelivery.State.SUPPRESSED
    earlier = (
        CallbackDelivery.objects.filter(order=order)
        if order is not None
        else CallbackDelivery.objects.filter(binding=binding, order__isnull=True)
    )
    if fault == CallbackFault.REORDER and earlier.filter(overtake=True).exists():
        # One callback is held back already: this one overtakes it and then lets it go.
        fault = ""
    held_back = fault in (CallbackFault.DELAY, CallbackFault.REORDER)
    row = CallbackDelivery(
        merchant=merchant,
        order=order,
        binding=binding,
        operation=operation,
        status="1" if success else "0",
        url=url,
        method=merchant.callback_method,
        params=params,
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
