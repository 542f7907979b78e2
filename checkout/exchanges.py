"""The exchange log: every call to the gateway, stored as an ``Exchange`` row.

The gateway client reports each exchange (already redacted) to its hooks; the app
registers ``record_exchange`` from its ``AppConfig.ready()``. A record whose context is a
saved ``Payment`` is linked to it. For a payment whose order has been anonymised (see
``checkout.retention``) the shopper's personal values are cleared before it is stored.
"""

from __future__ import annotations

import logging

from django.db import transaction

from checkout.gateway import ExchangeRecord
from checkout.models import Exchange, Order, Payment
from checkout.redaction import scrub_personal

__all__ = ["record_exchange"]

logger = logging.getLogger(__name__)


def record_exchange(record: ExchangeRecord) -> None:
    """Store one exchange; a failure to store it is logged, never raised."""
    context = record.context
    payment = context if isinstance(context, Payment) and context.pk else None
    request, response = record.request, record.response
    try:
        # A savepoint keeps a failed insert from breaking a caller's transaction.
        with transaction.atomic():
            if (
                payment is not None
                and Order.objects.filter(pk=payment.order_id, anonymised_at__isnull=False).exists()
            ):
                request, response = scrub_personal(request), scrub_personal(response)
            Exchange.objects.create(
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
    except Exception:
        logger.warning("could not record the %s exchange", record.operation, exc_info=True)
