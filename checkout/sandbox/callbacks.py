"""Callback notifications: a persisted outbox and the sender that plays the bank.

Each state change queues a row in the same transaction as the change. After commit the
row is sent at once ("sync"), by a background thread of the server process ("thread",
which also picks up what a previous process left behind) or never ("off"). Several
processes may share the outbox: a sender claims a row before it sends it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from checkout.sandbox import crypto
from checkout.sandbox.conf import sandbox_settings
from checkout.sandbox.faults import callback_fault_for
from checkout.sandbox.models import CallbackAttempt, CallbackDelivery, CallbackFault, Merchant

if TYPE_CHECKING:
    from checkout.sandbox.models import Order

logger = logging.getLogger(__name__)

#: How long one sender may hold a row before another process may take it over.
CLAIM_SECONDS = 60
_BODY_LIMIT = 1000


def default_callback_url() -> str:
    """The shop's checkout callback URL, when the project has one and SITE_URL is set."""
    from checkout.conf import checkout_settings

    site = checkout_settings.SITE_URL
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
    transaction.on_commit(_after_commit)


def _after_commit() -> None:
    mode = sandbox_settings.CALLBACK_DELIVERY
    if mode == "sync":
        deliver_due()
    elif mode == "thread":
        ensure_worker()
        _wake.set()


# --- sending ----------------------------------------------------------------------------------


def _due(now) -> Q:
    return Q(state=CallbackDelivery.State.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def deliver_due(*, limit: int = 100) -> int:
    """Send every callback that is due, oldest first; returns how many tries were made."""
    tries = 0
    while tries < limit:
        now = timezone.now()
        pk = (
            CallbackDelivery.objects.filter(_due(now))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            break
        claimed = CallbackDelivery.objects.filter(_due(now), pk=pk).update(
            claimed_until=now + timedelta(seconds=CLAIM_SECONDS)
        )
        if claimed:
            send(CallbackDelivery.objects.select_related("order").get(pk=pk))
            tries += 1
    return tries


def send(delivery: CallbackDelivery) -> bool:
    """One try: True when the merchant answered HTTP 200."""
    params = {str(key): str(value) for key, value in delivery.params.items()}
    started = time.monotonic()
    http_status: int | None = None
    body = error = ""
    try:
        if delivery.method == "POST":
            response = requests.post(
                delivery.url,
                data=params,
                timeout=sandbox_settings.CALLBACK_TIMEOUT,
                allow_redirects=False,
            )
        else:
            separator = "&" if "?" in delivery.url else "?"
            response = requests.get(
                delivery.url + separator + urlencode(params),
                timeout=sandbox_settings.CALLBACK_TIMEOUT,
                allow_redirects=False,
            )
        http_status = response.status_code
        body = response.text[:_BODY_LIMIT]
    except requests.RequestException as err:
        error = f"{type(err).__name__}: {err}"[:255]
    now = timezone.now()
    CallbackAttempt.objects.create(
        delivery=delivery,
        at=now,
        http_status=http_status,
        error=error,
        response_body=body,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    delivery.attempts += 1
    delivery.last_http_status = http_status
    delivery.last_error = error
    delivery.claimed_until = None
    ok = http_status == 200
    if ok:
        delivery.state = CallbackDelivery.State.DELIVERED
        delivery.delivered_at = now
        # A callback held back by the "reorder" fault goes right after the one that
        # overtook it.
        CallbackDelivery.objects.filter(
            order_id=delivery.order_id,
            overtake=True,
            state=CallbackDelivery.State.PENDING,
            created_at__lte=delivery.created_at,
        ).exclude(pk=delivery.pk).update(overtake=False, next_attempt_at=now)
    elif delivery.attempts >= sandbox_settings.CALLBACK_ATTEMPTS:
        delivery.state = CallbackDelivery.State.FAILED
    else:
        delivery.next_attempt_at = now + timedelta(seconds=sandbox_settings.CALLBACK_RETRY_INTERVAL)
    delivery.save()
    if not ok:
        logger.info(
            "sandbox callback %s for order %s: %s",
            delivery.operation,
            delivery.order_id,
            error or f"HTTP {http_status}",
        )
    return ok


# --- the background sender --------------------------------------------------------------------

_wake = threading.Event()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()
#: Seconds between two sweeps for unpaid orders whose session ran out.
_EXPIRY_SWEEP = 5.0


def worker_running() -> bool:
    return _worker is not None and _worker.is_alive()


def ensure_worker() -> None:
    """Start this process's delivery thread once (only in "thread" mode)."""
    global _worker
    if sandbox_settings.CALLBACK_DELIVERY != "thread":
        return
    if _worker is not None and _worker.is_alive():
        return
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="checkout-sandbox-callbacks", daemon=True)
            _worker.start()


def _run() -> None:
    from checkout.sandbox.processing import expire_due_orders

    last_sweep = 0.0
    while True:
        _wake.wait(sandbox_settings.POLL_INTERVAL)
        _wake.clear()
        if sandbox_settings.CALLBACK_DELIVERY != "thread":
            continue
        try:
            close_old_connections()
            if time.monotonic() - last_sweep >= _EXPIRY_SWEEP:
                last_sweep = time.monotonic()
                expire_due_orders()
            deliver_due()
        except Exception:
            # The thread must outlive a database hiccup; the outbox keeps the work.
            logger.exception("sandbox callback sender failed; retrying")
        finally:
            close_old_connections()
