"""Payment attempts: the list, the detail page with its audit inlines, and the actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from checkout.admin.actions import OperationsMixin
from checkout.admin.base import (
    AuditInline,
    ModelAdmin,
    NulSafeListMixin,
    ReadOnlyMixin,
    format_money,
    link_column,
    money_column,
)
from checkout.models import Exchange, Notification, Payment, StatusChange

__all__ = [
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


class StatusChangeInline(AuditInline[StatusChange, Payment]):
    """The payment's status history."""

    model = StatusChange
    fields = readonly_fields = (
        "created_at",
        "from_status",
        "to_status",
        "source",
        "operator",
        "gateway_status",
        "action_code",
        "note",
    )
    verbose_name_plural = _("status history")


class ExchangeInline(AuditInline[Exchange, Payment]):
    """The payment's calls to the gateway."""

    model = Exchange
    fields = readonly_fields = (
        "created_at",
        "exchange_link",
        "http_status",
        "error_code",
        "error",
        "duration_ms",
    )
    verbose_name_plural = _("exchange log")

    exchange_link = link_column("exchange", _("operation"), text="operation")


class NotificationInline(AuditInline[Notification, Payment]):
    """The callback notifications received for the payment."""

    model = Notification
    fields = readonly_fields = (
        "received_at",
        "notification_link",
        "valid",
        "processed_at",
        "error",
        "attempts",
    )
    ordering = ("received_at", "pk")
    verbose_name_plural = _("callback notifications")

    notification_link = link_column("notification", _("notification"))


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
    NulSafeListMixin, OperationsMixin, ReadOnlyMixin, PaymentAmountsMixin, ModelAdmin[Payment]
):
    """Payment attempts: read-only, with the back-office actions."""

    list_display = (
        "order_number",
        "status",
        "amount_display",
        "currency",
        "masked_pan",
        "card_brand",
        "pending_operation",
        "created_at",
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
            {"fields": ("card_brand", "masked_pan", "card_expiry", "approval_code")},
        ),
        (
            _("Gateway"),
            {"fields": ("gateway_status", "action_code", "action_code_description")},
        ),
        (
            _("Pending operation"),
            {
                "fields": (
                    "pending_operation",
                    "pending_display",
                    "pending_since",
                    "pending_operator",
                    "pending_reason",
                    "lease_until",
                )
            },
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at", "settled_at")}),
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
        "card_brand",
        "masked_pan",
        "card_expiry",
        "approval_code",
        "gateway_status",
        "action_code",
        "action_code_description",
        "pending_operation",
        "pending_display",
        "pending_since",
        "pending_operator",
        "pending_reason",
        "lease_until",
        "created_at",
        "updated_at",
        "settled_at",
    )

    approved_display = money_column("approved_amount", _("approved"))
    order_link = link_column("order", _("order"), pk="order_id", text="order")

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
