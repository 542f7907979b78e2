"""Signals: the app's public contract with the shop. The payment signals fire once per real
transition, after the transaction that made it has committed; order_anonymised inside it."""

from django.dispatch import Signal

__all__ = [
    "order_anonymised",
    "order_paid",
    "payment_status_changed",
    "saved_card_added",
    "saved_card_charged",
]

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

# Once per order, when the shopper's personal data has been cleared from it (checkout_prune
# after RETENTION["personal_data"] days, or checkout.retention.erase_shopper). Unlike the
# others it is sent inside the transaction that clears the order: a receiver clears the
# shop's own copies (the order's content_object, its merchant_reference) and may raise to
# leave the order as it was for the next run.
# Arguments: sender=Order class, order (Order, already cleared).
order_anonymised = Signal()

# A card was saved: the gateway's status answer about the attempt that saved it named the
# binding. Sent after the transaction that recorded it has committed.
# Arguments: sender=SavedCard class, card (SavedCard), payment (Payment).
saved_card_added = Signal()

# A merchant-initiated payment on a saved card (checkout.services.saved_cards.charge_saved_card)
# has its result: its money is secured, or it ended without (declined, failed, expired).
# An outcome still unknown sends nothing until checkout_sync has settled it.
# Arguments: sender=SavedCard class, payment (Payment), card (SavedCard or None when it has
# been deleted since), succeeded (bool).
saved_card_charged = Signal()
