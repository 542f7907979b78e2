"""Payment attempts: the list, the detail page with its audit inlines, and the actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from checkout.admin.actions import OperationsMixin
from checkout.admin.audit import details_column, outcome_column, with_outcome
from checkout.admin.base import (
    AuditInline,
    ModelAdmin,
    NulSafeListMixin,
    ReadOnlyMixin,
    format_money,
    link_column,
    money_column,
)
from checkout.admin.display import (
    action_code_text,
    card_expiry_text,
    card_label,
    gateway_status_text,
    when_column,
)
from checkout.admin.operations import OperationPagesMixin, operation_links, pending_notice
from checkout.models import ApiSubmission, Exchange, Notification, Payment, StatusChange

__all__ = [
    "ApiSubmissionInline",
    "CardMixin",
    "ExchangeInline",
    "NotificationInline",
    "PaymentAdmin",
    "PaymentAmountsMixin",
    "PendingFilter",
    "StatusChangeInline",
]


class PaymentAmountsMixin:
    """A payment's amount, captured and refunded columns."""

    amount_display = money_column("amount", _("amount"), ordering="amount")
    captured_display = money_column("captured_amount", _("captured"))
    refunded_display = money_column("refunded_amount", _("refunded"))


class CardMixin:
    """A payment's card with its brand, and its gateway codes in words."""

    @admin.display(description=_("card"), ordering="masked_pan")
    def card_display(self, obj: Payment) -> str | None:
        return card_label(obj.card_brand, obj.masked_pan) or None

    @admin.display(description=_("card expiry"))
    def expiry_display(self, obj: Payment) -> str | None:
        return card_expiry_text(obj.card_expiry)

    @admin.display(description=_("gateway status"))
    def gateway_status_display(self, obj: Payment | StatusChange) -> str | None:
        return gateway_status_text(obj.gateway_status)

    @admin.display(description=_("action code"))
    def action_code_display(self, obj: Payment | StatusChange) -> str | None:
        return action_code_text(obj.action_code)


class StatusChangeInline(CardMixin, AuditInline[StatusChange, Payment]):
    """The payment's status history."""

    model = StatusChange
    fields = readonly_fields = (
        "created_when",
        "from_status",
        "to_status",
        "source",
        "operator",
        "gateway_status_display",
        "action_code_display",
        "note",
    )
    verbose_name_plural = _("status history")

    created_when = when_column("created_at", _("when"))


class ExchangeInline(AuditInline[Exchange, Payment]):
    """The payment's calls to the gateway."""

    model = Exchange
    fields = readonly_fields = (
        "created_when",
        "exchange_link",
        "http_status",
        "error_code",
        "error",
        "duration_ms",
    )
    verbose_name_plural = _("exchange log")

    created_when = when_column("created_at", _("when"))

    exchange_link = link_column("exchange", _("operation"), text="operation")


class NotificationInline(AuditInline[Notification, Payment]):
    """The callback notifications received for the payment."""

    model = Notification
    fields = readonly_fields = (
        "received_when",
        "notification_link",
        "valid",
        "outcome_display",
        "processed_when",
        "details_display",
        "attempts",
    )
    ordering = ("received_at", "pk")
    verbose_name_plural = _("callback notifications")

    notification_link = link_column("notification", _("notification"))
    received_when = when_column("received_at", _("received"))
    processed_when = when_column("processed_at", _("processed"))
    outcome_display = outcome_column()
    details_display = details_column()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return with_outcome(super().get_queryset(request))


class ApiSubmissionInline(AuditInline[ApiSubmission, Payment]):
    """How a payment made through the JSON API was submitted: its Idempotency-Key, where
    the shopper goes back to after 3-D Secure, and the status of the first answer."""

    model = ApiSubmission
    fields = readonly_fields = ("created_when", "idempotency_key", "return_url", "response_status")
    verbose_name_plural = _("API payment submission")

    created_when = when_column("created_at", _("when"))


class PendingFilter(admin.SimpleListFilter):
    """Payments with a back-office operation in flight (or of unknown outcome)."""

    title = _("pending operation")
    parameter_name = "pending"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", str(_("Yes"))), ("no", str(_("No")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(pending_operation="")
        if self.value() == "no":
            return queryset.filter(pending_operation="")
        return queryset


@admin.register(Payment)
class PaymentAdmin(
    NulSafeListMixin,
    OperationPagesMixin,
    OperationsMixin,
    ReadOnlyMixin,
    PaymentAmountsMixin,
    CardMixin,
    ModelAdmin[Payment],
):
    """Payment attempts: read-only, with the back-office actions and operation pages."""

    change_form_template = "checkout/admin/change_form.html"
    list_display = (
        "order_number",
        "status",
        "amount_display",
        "currency",
        "card_display",
        "pending_operation",
        "created_when",
    )
    list_filter = ("status", "created_at", "currency", "card_brand", "preauth", PendingFilter)
    search_fields = ("order_number", "gateway_order_id", "order__email", "masked_pan")
    date_hierarchy = "created_at"
    list_select_related = ("order",)
    ordering = ("-created_at", "-pk")
    inlines = (StatusChangeInline, ExchangeInline, NotificationInline)
    actions = ("refresh_from_gateway", "capture_payments", "void_payments", "refund_payments")
    fieldsets = (
        (None, {"fields": ("order_link", "order_number", "gateway_order_id", "status")}),
        (
            _("Money"),
            {
                "fields": (
                    "amount_display",
                    "preauth",
                    "approved_display",
                    "captured_display",
                    "refunded_display",
                )
            },
        ),
        (
            _("Card"),
            {"fields": ("card_display", "expiry_display", "approval_code")},
        ),
        (
            _("Gateway"),
            {
                "fields": (
                    "gateway_status_display",
                    "action_code_display",
                    "action_code_description",
                )
            },
        ),
        (
            _("Pending operation"),
            {
                "fields": (
                    "pending_operation",
                    "pending_display",
                    "pending_since_when",
                    "pending_operator",
                    "pending_reason",
                    "lease_until_when",
                )
            },
        ),
        (_("Dates"), {"fields": ("created_when", "updated_when", "settled_when")}),
    )

    readonly_fields = (
        "order_link",
        "order_number",
        "gateway_order_id",
        "status",
        "amount_display",
        "preauth",
        "approved_display",
        "captured_display",
        "refunded_display",
        "card_display",
        "expiry_display",
        "approval_code",
        "gateway_status_display",
        "action_code_display",
        "action_code_description",
        "pending_operation",
        "pending_display",
        "pending_since_when",
        "pending_operator",
        "pending_reason",
        "lease_until_when",
        "created_when",
        "updated_when",
        "settled_when",
    )

    approved_display = money_column("approved_amount", _("approved"))
    order_link = link_column("order", _("order"), pk="order_id", text="order")
    pending_since_when = when_column("pending_since", _("pending since"))
    lease_until_when = when_column("lease_until", _("leased until"))
    created_when = when_column("created_at", _("created"))
    updated_when = when_column("updated_at", _("updated"))
    settled_when = when_column("settled_at", _("settled"))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The page, with the buttons of the operations the operator may start now."""
        payment = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if payment is not None:
            context["checkout_operations"] = operation_links(request.user, payment)
            context["checkout_pending"] = pending_notice(payment)
        return super().change_view(request, object_id, form_url, context)

    def get_inlines(self, request: HttpRequest, obj: Payment | None) -> list[type[Any]]:
        """The audit inlines; the API submission's only for a payment made through the API."""
        inlines = list(super().get_inlines(request, obj))
        # The reverse one-to-one caches its answer on the payment, found or not.
        if obj is not None and hasattr(obj, "api_submission"):
            inlines.append(ApiSubmissionInline)
        return inlines

    def payments_for(self, queryset: QuerySet[Any], operation: str) -> list[Payment]:
        return list(queryset.select_related("order").order_by("pk"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Payment], bool]:
        """The default search, and the payments the term identifies (``identified_by``)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            identified = Payment.objects.identified_by(search_term).values("pk")
            found |= queryset.filter(pk__in=identified)
        return found, may_have_duplicates

    @admin.display(description=_("pending amount"))
    def pending_display(self, obj: Payment) -> str:
        return format_money(obj.pending_amount, obj.currency) if obj.pending_operation else "—"
