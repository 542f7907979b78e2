"""The demo's receivers of the app's signals."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from checkout.models import Order
from checkout.signals import order_anonymised
from merchant_site.shop.models import Purchase

__all__ = ["forget_purchase_email"]


@receiver(order_anonymised)
def forget_purchase_email(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """The purchase keeps the shopper's e-mail too: it goes when the order's does."""
    Purchase.objects.filter(order=order).exclude(email="").update(email="")
