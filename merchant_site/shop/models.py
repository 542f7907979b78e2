from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = [
    "REFERENCE_ALPHABET",
    "Product",
    "Purchase",
    "PurchaseLine",
    "Subscription",
    "new_reference",
]


class Product(models.Model):
    """Something the demo shop sells."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    price = models.PositiveIntegerField(help_text="In minor units (cents).")
    currency = models.CharField(max_length=3, default="EUR")
    image = models.CharField(max_length=200, blank=True, help_text="Static file path.")
    position = models.PositiveSmallIntegerField(default=0)
    # Sold as a monthly subscription: the first payment saves the card, the next ones are
    # merchant-initiated payments (charge_subscriptions).
    monthly = models.BooleanField(default=False)

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


class Subscription(models.Model):
    """A shopper's monthly subscription: charged on their saved card each period."""

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        # The last charges were declined, or the card can no longer be charged.
        PAST_DUE = "past_due", "past due"
        CANCELLED = "cancelled", "cancelled"

    #: Declined charges of one period before the subscription is past due.
    MAX_FAILED = 3

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    first_purchase = models.OneToOneField(
        Purchase, on_delete=models.PROTECT, related_name="subscription"
    )
    card = models.ForeignKey(
        "jcc_checkout.SavedCard", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount = models.PositiveBigIntegerField(help_text="In minor units (cents).")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Periods paid, the first included; the next charge is period ``periods + 1``.
    periods = models.PositiveIntegerField(default=1)
    failed = models.PositiveSmallIntegerField(default=0)
    next_charge_at = models.DateTimeField()
    # The order of the charge under way, kept until it is paid or declined, so that a
    # charge whose outcome is unknown is looked up again, never made twice.
    current_order = models.ForeignKey(
        "jcc_checkout.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["next_charge_at", "pk"]

    def __str__(self) -> str:
        return f"{self.product} for {self.user or 'a removed account'}"

    @property
    def charge_key(self) -> str:
        """The idempotency key of the current charge: one per period and per retry."""
        return f"subscription:{self.pk}:{self.periods + 1}:{self.failed}"
