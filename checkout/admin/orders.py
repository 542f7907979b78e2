"""Orders: the list, the detail page with its attempts and audit tables, and the actions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.functional import Promise
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from checkout import backoffice
from checkout.admin.actions import OperationsMixin
from checkout.admin.base import (
    AuditInline,
    ModelAdmin,
    NulSafeListMixin,
    ReadOnlyMixin,
    link_column,
    money_column,
)
from checkout.admin.payments import PaymentAmountsMixin
from checkout.models import Exchange, Notification, Order, Payment, StatusChange
from checkout.status import (
    CHANGEABLE_STATUSES,
    REFUNDABLE_STATUSES,
    SECURED_STATUSES,
    PaymentStatus,
)

__all__ = ["OrderAdmin", "PaymentInline", "PaymentStatusFilter"]

_AUDIT_TABLE = "checkout/admin/audit_table.html"


def _audit_table(headers: Sequence[str | Promise], rows: Iterable[Sequence[str]]) -> SafeString:
    """A table of an order's audit records (escaped), or "—" when there are none."""
    return render_to_string(_AUDIT_TABLE, {"headers": headers, "rows": list(rows)})


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


class PaymentInline(PaymentAmountsMixin, AuditInline[Payment, Order]):
    """The order's payment attempts."""

    model = Payment
    fields = readonly_fields = (
        "payment_link",
        "status",
        "amount_display",
        "captured_display",
        "refunded_display",
        "masked_pan",
        "pending_operation",
        "created_at",
    )
    verbose_name_plural = _("payment attempts")

    payment_link = link_column("payment", _("order number"), text="order_number")


class PaymentStatusFilter(admin.SimpleListFilter):
    """Orders with an attempt in the given status."""

    title = _("payment status")
    parameter_name = "payment_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in PaymentStatus.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(payments__status=self.value()).distinct()
        return queryset


@admin.register(Order)
class OrderAdmin(NulSafeListMixin, OperationsMixin, ReadOnlyMixin, ModelAdmin[Order]):
    """Orders with their attempts and full history: read-only, with the back-office actions."""

    list_display = (
        "public_id",
        "status_display",
        "amount_display",
        "currency",
        "card_display",
        "email",
        "created_at",
        "fulfilled",
    )
    list_filter = (
        PaymentStatusFilter,
        "created_at",
        "currency",
        ("fulfilled_at", admin.EmptyFieldListFilter),
    )
    search_fields = (
        "=public_id",
        "email",
        "merchant_reference",
        "payments__order_number",
        "payments__gateway_order_id",
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-pk")
    inlines = (PaymentInline,)
    actions = (
        "refresh_from_gateway",
        "capture_payments",
        "void_payments",
        "refund_payments",
        "mark_fulfilled",
    )
    fields = readonly_fields = (
        "public_id",
        "amount_display",
        "description",
        "email",
        "ip_address",
        "language",
        "merchant_reference",
        "content_type",
        "object_id",
        "created_at",
        "expires_at",
        "fulfilled_at",
        "anonymised_at",
        "history",
        "exchanges",
        "notifications",
    )

    amount_display = money_column("amount", _("amount"), ordering="amount")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).prefetch_related("payments")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Order], bool]:
        """The default search (which finds an order by its own public id too), and the orders
        of the payments the term identifies (``identified_by``)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            paid_by = Payment.objects.identified_by(search_term).values("order_id")
            found |= queryset.filter(pk__in=paid_by)
        return found, may_have_duplicates

    def payments_for(self, queryset: QuerySet[Any], operation: str) -> list[Payment]:
        payments = Payment.objects.filter(order__in=queryset).select_related("order")
        if operation in ("capture", "void"):
            payments = payments.filter(status=PaymentStatus.HELD)
        elif operation == "refund":
            payments = payments.filter(status__in=REFUNDABLE_STATUSES)
        else:
            # Refresh what can still change (and what has an operation in flight).
            payments = payments.filter(Q(status__in=CHANGEABLE_STATUSES) | ~Q(pending_operation=""))
        return list(payments.order_by("order_id", "pk"))

    def has_fulfil_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.change_order")

    @admin.action(
        description=_("Mark fulfilled (stop re-sending order_paid)"), permissions=["fulfil"]
    )
    def mark_fulfilled(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            if not order.is_paid:
                self.message_user(
                    request,
                    gettext("%(order)s: not paid, not marked.") % {"order": order},
                    messages.ERROR,
                )
            elif backoffice.mark_fulfilled(order):
                self.message_user(
                    request,
                    gettext("%(order)s: marked fulfilled.") % {"order": order},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    gettext("%(order)s: was already fulfilled.") % {"order": order},
                    messages.INFO,
                )

    def _shown_payment(self, obj: Order) -> Payment | None:
        """The attempt that secured the money, else the latest one."""
        payments = sorted(obj.payments.all(), key=lambda p: (p.created_at, p.pk))
        for payment in payments:
            if payment.status in SECURED_STATUSES:
                return payment
        return payments[-1] if payments else None

    @admin.display(description=_("status"))
    def status_display(self, obj: Order) -> str:
        payment = self._shown_payment(obj)
        return payment.get_status_display() if payment else str(_("No attempt"))

    @admin.display(description=_("card"))
    def card_display(self, obj: Order) -> str:
        payment = self._shown_payment(obj)
        return " ".join(filter(None, [payment.card_brand, payment.masked_pan])) if payment else ""

    @admin.display(description=_("fulfilled"), boolean=True)
    def fulfilled(self, obj: Order) -> bool:
        return obj.fulfilled_at is not None

    @admin.display(description=_("status history"))
    def history(self, obj: Order) -> SafeString:
        rows = StatusChange.objects.filter(payment__order=obj).select_related("payment", "operator")
        return _audit_table(
            (_("when"), _("attempt"), _("from"), _("to"), _("source"), _("operator"), _("note")),
            (
                (
                    _when(r.created_at),
                    r.payment.order_number,
                    r.from_status,
                    r.to_status,
                    r.source,
                    str(r.operator or ""),
                    r.note,
                )
                for r in rows.order_by("created_at", "pk")
            ),
        )

    @admin.display(description=_("exchange log"))
    def exchanges(self, obj: Order) -> SafeString:
        rows = Exchange.objects.filter(payment__order=obj).select_related("payment")
        return _audit_table(
            (_("when"), _("attempt"), _("operation"), "HTTP", "errorCode", _("error"), "ms"),
            (
                (
                    _when(r.created_at),
                    r.payment.order_number if r.payment else "",
                    r.operation,
                    str(r.http_status or ""),
                    "" if r.error_code is None else str(r.error_code),
                    r.error,
                    str(r.duration_ms),
                )
                for r in rows.order_by("created_at", "pk")
            ),
        )

    @admin.display(description=_("callback notifications"))
    def notifications(self, obj: Order) -> SafeString:
        rows = Notification.objects.filter(payment__order=obj).select_related("payment")
        return _audit_table(
            (_("received"), _("notification"), _("valid"), _("processed"), _("error")),
            (
                (
                    _when(r.received_at),
                    str(r),
                    str(r.valid),
                    _when(r.processed_at) if r.processed_at else "",
                    r.error,
                )
                for r in rows.order_by("received_at", "pk")
            ),
        )
