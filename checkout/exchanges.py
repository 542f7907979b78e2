"""The exchange log: every call to the gateway, stored as an ``Exchange`` row.

The gateway client reports each exchange (already redacted) to its hooks; the app
registers ``record_exchange`` from its ``AppConfig.ready()``. A record whose context is a
saved ``Payment`` is linked to it. For a payment whose order has been anonymised (see
``checkout.retention``) the shopper's personal values are cleared before it is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

from checkout.gateway import ExchangeRecord
from checkout.models import Exchange, Order, Payment
from checkout.redaction import scrub_personal

__all__ = ["held_exchanges", "record_exchange", "save_exchanges"]

logger = logging.getLogger(__name__)

_held: ContextVar[list[ExchangeRecord] | None] = ContextVar("checkout_held_exchanges", default=None)


@contextmanager
def held_exchanges(records: list[ExchangeRecord]) -> Iterator[list[ExchangeRecord]]:
    """Collect the exchanges of the calls made inside the block in ``records``, unsaved.

    For a caller that writes them with ``save_exchanges()`` inside the transaction that
    applies the answer, instead of one transaction of their own per call.
    """
    token = _held.set(records)
    try:
        yield records
    finally:
        _held.reset(token)


def record_exchange(record: ExchangeRecord) -> None:
    """Store one exchange (or hold it back, see ``held_exchanges``); never raises."""
    held = _held.get()
    if held is not None:
        held.append(record)
        return
    save_exchanges([record])


def save_exchanges(records: list[ExchangeRecord]) -> None:
    """Store these exchanges and empty the list; a failure is logged, never raised."""
    if not records:
        return
    rows = [_row(record) for record in records]
    operations = ", ".join(record.operation for record in records)
    records.clear()
    try:
        # A savepoint keeps a failed insert from breaking a caller's transaction.
        with transaction.atomic():
            if len(rows) == 1:
                rows[0].save(force_insert=True)
            else:
                Exchange.objects.bulk_create(rows)
    except Exception:
        logger.warning("could not record the %s exchange", operations, exc_info=True)


def _row(record: ExchangeRecord) -> Exchange:
    context = record.context
    payment = context if isinstance(context, Payment) and context.pk else None
    request, response = record.request, record.response
    if payment is not None and _anonymised(payment):
        # The shopper's data of an order past its retention is not written back.
        request, response = scrub_personal(request), scrub_personal(response)
    return Exchange(
        payment=payment,
        operation=record.operation[:40],
        url=record.url[:512],
        request=request,
        response=response,
        http_status=record.http_status,
        error_code=record.error_code,
        error=record.error[:255],
        duration_ms=record.duration_ms,
    )


def _anonymised(payment: Payment) -> bool:
    # The order is nearly always loaded with the payment; ask the database only if not.
    order = payment._state.fields_cache.get("order")
    if isinstance(order, Order):
        return order.anonymised_at is not None
    return Order.objects.filter(pk=payment.order_id, anonymised_at__isnull=False).exists()
