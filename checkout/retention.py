"""Retention: old exchange-log rows and notifications go, shoppers' personal data is cleared.

``prune()`` (the ``checkout_prune`` command) applies ``CHECKOUT["RETENTION"]``:

- gateway exchange rows older than ``exchanges`` days are deleted, unless their payment
  is still open (see ``CLOSED_STATUSES``) or has a back-office operation in flight;
- callback notifications older than ``notifications`` days are deleted once processed
  (or refused as invalid); one still waiting to be processed stays;
- orders older than ``personal_data`` days lose the shopper's e-mail and IP address (also
  the hashed address their attempts were counted on), and the personal values in their
  exchange rows, once every payment of theirs is closed and a paid order has been
  fulfilled. Amounts, statuses, gateway ids, order numbers, the masked card and the status
  history stay: accounting and disputes need them. ``anonymised_at`` records it, so an
  order is never done twice.

Everything works in batches of primary keys, each in a short transaction of its own, and
re-checks its conditions when it writes: runs on several hosts at once, or one after the
other, end in the same state. Call it outside any transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from checkout.conf import checkout_settings
from checkout.models import ClientSecret, Exchange, Notification, Order, Payment
from checkout.redaction import scrub_personal
from checkout.signals import order_anonymised
from checkout.status import FINAL_STATUSES, FULFILMENT_STATUSES, PaymentStatus

__all__ = [
    "BATCH_SIZE",
    "CLOSED_STATUSES",
    "Erasure",
    "RetentionSummary",
    "anonymisable_orders",
    "erase_orders",
    "erase_shopper",
    "prunable_exchanges",
    "prunable_notifications",
    "prune",
]

#: Rows deleted or orders cleared per transaction.
BATCH_SIZE = 500

#: Payments whose exchange log and shopper's data nothing needs any more: final ones, and
#: captured ones, which may still be refunded, but a refund needs only the gateway order id
#: and the amounts. Held and in-flight payments, and any with a pending back-office
#: operation, are open.
CLOSED_STATUSES = FINAL_STATUSES | {PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED}

#: How long after it expired a JSON API client secret is deleted (with its submissions).
SECRET_AFTERLIFE = timedelta(days=1)

_OPEN_PAYMENT = ~Q(status__in=CLOSED_STATUSES) | ~Q(pending_operation="")


@dataclass(frozen=True)
class RetentionSummary:
    """What one ``prune()`` did, or would do with ``dry_run``."""

    exchanges_deleted: int
    notifications_deleted: int
    orders_anonymised: int
    exchanges_scrubbed: int
    #: Orders past the personal-data age left as they were: a payment still open, or paid
    #: and not marked fulfilled (checkout.backoffice.mark_fulfilled) yet.
    orders_kept: int
    #: The ages applied, in days (None: kept for good), as in RETENTION.
    ages: Mapping[str, int | None]
    dry_run: bool = False
    #: JSON API client secrets expired for a day, with the answers kept for their
    #: Idempotency-Key replays: nothing can use them any more.
    client_secrets_deleted: int = 0

    @property
    def changed(self) -> int:
        return (
            self.exchanges_deleted
            + self.notifications_deleted
            + self.client_secrets_deleted
            + self.orders_anonymised
            + self.exchanges_scrubbed
        )


@dataclass(frozen=True)
class Erasure:
    """What ``erase_shopper()`` or ``erase_orders()`` did."""

    orders_anonymised: int
    exchanges_scrubbed: int
    #: The shopper's orders left as they were: a payment is still open, or a paid order
    #: has not been fulfilled yet. Ask again once they are settled.
    kept: tuple[Order, ...]
    dry_run: bool = False


def prunable_exchanges(created_before: datetime) -> QuerySet[Exchange]:
    """Exchange rows older than ``created_before`` that no open payment needs."""
    open_payment = Payment.objects.filter(pk=OuterRef("payment_id")).filter(_OPEN_PAYMENT)
    return Exchange.objects.filter(created_at__lt=created_before).exclude(Exists(open_payment))


def prunable_notifications(received_before: datetime) -> QuerySet[Notification]:
    """Notifications older than ``received_before`` that were processed or refused."""
    return Notification.objects.filter(received_at__lt=received_before).filter(
        Q(processed_at__isnull=False) | Q(valid=False)
    )


def anonymisable_orders(created_before: datetime | None = None) -> QuerySet[Order]:
    """Orders not yet anonymised that nothing needs the shopper's data for any more.

    Every payment is closed (none at all will do), and a paid order has been fulfilled.
    ``created_before`` limits them by age; None takes every age (an erasure request).
    """
    open_payment = Payment.objects.filter(order=OuterRef("pk")).filter(_OPEN_PAYMENT)
    to_deliver = Payment.objects.filter(order=OuterRef("pk"), status__in=FULFILMENT_STATUSES)
    orders = (
        Order.objects.filter(anonymised_at__isnull=True)
        .exclude(Exists(open_payment))
        .exclude(Q(Exists(to_deliver)) & Q(fulfilled_at__isnull=True))
    )
    if created_before is not None:
        orders = orders.filter(created_at__lt=created_before)
    return orders


def prune(
    now: datetime | None = None, *, dry_run: bool = False, batch_size: int = BATCH_SIZE
) -> RetentionSummary:
    """Apply RETENTION once; with ``dry_run`` count what would change and change nothing."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ages: dict[str, int | None] = dict(checkout_settings.RETENTION)
    now = now or timezone.now()

    def before(key: str) -> datetime | None:
        days = ages[key]
        return None if days is None else now - timedelta(days=days)

    exchanges = notifications = orders = scrubbed = kept = 0
    # Rows this run deletes (a dry run leaves them in place: they are not scrubbed as well).
    doomed: QuerySet[Exchange] | None = None
    cutoff = before("exchanges")
    if cutoff is not None:
        doomed = prunable_exchanges(cutoff)
        exchanges = _delete(doomed, dry_run=dry_run, batch_size=batch_size)
    cutoff = before("notifications")
    if cutoff is not None:
        notifications = _delete(
            prunable_notifications(cutoff), dry_run=dry_run, batch_size=batch_size
        )
    cutoff = before("personal_data")
    if cutoff is not None:
        orders, scrubbed = _anonymise(
            anonymisable_orders(cutoff),
            dry_run=dry_run,
            batch_size=batch_size,
            deleted=doomed if dry_run else None,
        )
        past = Order.objects.filter(anonymised_at__isnull=True, created_at__lt=cutoff).count()
        kept = max(past - orders, 0) if dry_run else past
    secrets = _delete(
        ClientSecret.objects.filter(expires_at__lt=now - SECRET_AFTERLIFE),
        dry_run=dry_run,
        batch_size=batch_size,
    )
    return RetentionSummary(
        client_secrets_deleted=secrets,
        exchanges_deleted=exchanges,
        notifications_deleted=notifications,
        orders_anonymised=orders,
        exchanges_scrubbed=scrubbed,
        orders_kept=kept,
        ages=ages,
        dry_run=dry_run,
    )


def erase_shopper(email: str, *, dry_run: bool = False, batch_size: int = BATCH_SIZE) -> Erasure:
    """Clear one shopper's personal data from all their orders now, whatever their age.

    Orders are found by e-mail address (case-insensitive); see ``erase_orders``.
    """
    address = email.strip()
    if not address:
        raise ValueError("an e-mail address is needed")
    return erase_orders(
        Order.objects.filter(email__iexact=address), dry_run=dry_run, batch_size=batch_size
    )


def erase_orders(
    orders: QuerySet[Order], *, dry_run: bool = False, batch_size: int = BATCH_SIZE
) -> Erasure:
    """Clear the personal data of these orders now, whatever their age.

    Those still needed (a payment open, a paid order not yet fulfilled) are returned in
    ``kept``, unchanged; orders cleared before are left out.
    """
    pending = orders.filter(anonymised_at__isnull=True)
    eligible = anonymisable_orders().filter(pk__in=pending.values("pk"))
    kept = Order.objects.filter(pk__in=pending.values("pk")).exclude(pk__in=eligible.values("pk"))
    # Listed first: once cleared, the orders may no longer match ``orders`` (by e-mail).
    kept_now = tuple(kept.order_by("created_at", "pk"))
    count, scrubbed = _anonymise(eligible, dry_run=dry_run, batch_size=batch_size)
    return Erasure(
        orders_anonymised=count, exchanges_scrubbed=scrubbed, kept=kept_now, dry_run=dry_run
    )


# --- batches ----------------------------------------------------------------------------


def _batches(queryset: QuerySet[Any], batch_size: int) -> Any:
    """Primary keys of ``queryset`` in ascending batches, each read afresh (keyset paging)."""
    last: Any = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        pks: Sequence[Any] = list(page.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return
        last = pks[-1]
        yield pks


def _delete(queryset: QuerySet[Any], *, dry_run: bool, batch_size: int) -> int:
    model: type[Model] = queryset.model
    total = 0
    for pks in _batches(queryset, batch_size):
        if dry_run:
            total += len(pks)
            continue
        with transaction.atomic():
            # The conditions again: a row needed again since it was listed stays.
            _, per_model = queryset.filter(pk__in=pks).delete()
        total += per_model.get(model._meta.label, 0)
    return total


def _anonymise(
    queryset: QuerySet[Order],
    *,
    dry_run: bool,
    batch_size: int,
    deleted: QuerySet[Exchange] | None = None,
) -> tuple[int, int]:
    orders = scrubbed = 0
    for pks in _batches(queryset, batch_size):
        if dry_run:
            orders += len(pks)
            scrubbed += _scrub_exchanges(pks, write=False, deleted=deleted)
            continue
        with transaction.atomic():
            # Orders another run holds are its work; a row no longer eligible drops out.
            mine = list(
                queryset.filter(pk__in=pks)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            if not mine:
                continue
            Order.objects.filter(pk__in=mine).update(
                email="", ip_address=None, anonymised_at=timezone.now()
            )
            # The hashed address the attempts were counted on (card-testing limits).
            Payment.objects.filter(order_id__in=mine).exclude(client_key="").update(client_key="")
            scrubbed += _scrub_exchanges(mine, write=True)
            if order_anonymised.has_listeners(Order):
                for order in Order.objects.filter(pk__in=mine).order_by("pk"):
                    order_anonymised.send(sender=Order, order=order)
        orders += len(mine)
    return orders, scrubbed


def _scrub_exchanges(
    order_pks: Sequence[Any], *, write: bool, deleted: QuerySet[Exchange] | None = None
) -> int:
    """Clear the personal values in the exchange rows of these orders' payments."""
    rows = Exchange.objects.filter(payment__order_id__in=order_pks)
    if deleted is not None:
        rows = rows.exclude(pk__in=deleted.values("pk"))
    rows = rows.only("pk", "request", "response").order_by("pk")
    changed: list[Exchange] = []
    for row in rows.iterator(chunk_size=BATCH_SIZE):
        request, response = scrub_personal(row.request), scrub_personal(row.response)
        if request != row.request or response != row.response:
            row.request, row.response = request, response
            changed.append(row)
    if write and changed:
        Exchange.objects.bulk_update(changed, ["request", "response"], batch_size=100)
    return len(changed)
