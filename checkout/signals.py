"""Signals: the app's public contract with the shop. Each fires once per real transition,
after the transaction that made it has committed."""

from django.dispatch import Signal

__all__ = ["order_paid", "payment_status_changed"]

# Every status change of a payment.
# Arguments: sender=Payment class, payment (Payment), order (Order), from_status (str),
# to_status (str), source (checkout.models.Source value).
payment_status_changed = Signal()

# Once per order, when its money is secured.
# Arguments: sender=Order class, order (Order), payment (Payment),
# captured (bool: True when charged, False when held for a later capture).
# checkout_sync sends it again for paid orders not yet marked fulfilled, so a receiver
# must be idempotent (check Order.fulfilled_at).
order_paid = Signal()
