"""The sandbox bank's state: its merchant, orders, operations, callbacks and key.

Only what a bank shows a merchant is stored: masked card numbers, never a full number
or a CVC.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from checkout.sandbox import defaults

__all__ = [
    "BankCancellation",
    "Binding",
    "CallbackAttempt",
    "CallbackDelivery",
    "CallbackFault",
    "Fault",
    "Merchant",
    "MerchantManager",
    "Operation",
    "Order",
    "OrderStatus",
    "SigningKey",
]


class Fault(models.TextChoices):
    """Transport faults the sandbox can inject into a REST answer."""

    LATENCY = "latency", _("Latency (then carried out)")
    LATENCY_AFTER = "latency_after", _("Carried out, then latency")
    ERROR_BEFORE = "http500_before", _("HTTP 500, not carried out")
    ERROR_AFTER = "http500_after", _("HTTP 500, carried out")
    MALFORMED_BEFORE = "malformed_before", _("Malformed body, not carried out")
    MALFORMED_AFTER = "malformed_after", _("Malformed body, carried out")
    RATE_LIMITED = "http429", _("HTTP 429, not carried out")
    DROP_AFTER = "drop_after", _("Connection dropped, carried out")


class CallbackFault(models.TextChoices):
    """Ways the sandbox can misdeliver callbacks."""

    DUPLICATE = "duplicate", _("Sent twice")
    REORDER = "reorder", _("Overtaken by the next callback")
    DELAY = "delay", _("Delayed")
    NEVER = "never", _("Never sent")


class MerchantManager(models.Manager["Merchant"]):
    def default(self) -> Merchant:
        """The built-in merchant whose credentials checkout.conf uses."""
        merchant, _created = self.get_or_create(
            login=defaults.MERCHANT_LOGIN,
            defaults={
                "password": defaults.MERCHANT_PASSWORD,
                "callback_secret": defaults.CALLBACK_SECRET,
            },
        )
        return merchant


class Merchant(models.Model):
    """A merchant account of the sandbox bank, with its callback and fault switches."""

    class Method(models.TextChoices):
        GET = "GET", "GET"
        POST = "POST", "POST"

    class Signing(models.TextChoices):
        HMAC = "hmac", _("Symmetric (HMAC-SHA256)")
        RSA = "rsa", _("Asymmetric (RSA SHA-512)")
        NONE = "none", _("No checksum")

    login = models.CharField(max_length=100, unique=True)
    password = models.CharField(max_length=200)
    callbacks_enabled = models.BooleanField(default=True)
    callback_url = models.URLField(
        max_length=512,
        blank=True,
        help_text=_("Blank: the shop's checkout callback URL, when the shop has one."),
    )
    callback_method = models.CharField(max_length=4, choices=Method.choices, default="GET")
    callback_signing = models.CharField(max_length=4, choices=Signing.choices, default="hmac")
    callback_secret = models.CharField(max_length=200, default=defaults.CALLBACK_SECRET)
    # Adds amount, currency, actionCode, approvedAmount, depositedAmount and refundedAmount,
    # as support can enable for a real merchant (callbackCreationDate is always sent).
    callback_extra_params = models.BooleanField(default=False)
    # The published answers spell errorCode as a string in some methods and a number in
    # others; this switch answers every method with the other type, so that a client is
    # tested against both.
    flip_error_code_type = models.BooleanField(
        _("errorCode in the other JSON type"),
        default=False,
        help_text=_("Every method answers errorCode as a number where it is a string, and back."),
    )
    fault = models.CharField(max_length=20, choices=Fault.choices, blank=True)
    fault_endpoints = models.CharField(
        max_length=200,
        blank=True,
        help_text=_(
            "Comma-separated REST methods the fault hits, e.g. instantPayment.do; blank: all."
        ),
    )
    fault_remaining = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Calls left to hit; blank: until switched off.")
    )
    callback_fault = models.CharField(max_length=20, choices=CallbackFault.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MerchantManager()

    def __str__(self) -> str:
        return self.login


class OrderStatus(models.IntegerChoices):
    """The gateway's orderStatus values."""

    REGISTERED = 0, _("Registered, not paid")
    APPROVED = 1, _("Held (approved)")
    DEPOSITED = 2, _("Deposited")
    REVERSED = 3, _("Reversed")
    REFUNDED = 4, _("Refunded")
    ACS_STARTED = 5, _("3-D Secure started")
    DECLINED = 6, _("Declined")


class Order(models.Model):
    """An order registered at the sandbox bank; its primary key is the gateway orderId."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="orders")
    order_number = models.CharField(max_length=36)
    amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3, help_text=_("ISO 4217 numeric code."))
    description = models.CharField(max_length=600, blank=True)
    language = models.CharField(max_length=2, default="en")
    back_url = models.CharField(max_length=512)
    fail_url = models.CharField(max_length=512, blank=True)
    dynamic_callback_url = models.CharField(max_length=512, blank=True)
    ip = models.CharField(max_length=39, blank=True)
    email = models.CharField(max_length=40, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    json_params = models.JSONField(default=dict, blank=True)
    preauth = models.BooleanField(default=False)
    status = models.SmallIntegerField(choices=OrderStatus.choices, default=OrderStatus.REGISTERED)
    action_code = models.IntegerField(default=-100)
    masked_pan = models.CharField(max_length=19, blank=True)
    # What the test card does once 3-D Secure is done, so the order can finish without
    # keeping the card number: the 3-D Secure kind and the issuer's answer.
    three_ds = models.CharField(max_length=20, blank=True)
    issuer_action_code = models.IntegerField(default=0)
    expiration = models.CharField(max_length=6, blank=True)
    cardholder_name = models.CharField(max_length=45, blank=True)
    payment_system = models.CharField(max_length=20, blank=True)
    approval_code = models.CharField(max_length=6, blank=True)
    auth_ref_num = models.CharField(max_length=12, blank=True)
    eci = models.CharField(max_length=2, blank=True)
    three_ds_trans_id = models.CharField(max_length=36, blank=True)
    # Each seToken pays once: its UUID is kept to refuse a replay.
    setoken_uuid = models.CharField(max_length=64, blank=True)
    # Stored credentials: the binding the order paid with or created, the transaction
    # initiator (tii), and whether to store the card once approved (clientId sent,
    # bindingNotNeeded not). The card is recognised by a keyed fingerprint, never its number.
    binding = models.ForeignKey(
        "Binding", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    tii = models.CharField(max_length=2, blank=True)
    bind_card = models.BooleanField(default=False)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    # The payment's network reference (paymentNetRefNum), what a later merchant-initiated
    # payment names as originalPaymentNetRefNum.
    net_ref_num = models.CharField(max_length=12, blank=True)
    approved_amount = models.PositiveBigIntegerField(default=0)
    deposited_amount = models.PositiveBigIntegerField(default=0)
    refunded_amount = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    auth_at = models.DateTimeField(null=True, blank=True)
    deposited_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "order_number"], name="sandbox_order_number_unique"
            ),
            models.UniqueConstraint(
                fields=["setoken_uuid"],
                condition=~Q(setoken_uuid=""),
                name="sandbox_setoken_once",
            ),
            models.CheckConstraint(
                condition=Q(deposited_amount__lte=F("approved_amount")),
                name="sandbox_deposited_lte_approved",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("deposited_amount")),
                name="sandbox_refunded_lte_deposited",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_number} ({self.id})"

    @property
    def awaiting_3ds(self) -> bool:
        return self.status in (OrderStatus.REGISTERED, OrderStatus.ACS_STARTED) and bool(
            self.three_ds_trans_id
        )

    @property
    def succeeded(self) -> bool:
        """Money was held or captured (even if later reversed or refunded)."""
        return self.status in (
            OrderStatus.APPROVED,
            OrderStatus.DEPOSITED,
            OrderStatus.REVERSED,
            OrderStatus.REFUNDED,
        )


class Operation(models.Model):
    """One processing step of an order, as listed in the bank's history."""

    class Kind(models.TextChoices):
        AUTHORIZE = "authorize", _("Authorisation")
        DEPOSIT = "deposit", _("Deposit")
        REVERSE = "reverse", _("Reversal")
        REFUND = "refund", _("Refund")
        DECLINE = "decline", _("Decline")
        EXPIRE = "expire", _("Expiry")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.PositiveBigIntegerField(default=0)
    action_code = models.IntegerField(default=0)
    approval_code = models.CharField(max_length=6, blank=True)
    reference_number = models.CharField(max_length=12, blank=True)
    external_refund_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # The refund idempotency key is enforced by the schema, not by a Python check.
            models.UniqueConstraint(
                fields=["order", "external_refund_id"],
                condition=~Q(external_refund_id=""),
                name="sandbox_refund_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} of {self.order_id}"


class BankCancellation(models.IntegerChoices):
    """Why the issuer closed a stored card: the actionCode its payments are declined with."""

    CLOSED = 125, _("Card closed (not effective)")
    LOST = 208, _("Card lost")
    STOLEN = 209, _("Card stolen")


class Binding(models.Model):
    """A stored credential ("binding"): a merchant's client's card, kept by the bank.

    Like an order it keeps only what the bank shows a merchant (masked number, expiry,
    scheme) and what the test card does (its 3-D Secure kind and issuer answer); the card
    is recognised by a keyed fingerprint of its number. Its primary key is the bindingId.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="bindings")
    client_id = models.CharField(max_length=255)
    card_fingerprint = models.CharField(max_length=64)
    masked_pan = models.CharField(max_length=19)
    expiry = models.CharField(max_length=6, help_text=_("YYYYMM"))
    payment_system = models.CharField(max_length=20, blank=True)
    three_ds = models.CharField(max_length=20, blank=True)
    issuer_action_code = models.IntegerField(default=0)
    card_fault = models.CharField(max_length=20, blank=True)
    active = models.BooleanField(default=True)
    # Set when the issuer closed the card: its payments are declined with this actionCode.
    cancelled_action_code = models.IntegerField(
        choices=BankCancellation.choices, null=True, blank=True
    )
    # The first payment's network reference and time (bindingInfo authRefNum/authDateTime).
    auth_ref_num = models.CharField(max_length=12)
    auth_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One active binding per client and card: a second payment reuses it.
            models.UniqueConstraint(
                fields=["merchant", "client_id", "card_fingerprint"],
                condition=Q(active=True),
                name="sandbox_binding_active_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.masked_pan} of {self.client_id} ({self.id})"

    @property
    def binding_id(self) -> str:
        return str(self.id)

    @property
    def expired(self) -> bool:
        """The card's expiry month is over."""
        now = timezone.now()
        return self.expiry < f"{now.year:04d}{now.month:02d}"


class CallbackDelivery(models.Model):
    """One callback notification in the outbox, with its delivery state."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Given up")
        SUPPRESSED = "suppressed", _("Never sent (fault)")
        NO_URL = "no_url", _("No callback URL")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="deliveries")
    # bindingActivityChanged callbacks name a binding and no order.
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="deliveries", null=True, blank=True
    )
    binding = models.ForeignKey(
        Binding, on_delete=models.CASCADE, related_name="deliveries", null=True, blank=True
    )
    operation = models.CharField(max_length=30)
    status = models.CharField(max_length=1)
    url = models.CharField(max_length=512, blank=True)
    method = models.CharField(max_length=4, default="GET")
    params: models.JSONField[dict[str, Any]] = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A sender claims a row until this time so that several processes share the outbox.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Held back by the "reorder" fault until a later callback of the order was sent.
    overtake = models.BooleanField(default=False)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.operation}/{self.status} for {self.order_id or self.binding_id}"


class CallbackAttempt(models.Model):
    """One try at delivering a callback and the merchant's answer."""

    delivery = models.ForeignKey(
        CallbackDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField(default=timezone.now)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"try of {self.delivery_id} at {self.at:%H:%M:%S}: {self.http_status or self.error}"


class SigningKey(models.Model):
    """The bank's RSA key pair: decrypts seTokens and signs asymmetric callbacks."""

    private_pem = models.TextField()
    public_pem = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"RSA key of {self.created_at:%Y-%m-%d}"
