"""Orders, payment attempts, their status history, the gateway exchange log and callbacks."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Re-exported: migrations, the demo and shops name them through the models module.
from checkout.status import (
    ACTIVE_STATUSES,
    SECURED_STATUSES,
    UNSUCCESSFUL_STATUSES,
    PaymentStatus,
    Source,
    is_final,
)

__all__ = [
    "ACTIVE_STATUSES",
    "SECURED_STATUSES",
    "UNSUCCESSFUL_STATUSES",
    "ApiSubmission",
    "ClientSecret",
    "Exchange",
    "Notification",
    "Order",
    "OrderQuerySet",
    "Payment",
    "PaymentQuerySet",
    "PaymentStatus",
    "SavedCard",
    "Source",
    "StatusChange",
    "Wallet",
]

_LAST_FOUR = re.compile(r"\d{4}")


class OrderQuerySet(models.QuerySet["Order"]):
    def paid(self) -> OrderQuerySet:
        return self.filter(payments__status__in=SECURED_STATUSES).distinct()

    def expired(self, now: Any = None) -> OrderQuerySet:
        """Orders past their expiry that were never paid."""
        secured = Payment.objects.filter(order=models.OuterRef("pk"), status__in=SECURED_STATUSES)
        return self.filter(expires_at__lt=now or timezone.now()).exclude(models.Exists(secured))


class Order(models.Model):
    """What the shop sells: one amount in one currency, paid by one or more attempts."""

    public_id = models.UUIDField(
        verbose_name=_("public id"), default=uuid.uuid4, unique=True, editable=False
    )
    amount = models.PositiveBigIntegerField(
        verbose_name=_("amount"), help_text=_("In minor units (cents).")
    )
    currency = models.CharField(
        verbose_name=_("currency"), max_length=3, help_text=_("ISO 4217 alphabetic code.")
    )
    description = models.CharField(
        verbose_name=_("description"),
        max_length=598,
        blank=True,
        help_text=_("Sent to the gateway: no personal or card data."),
    )
    email = models.EmailField(verbose_name=_("e-mail address"), blank=True)
    ip_address = models.GenericIPAddressField(verbose_name=_("IP address"), null=True, blank=True)
    language = models.CharField(verbose_name=_("language"), max_length=2, default="en")
    merchant_reference = models.CharField(
        verbose_name=_("merchant reference"), max_length=100, blank=True, db_index=True
    )
    content_type = models.ForeignKey(
        ContentType,
        verbose_name=_("content type"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    object_id = models.CharField(verbose_name=_("object id"), max_length=64, blank=True)
    content_object = GenericForeignKey("content_type", "object_id")

    # The order starts a subscription or an instalment plan: its card is saved (tii RI or
    # II) for the merchant-initiated payments that follow.
    class Recurrence(models.TextChoices):
        NONE = "", _("One payment")
        RECURRING = "recurring", _("Subscription")
        INSTALMENTS = "instalments", _("Instalment plan")

    recurrence = models.CharField(
        verbose_name=_("starts"),
        max_length=12,
        choices=Recurrence.choices,
        blank=True,
        default="",
    )
    # The shopper's wallet when the shop knows them (signed in, or named by the shop): the
    # card page then offers their saved cards and to save a new one.
    wallet = models.ForeignKey(
        "Wallet",
        verbose_name=_("wallet"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, db_index=True
    )
    expires_at = models.DateTimeField(verbose_name=_("expires at"), null=True, blank=True)
    # Set by the shop once it has delivered; checkout_sync re-sends order_paid until then.
    fulfilled_at = models.DateTimeField(verbose_name=_("fulfilled at"), null=True, blank=True)
    # Set once the shopper's personal data (e-mail, IP address) has been cleared, by
    # checkout_prune after RETENTION["personal_data"] days or on an erasure request.
    anonymised_at = models.DateTimeField(
        _("anonymised at"),
        null=True,
        blank=True,
        help_text=_("When the shopper's personal data was cleared from this order."),
    )

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="jcc_checkout_order_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.public_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # What the shopper was asked to pay is frozen once an attempt carries it to the
        # gateway; a different price needs a new order.
        update_fields = kwargs.get("update_fields")
        guarded = update_fields is None or {"amount", "currency"} & set(update_fields)
        if self.pk is not None and guarded:
            stored = (
                Order.objects.filter(pk=self.pk, payments__isnull=False)
                .values("amount", "currency")
                .first()
            )
            if stored and (stored["amount"], stored["currency"]) != (self.amount, self.currency):
                raise ValueError(f"{self}: amount and currency are frozen once it has a payment.")
        super().save(*args, **kwargs)

    @property
    def secured_payment(self) -> Payment | None:
        """The attempt that holds or captured this order's money, if any."""
        for payment in self.payments.all():
            if payment.status in SECURED_STATUSES:
                return payment
        return None

    @property
    def is_paid(self) -> bool:
        return self.secured_payment is not None

    @property
    def is_expired(self) -> bool:
        """Past its expiry time and never paid: no new payment attempt may start."""
        return bool(self.expires_at and self.expires_at <= timezone.now()) and not self.is_paid


def _new_client_id() -> str:
    # 128 random bits: the gateway lists a clientId's cards to whoever names it.
    return secrets.token_urlsafe(16)


class Wallet(models.Model):
    """A shopper's saved cards, under the opaque ``clientId`` the gateway knows them by.

    The owner is any model instance of the shop (its auth user by default), through a
    generic relation, so that deleting the owner leaves the wallet in place until the
    gateway has confirmed that every card is unbound.
    """

    client_id = models.CharField(
        verbose_name=_("client id"),
        max_length=64,
        unique=True,
        default=_new_client_id,
        editable=False,
        help_text=_("Random; what the gateway knows this shopper by."),
    )
    owner_type = models.ForeignKey(
        ContentType,
        verbose_name=_("owner type"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    owner_id = models.CharField(verbose_name=_("owner id"), max_length=64, blank=True)
    owner = GenericForeignKey("owner_type", "owner_id")
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    # Set when the owner was deleted: the cards are being unbound at the gateway.
    closed_at = models.DateTimeField(verbose_name=_("closed at"), null=True, blank=True)
    # When checkout_sync last compared the cards with getBindings.do.
    checked_at = models.DateTimeField(
        verbose_name=_("compared with the gateway at"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "owner_id"],
                condition=Q(closed_at__isnull=True),
                name="jcc_checkout_one_open_wallet_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"Wallet {self.client_id[:6]}…"


class SavedCard(models.Model):
    """A card stored at the gateway (a "binding"): its id and display data, never the card.

    No card number and no CVC: the gateway keeps the card; the shop keeps its bindingId,
    what the gateway shows of it (brand, masked number, expiry) and the reference of the
    first payment, which a merchant-initiated payment must quote.
    """

    class Unbind(models.TextChoices):
        NONE = "", _("Bound")
        # Removed here; unBindCard.do not yet confirmed (checkout_sync retries it).
        PENDING = "pending", _("Unbinding")
        DONE = "done", _("Unbound at the gateway")

    public_id = models.UUIDField(
        verbose_name=_("public id"), default=uuid.uuid4, unique=True, editable=False
    )
    wallet = models.ForeignKey(
        Wallet, verbose_name=_("wallet"), on_delete=models.PROTECT, related_name="cards"
    )
    binding_id = models.CharField(verbose_name=_("binding id"), max_length=255)
    brand = models.CharField(verbose_name=_("card brand"), max_length=20, blank=True)
    masked_pan = models.CharField(verbose_name=_("masked card number"), max_length=19, blank=True)
    expiry = models.CharField(
        verbose_name=_("card expiry"), max_length=6, blank=True, help_text=_("YYYYMM")
    )
    # The first payment's reference and date at the card network: a merchant-initiated
    # payment quotes them (originalPaymentNetRefNum, originalPaymentDate).
    network_reference = models.CharField(
        verbose_name=_("network reference"), max_length=36, blank=True
    )
    first_paid_at = models.DateTimeField(verbose_name=_("first payment at"), null=True, blank=True)
    first_payment = models.ForeignKey(
        "Payment",
        verbose_name=_("first payment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    active = models.BooleanField(verbose_name=_("active"), default=True)
    deactivated_at = models.DateTimeField(verbose_name=_("deactivated at"), null=True, blank=True)
    deactivation_reason = models.CharField(
        verbose_name=_("why deactivated"), max_length=100, blank=True
    )
    unbind = models.CharField(
        verbose_name=_("unbinding"), max_length=10, choices=Unbind.choices, blank=True, default=""
    )
    unbind_attempts = models.PositiveSmallIntegerField(verbose_name=_("unbind attempts"), default=0)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("saved card")
        verbose_name_plural = _("saved cards")
        ordering = ["-last_used_at", "-created_at", "-pk"]
        permissions = [("charge_saved_card", "Can charge saved cards")]
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "binding_id"], name="jcc_checkout_one_card_per_binding"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand or 'Card'} {self.last4 or '????'}"

    @property
    def last4(self) -> str:
        tail = self.masked_pan[-4:]
        return tail if _LAST_FOUR.fullmatch(tail) else ""

    def expired(self, now: Any = None) -> bool:
        """Past the end of its expiry month (a card is valid through that month)."""
        if not (len(self.expiry) == 6 and self.expiry.isdigit()):
            return False
        today = timezone.localdate(now) if now is not None else timezone.localdate()
        return (int(self.expiry[:4]), int(self.expiry[4:])) < (today.year, today.month)

    @property
    def expiry_display(self) -> str:
        """MM/YY, as printed on the card."""
        if len(self.expiry) != 6:
            return ""
        return f"{self.expiry[4:]}/{self.expiry[2:4]}"

    def usable(self, now: Any = None) -> bool:
        return self.active and not self.unbind and not self.expired(now)

    #: Why a card was taken out of use, as kept in ``deactivation_reason``: a code, then
    #: after a colon what it names (an operator's user name, an action code).
    SHOPPER = "shopper"
    OPERATOR = "operator"
    OWNER_DELETED = "owner_deleted"
    NOT_LISTED = "not_listed"
    DECLINED = "declined"

    @property
    def deactivation_text(self) -> str:
        """``deactivation_reason`` in words, in the active language."""
        code, _sep, detail = self.deactivation_reason.partition(":")
        texts = {
            self.SHOPPER: _("removed by the shopper"),
            self.OPERATOR: _("deactivated by %(detail)s"),
            self.OWNER_DELETED: _("the owner's account was deleted"),
            self.NOT_LISTED: _("no longer listed by the gateway"),
            self.DECLINED: _("declined by the bank: action code %(detail)s"),
        }
        text = texts.get(code)
        if text is None:
            return self.deactivation_reason
        return str(text) % {"detail": detail} if "%(detail)s" in str(text) else str(text)


class PaymentQuerySet(models.QuerySet["Payment"]):
    def identified_by(self, *terms: str) -> PaymentQuerySet:
        """Payments named by any identifier a person may quote.

        Our order number, the gateway's order id, the public id of the payment or of its
        order, the shop's reference of the order (``Order.merchant_reference``, exactly),
        or the card's last four digits; several terms match any of them.
        """
        query = Q(pk__in=[])
        for raw in terms:
            term = str(raw).strip()
            if not term or "\x00" in term:
                continue
            query |= (
                Q(order_number=term) | Q(gateway_order_id=term) | Q(order__merchant_reference=term)
            )
            try:
                public = uuid.UUID(term)
            except ValueError:
                public = None
            if public is not None:
                query |= Q(public_id=public) | Q(order__public_id=public)
            if _LAST_FOUR.fullmatch(term):
                query |= Q(masked_pan__endswith=term)
        return self.filter(query)


class Payment(models.Model):
    """One attempt at the gateway for an order, with its own gateway order number and id."""

    public_id = models.UUIDField(
        verbose_name=_("public id"), default=uuid.uuid4, unique=True, editable=False
    )
    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="payments"
    )
    order_number = models.CharField(verbose_name=_("order number"), max_length=30, unique=True)
    gateway_order_id = models.CharField(
        verbose_name=_("gateway order id"), max_length=36, null=True, blank=True, unique=True
    )
    amount = models.PositiveBigIntegerField(
        verbose_name=_("amount"),
    )
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    preauth = models.BooleanField(verbose_name=_("pre-authorisation"), default=False)
    # The shopper's address counter this attempt was counted on by the card page (a keyed
    # hash, see checkout.ratelimit): it is given back once the money is secured. Blank for
    # attempts started elsewhere; cleared with the order's personal data.
    client_key = models.CharField(
        verbose_name=_("client key"), max_length=32, blank=True, editable=False
    )
    # Stored credentials: the wallet a card is saved into by this attempt, or the saved card
    # it pays with, and the transaction initiator indicator sent (API-NOTES §2.1 ``tii``:
    # "" plain, CI/RI/II saving, F shopper with a saved card, U/R/I merchant-initiated).
    wallet = models.ForeignKey(
        Wallet,
        verbose_name=_("saving into wallet"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    saved_card = models.ForeignKey(
        SavedCard,
        verbose_name=_("saved card"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payments",
    )
    tii = models.CharField(verbose_name=_("initiator (tii)"), max_length=2, blank=True)
    # The caller's key of a merchant-initiated payment: the same key never charges twice.
    idempotency_key = models.CharField(
        verbose_name=_("idempotency key"), max_length=100, null=True, blank=True, unique=True
    )
    # Assigned only by checkout.services.transition().
    status = models.CharField(
        verbose_name=_("status"),
        max_length=20,
        choices=PaymentStatus.choices,
        default=PaymentStatus.CREATED,
        db_index=True,
    )
    gateway_status = models.SmallIntegerField(
        verbose_name=_("gateway status"), null=True, blank=True
    )
    action_code = models.IntegerField(verbose_name=_("action code"), null=True, blank=True)
    action_code_description = models.CharField(
        verbose_name=_("action code description"), max_length=512, blank=True
    )
    card_brand = models.CharField(verbose_name=_("card brand"), max_length=20, blank=True)
    masked_pan = models.CharField(verbose_name=_("masked card number"), max_length=19, blank=True)
    card_expiry = models.CharField(
        verbose_name=_("card expiry"), max_length=6, blank=True, help_text=_("YYYYMM")
    )
    approval_code = models.CharField(verbose_name=_("approval code"), max_length=12, blank=True)
    approved_amount = models.PositiveBigIntegerField(verbose_name=_("approved amount"), default=0)
    captured_amount = models.PositiveBigIntegerField(verbose_name=_("captured amount"), default=0)
    refunded_amount = models.PositiveBigIntegerField(verbose_name=_("refunded amount"), default=0)
    # A back-office operation whose gateway call is in flight (capture, void, refund).
    pending_operation = models.CharField(
        verbose_name=_("pending operation"), max_length=20, blank=True
    )
    pending_amount = models.PositiveBigIntegerField(verbose_name=_("pending amount"), default=0)
    pending_since = models.DateTimeField(verbose_name=_("pending since"), null=True, blank=True)
    # Who asked for it and why, so that a settlement made later (after an unknown outcome)
    # still names them in the history.
    pending_operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    pending_reason = models.CharField(verbose_name=_("reason"), max_length=200, blank=True)
    # checkout_sync claims a payment until this time so that several hosts share work.
    lease_until = models.DateTimeField(verbose_name=_("leased until"), null=True, blank=True)
    # When the last callback-triggered status query started (see CALLBACK_QUERY_INTERVAL).
    callback_query_at = models.DateTimeField(
        verbose_name=_("last callback query at"), null=True, blank=True
    )
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, db_index=True
    )
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    settled_at = models.DateTimeField(verbose_name=_("settled at"), null=True, blank=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        permissions = [
            ("capture_payment", "Can capture or void held payments"),
            ("refund_payment", "Can refund payments"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="jcc_checkout_payment_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(captured_amount__lte=F("amount")),
                name="jcc_checkout_payment_captured_lte_amount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("captured_amount")),
                name="jcc_checkout_payment_refunded_lte_captured",
            ),
            # Database-level guard against a double submit: one attempt in flight per order.
            models.UniqueConstraint(
                fields=["order"],
                # Sorted, so that the migration autodetector sees the same list every run.
                condition=Q(status__in=sorted(str(status) for status in ACTIVE_STATUSES)),
                name="jcc_checkout_one_active_payment_per_order",
            ),
        ]

    def __str__(self) -> str:
        return self.order_number

    @property
    def is_final(self) -> bool:
        return is_final(self.status)

    @property
    def refundable_amount(self) -> int:
        return self.captured_amount - self.refunded_amount


class StatusChange(models.Model):
    """Append-only history of a payment's status."""

    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), on_delete=models.CASCADE, related_name="history"
    )
    from_status = models.CharField(
        verbose_name=_("from status"), max_length=20, choices=PaymentStatus.choices
    )
    to_status = models.CharField(
        verbose_name=_("to status"), max_length=20, choices=PaymentStatus.choices
    )
    source = models.CharField(verbose_name=_("source"), max_length=20, choices=Source.choices)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    gateway_status = models.SmallIntegerField(
        verbose_name=_("gateway status"), null=True, blank=True
    )
    action_code = models.IntegerField(verbose_name=_("action code"), null=True, blank=True)
    note = models.CharField(verbose_name=_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["created_at", "pk"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.payment}: {self.from_status} → {self.to_status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Status history is append-only.")
        super().save(*args, **kwargs)


class Exchange(models.Model):
    """One call to the gateway: what was asked and answered, with secrets redacted."""

    payment = models.ForeignKey(
        Payment,
        verbose_name=_("payment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exchanges",
    )
    operation = models.CharField(verbose_name=_("operation"), max_length=40)
    url = models.CharField(verbose_name=_("URL"), max_length=512)
    request = models.JSONField(verbose_name=_("request"), default=dict)
    response = models.JSONField(verbose_name=_("response"), null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(
        verbose_name=_("HTTP status"), null=True, blank=True
    )
    error_code = models.IntegerField(verbose_name=_("error code"), null=True, blank=True)
    error = models.CharField(verbose_name=_("error"), max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(verbose_name=_("duration (ms)"), default=0)
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, db_index=True
    )

    class Meta:
        verbose_name = _("gateway exchange")
        verbose_name_plural = _("gateway exchanges")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.operation} ({self.http_status or self.error or '—'})"


class Notification(models.Model):
    """A callback notification as received, stored before it is verified or processed."""

    payment = models.ForeignKey(
        Payment,
        verbose_name=_("payment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    method = models.CharField(verbose_name=_("method"), max_length=8)
    params = models.JSONField(verbose_name=_("parameters"), default=dict)
    headers = models.JSONField(verbose_name=_("headers"), default=dict)
    remote_addr = models.GenericIPAddressField(
        verbose_name=_("remote address"), null=True, blank=True
    )
    received_at = models.DateTimeField(
        verbose_name=_("received at"), default=timezone.now, db_index=True
    )
    valid = models.BooleanField(verbose_name=_("valid"), null=True)
    processed_at = models.DateTimeField(verbose_name=_("processed at"), null=True, blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(verbose_name=_("attempts"), default=0)

    class Meta:
        verbose_name = _("callback notification")
        verbose_name_plural = _("callback notifications")
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        op = self.params.get("operation", "?")
        return f"{self.params.get('orderNumber', '?')} {op}"


class ClientSecret(models.Model):
    """A secret that lets a shop's front end pay one order through the JSON API.

    Only its digest is kept: the secret is ``cs_<selector>_<validator>``; the selector finds
    the row, the SHA-256 of the validator is compared in constant time
    (``checkout.api.secrets``). It opens its own order and no other.
    """

    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="client_secrets"
    )
    selector = models.CharField(verbose_name=_("selector"), max_length=16, unique=True)
    digest = models.CharField(verbose_name=_("digest"), max_length=64)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(verbose_name=_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("API client secret")
        verbose_name_plural = _("API client secrets")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Client secret {self.selector[:6]}… of {self.order}"


class ApiSubmission(models.Model):
    """A payment submitted through the JSON API: the attempt it started, where the shopper
    goes back to after 3-D Secure, and, under an ``Idempotency-Key``, the first answer."""

    secret = models.ForeignKey(
        ClientSecret,
        verbose_name=_("client secret"),
        on_delete=models.CASCADE,
        related_name="submissions",
    )
    # Null, not "", for submissions without an Idempotency-Key: NULLs never collide in the
    # unique constraint below.
    idempotency_key = models.CharField(  # noqa: DJ001
        verbose_name=_("idempotency key"), max_length=255, null=True, blank=True
    )
    # SHA-256 of the request body: the same key with another body is refused.
    fingerprint = models.CharField(verbose_name=_("request fingerprint"), max_length=64)
    payment = models.OneToOneField(
        Payment,
        verbose_name=_("payment"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_submission",
    )
    return_url = models.CharField(verbose_name=_("return URL"), max_length=2000, blank=True)
    response_status = models.PositiveSmallIntegerField(
        verbose_name=_("response status"), null=True, blank=True
    )
    response_body = models.JSONField(verbose_name=_("response body"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("API payment submission")
        verbose_name_plural = _("API payment submissions")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["secret", "idempotency_key"], name="jcc_checkout_one_answer_per_key"
            ),
        ]

    def __str__(self) -> str:
        return f"API submission {self.pk} ({self.payment or 'no attempt'})"
