"""The demo's receivers of the app's signals."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils import timezone, translation

from checkout.backoffice import mark_fulfilled
from checkout.conf import checkout_settings
from checkout.models import Order, Payment, PaymentStatus
from checkout.signals import order_anonymised, order_paid
from merchant_site.shop.models import Purchase

__all__ = ["deliver_receipt", "forget_purchase_email", "receipt_message", "send_receipt"]

logger = logging.getLogger(__name__)


@receiver(order_anonymised)
def forget_purchase_email(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """The purchase keeps the shopper's e-mail too: it goes when the order's does."""
    Purchase.objects.filter(order=order).exclude(email="").update(email="")


@receiver(order_paid, dispatch_uid="merchant_site.shop.send_receipt")
def send_receipt(
    sender: type[Order], order: Order, payment: Payment, captured: bool, **kwargs: Any
) -> None:
    """Mail the receipt once per paid order, then mark the order fulfilled.

    With ``SHOP_RECEIPTS_IN_BACKGROUND`` (the demo's default) the receipt leaves the
    request that learnt of the payment: it is handed to this process's receipt thread and
    the shopper's page does not wait for the e-mail (a shop with a task worker would queue
    it there). ``order_paid`` comes again from checkout_sync until the order is fulfilled,
    so a receipt lost with its process still goes out.
    """
    # The shop's orders carry their purchase (create_order(content_object=…)): any other
    # order is not the demo's, and costs no query.
    if order.content_type_id is None or (
        order.content_type_id != ContentType.objects.get_for_model(Purchase).pk
    ):
        return
    if getattr(settings, "SHOP_RECEIPTS_IN_BACKGROUND", False):
        _receipts.put((order, payment))
        _start_receipt_thread()
        return
    deliver_receipt(order, payment)


def deliver_receipt(order: Order, payment: Payment) -> None:
    """The receipt of a paid order of the shop, once, and the order marked fulfilled.

    ``order_paid`` may come more than once (and two processes may send it at once): the
    purchase's row lock and ``receipt_sent_at`` make sure one receipt goes out. If sending
    fails, nothing is recorded and the order stays unfulfilled, so the next ``order_paid``
    tries again.
    """
    with transaction.atomic():
        purchase = Purchase.objects.select_for_update().filter(pk=order.object_id).first()
        if purchase is None:
            return
        if purchase.receipt_sent_at is None:
            if order.email:
                receipt_message(purchase, order, payment).send()
            purchase.receipt_sent_at = timezone.now()
            purchase.save(update_fields=["receipt_sent_at"])
            logger.info("order %s: receipt sent", purchase.reference)
    # The demo has nothing to ship: the receipt is the delivery.
    mark_fulfilled(order)


_receipts: queue.SimpleQueue[tuple[Order, Payment]] = queue.SimpleQueue()
_receipt_thread: threading.Thread | None = None
_receipt_lock = threading.Lock()


def _start_receipt_thread() -> None:
    global _receipt_thread
    with _receipt_lock:
        if _receipt_thread is None or not _receipt_thread.is_alive():
            _receipt_thread = threading.Thread(
                target=_send_receipts, name="shop-receipts", daemon=True
            )
            _receipt_thread.start()


def _send_receipts() -> None:
    """The receipt thread: sends what is handed to it, ends when nothing has come for a
    while, and closes the database connection it opened whenever it runs out of work."""
    while True:
        try:
            order, payment = _receipts.get(timeout=30)
        except queue.Empty:
            break
        try:
            deliver_receipt(order, payment)
        except Exception:
            # The order stays unfulfilled: checkout_sync sends order_paid again.
            logger.exception("order %s: receipt not sent", order.pk)
        if _receipts.empty():
            connection.close()
    connection.close()
    global _receipt_thread
    with _receipt_lock:
        if _receipt_thread is threading.current_thread():
            _receipt_thread = None
    if not _receipts.empty():
        _start_receipt_thread()


def receipt_message(purchase: Purchase, order: Order, payment: Payment) -> EmailMultiAlternatives:
    """The receipt for a paid (or authorised) order, in the language the order was placed in."""
    context = {
        "purchase": purchase,
        "lines": list(purchase.lines.all()),
        "order": order,
        "payment": payment,
        # Held for a later capture (two-phase): to the shopper, the card is authorised.
        "authorised": payment.status == PaymentStatus.HELD,
        "merchant": checkout_settings.MERCHANT_NAME
        or urlsplit(checkout_settings.SITE_URL).hostname
        or "",
        "site_url": checkout_settings.SITE_URL,
    }
    with translation.override(order.language):
        subject = " ".join(render_to_string("shop/email/receipt_subject.txt", context).split())
        text = render_to_string("shop/email/receipt.txt", context)
        html = render_to_string("shop/email/receipt.html", context)
    message = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [order.email],
        headers={"Content-Language": order.language},
    )
    message.attach_alternative(html, "text/html")
    return message
