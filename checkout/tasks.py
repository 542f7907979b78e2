"""Background work on Django's tasks framework: callback processing and reconciliation.

With ``CHECKOUT["BACKGROUND_TASKS"] = True`` the callback view stores and verifies a
delivery, queues its processing and answers 200 at once; a worker of whichever task
backend the shop runs (``settings.TASKS``) makes the status query. The follow-up query of
deferred deliveries is queued to run when the payment's query slot frees up, and
``checkout_sync --enqueue`` queues one task per payment to settle. The framework is
``django.tasks`` on Django 6 and the ``django-tasks`` package (the same API) on Django 5.2.

Off by default: everything runs in the request or the command, as without a worker. A
task that fails leaves its rows as they were; ``checkout_sync`` settles them later.
"""

from __future__ import annotations

import importlib
import logging
from datetime import timedelta
from types import ModuleType
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from checkout import callbacks, sync
from checkout.conf import checkout_settings
from checkout.models import Notification, Source

__all__ = [
    "FRAMEWORKS",
    "background_enabled",
    "enqueue_follow_up",
    "enqueue_notification",
    "enqueue_settlement",
    "follow_up",
    "framework",
    "install",
    "process_notification",
    "settle_payment",
]

logger = logging.getLogger(__name__)

#: Where the tasks framework may come from, in order of preference.
FRAMEWORKS = ("django.tasks", "django_tasks")


def framework() -> ModuleType | None:
    """The installed tasks framework: ``django.tasks``, else ``django_tasks``, else None."""
    for name in FRAMEWORKS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if name == "django_tasks":
            # Its receiver that resets the backends when settings.TASKS changes.
            importlib.import_module("django_tasks.signals")
        return module
    return None


_framework = framework()


def _task(function: Any) -> Any:
    """``function`` as a task of the framework (left a plain function without one)."""
    if _framework is None:
        return function
    return _framework.task()(function)


def background_enabled() -> bool:
    """True when the shop asked for background processing and a framework is installed."""
    return bool(checkout_settings.BACKGROUND_TASKS) and _framework is not None


# --- the tasks -------------------------------------------------------------------------


@_task
def process_notification(notification_id: int) -> str:
    """Settle the payment a stored, verified notification names (the callback's work)."""
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None or notification.processed_at is not None:
        return "nothing to do"
    outcome = callbacks.handle(notification, source=Source.CALLBACK)
    return f"{outcome.status} {outcome.reason}"


@_task
def follow_up(payment_id: int) -> None:
    """The one status query that settles a payment's deferred deliveries."""
    callbacks.follow_up_now(payment_id)


@_task
def settle_payment(payment_id: int) -> str:
    """Settle one payment by a status query, as ``checkout_sync`` does, under its lease."""
    with sync.leased([payment_id]) as claimed:
        if not claimed:
            return "held by another run"
        line, _changed = sync.settle(payment_id)
        return line


# --- queueing ----------------------------------------------------------------------------


def enqueue_notification(notification: Notification) -> bool:
    """Queue a stored, verified notification; False (nothing queued) if that failed."""
    try:
        process_notification.enqueue(notification.pk)
    except Exception:
        logger.exception("notification %s: could not be queued", notification.pk)
        return False
    return True


def enqueue_follow_up(payment_pk: int, delay: float) -> bool:
    """Queue the follow-up query to run after ``delay`` seconds; False if it cannot be.

    Once per payment and window, across hosts (through the cache): every delivery
    deferred in the window is settled by that one query.
    """
    backend = _framework.default_task_backend if _framework is not None else None
    if backend is None or not getattr(backend, "supports_defer", False):
        return False
    window = int(timezone.now().timestamp() // max(delay, 1))
    try:
        if not cache.add(f"checkout:follow-up:{payment_pk}:{window}", 1, timeout=60):
            return True  # already queued in this window
    except Exception:
        logger.warning("payment %s: cache unavailable, queueing a follow-up anyway", payment_pk)
    try:
        follow_up.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(payment_pk)
    except Exception:
        logger.exception("payment %s: follow-up could not be queued", payment_pk)
        return False
    return True


def enqueue_settlement(options: sync.Options) -> int:
    """Queue one ``settle_payment`` task per payment this sync run would settle."""
    count = 0
    for pk in sync.candidates(options).values_list("pk", flat=True).iterator():
        settle_payment.enqueue(pk)
        count += 1
    return count


def install() -> None:
    """Hand the callback module its queue (from ``AppConfig.ready``)."""
    callbacks.use_background(
        enabled=background_enabled,
        notification=enqueue_notification,
        follow_up=enqueue_follow_up,
    )
