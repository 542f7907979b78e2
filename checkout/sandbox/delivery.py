"""The sender that plays the bank: callbacks leave the outbox here.

After commit a queued row is sent at once ("sync"), by a background thread of the server
process ("thread", which also picks up what a previous process left behind) or never
("off"). Several processes may share the outbox: a sender claims a row before it sends
it. The background thread also expires unpaid orders whose session ran out.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from checkout.sandbox import outbox
from checkout.sandbox.conf import sandbox_settings
from checkout.sandbox.models import CallbackAttempt, CallbackDelivery
from checkout.sandbox.processing import expire_due_orders

__all__ = ["deliver_due", "ensure_worker", "send", "worker_running"]

logger = logging.getLogger(__name__)

#: How long one sender may hold a row before another process may take it over.
CLAIM_SECONDS = 60
_BODY_LIMIT = 1000


def _after_commit(**kwargs: Any) -> None:
    mode = sandbox_settings.CALLBACK_DELIVERY
    if mode == "sync":
        deliver_due()
    elif mode == "thread":
        ensure_worker()
        _wake.set()


outbox.queued.connect(_after_commit, dispatch_uid="checkout_sandbox_delivery")


# --- sending ----------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
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
        held = (
            CallbackDelivery.objects.filter(order_id=delivery.order_id)
            if delivery.order_id is not None
            else CallbackDelivery.objects.filter(binding=delivery.binding, order__isnull=True)
        )
        held.filter(
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
            "sandbox callback %s for order %s / binding %s: %s",
            delivery.operation,
            delivery.order_id,
            delivery.binding_id,
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
