from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["REFERENCE_ALPHABET", "Product", "Purchase", "PurchaseLine", "new_reference"]


class Product(models.Model):
    """Something the demo shop sells."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    price = models.PositiveIntegerField(help_text="In minor units (cents).")
    currency = models.CharField(max_length=3, default="EUR")
    image = models.CharField(max_length=200, blank=True, help_text="Static file path.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


#: Characters of order references: upper-case letters and digits that cannot be confused
#: when read out or typed (no 0/O, 1/I/L).
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference() -> str:
    """A fresh order reference for people to quote, e.g. ``"K7Q2-M9XP"`` (about 40 bits)."""
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


class Purchase(models.Model):
    """What a shopper ordered: the cart as it was at checkout, paid through one Order."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The one reference the shopper sees (cart, result page, "your orders", receipt) and
    # an operator searches for: also the order's merchant_reference.
    reference = models.CharField(max_length=9, unique=True, default=new_reference, editable=False)
    # Blank once the order's personal data has been cleared (see merchant_site.shop.signals).
    email = models.EmailField(blank=True)
    amount = models.PositiveBigIntegerField(help_text="In minor units (cents).")
    currency = models.CharField(max_length=3)
    # The order is created right after the purchase, in the same transaction.
    order = models.OneToOneField(
        "jcc_checkout.Order", null=True, on_delete=models.PROTECT, related_name="purchase"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When the receipt e-mail went out: order_paid can come more than once, the receipt not.
    receipt_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="shop_purchase_amount_positive")
        ]

    def __str__(self) -> str:
        return f"Purchase {self.public_id}"


class PurchaseLine(models.Model):
    """One product of a purchase, with the name and price it had when ordered."""

    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=100)
    unit_price = models.PositiveIntegerField()
    quantity = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shop_line_quantity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity
