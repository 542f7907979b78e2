"""Orders: the list, the detail page with its attempts and audit tables, and the actions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from checkout import backoffice
from checkout.admin.actions import OperationsMixin
from checkout.admin.audit import outcome_label, with_outcome
from checkout.admin.base import (
    AuditInline,
    ModelAdmin,
    NulSafeListMixin,
    ReadOnlyMixin,
    link_column,
    money_column,
)
from checkout.admin.display import (
    action_code_text,
    card_label,
    format_when,
    gateway_status_text,
    when_column,
)
from checkout.admin.operations import operation_links, pending_notice
from checkout.admin.payments import CardMixin, PaymentAmountsMixin
from checkout.models import Exchange, Notification, Order, Payment, StatusChange
from checkout.status import (
    CHANGEABLE_STATUSES,
    SECURED_STATUSES,
    PaymentStatus,
    Source,
)

__all__ = ["OrderAdmin", "PaymentInline", "PaymentStatusFilter"]

_AUDIT_TABLE = "checkout/admin/audit_table.html"


def _audit_table(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> SafeString:
    """A table of an order's audit records (escaped), or "—" when there are none."""
    return render_to_string(_AUDIT_TABLE, {"headers": headers, "rows": list(rows)})


def _when(moment: datetime | None) -> str:
    return format_when(moment) or ""


def _label(choices: type[PaymentStatus] | type[Source], value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else gettext("yes") if value else gettext("no")


class PaymentInline(PaymentAmountsMixin, CardMixin, AuditInline[Payment, Order]):
    """The order's payment attempts."""

    model = Payment
    fields = readonly_fields = (
        "payment_link",
        "status",
        "amount_display",
        "captured_display",
        "refunded_display",
        "card_display",
        "pending_operation",
        "created_when",
    )
    verbose_name_plural = _("payment attempts")

    payment_link = link_column("payment", _("order number"), text="order_number")
    created_when = when_column("created_at", _("created"))


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
    """Orders with their attempts and full history: read-only, with the back-office actions
    and the buttons of the secured payment's operations."""

    change_form_template = "checkout/admin/change_form.html"
    list_display = (
        "public_id",
        "status_display",
        "amount_display",
        "currency",
        "card_display",
        "email",
        "created_when",
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
        "created_when",
        "expires_when",
        "fulfilled_when",
        "anonymised_when",
        "history",
        "exchanges",
        "notifications",
    )

    amount_display = money_column("amount", _("amount"), ordering="amount")
    created_when = when_column("created_at", _("created"))
    expires_when = when_column("expires_at", _("expires"))
    fulfilled_when = when_column("fulfilled_at", _("fulfilled"))
    anonymised_when = when_column("anonymised_at", _("anonymised"))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The page, with the buttons of the secured payment's operations the operator may
        start now (each leads back here)."""
        order = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        payment = order.secured_payment if order is not None else None
        if payment is not None:
            context["checkout_operations"] = operation_links(request.user, payment, back="order")
            context["checkout_pending"] = pending_notice(payment)
        return super().change_view(request, object_id, form_url, context)

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
        """For a refresh: the attempts that can still change (or have an operation in flight)."""
        payments = Payment.objects.filter(order__in=queryset).select_related("order")
        payments = payments.filter(Q(status__in=CHANGEABLE_STATUSES) | ~Q(pending_operation=""))
        return list(payments.order_by("order_id", "pk"))

    def operation_candidates(
        self, queryset: QuerySet[Any], operation: str
    ) -> tuple[list[Payment], list[str]]:
        """Each selected order's secured attempt (else its latest), and the orders without one."""
        payments: list[Payment] = []
        without: list[str] = []
        for order in queryset.prefetch_related("payments__order").order_by("pk"):
            payment = self._shown_payment(order)
            if payment is None:
                without.append(str(order))
            else:
                payments.append(payment)
        return payments, without

    def has_fulfil_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.change_order")

    @admin.action(
        description=_("Mark fulfilled (stop re-sending order_paid)"), permissions=["fulfil"]
    )
    def mark_fulfilled(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            values = {"order": order}
            if not order.is_paid:
                text = gettext("%(order)s: not paid, not marked.")
                self.message_user(request, text % values, messages.ERROR)
            elif backoffice.mark_fulfilled(order):
                text = gettext("%(order)s: marked fulfilled.")
                self.message_user(request, text % values, messages.SUCCESS)
            else:
                text = gettext("%(order)s: was already fulfilled.")
                self.message_user(request, text % values, messages.INFO)

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
        return card_label(payment.card_brand, payment.masked_pan) if payment else ""

    @admin.display(description=_("fulfilled"), boolean=True)
    def fulfilled(self, obj: Order) -> bool:
        return obj.fulfilled_at is not None

    @admin.display(description=_("status history"))
    def history(self, obj: Order) -> SafeString:
        rows = StatusChange.objects.filter(payment__order=obj).select_related("payment", "operator")
        return _audit_table(
            (
                _("when"),
                _("attempt"),
                _("from"),
                _("to"),
                _("source"),
                _("operator"),
                _("gateway status"),
                _("action code"),
                _("note"),
            ),
            (
                (
                    _when(r.created_at),
                    r.payment.order_number,
                    _label(PaymentStatus, r.from_status),
                    _label(PaymentStatus, r.to_status),
                    _label(Source, r.source),
                    str(r.operator or ""),
                    gateway_status_text(r.gateway_status) or "",
                    action_code_text(r.action_code) or "",
                    r.note,
                )
                for r in rows.order_by("created_at", "pk")
            ),
        )

    @admin.display(description=_("exchange log"))
    def exchanges(self, obj: Order) -> SafeString:
        rows = Exchange.objects.filter(payment__order=obj).select_related("payment")
        return _audit_table(
            (
                _("when"),
                _("attempt"),
                _("operation"),
                "HTTP",
                "errorCode",
                _("error"),
                _("ms"),
            ),
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
        rows = with_outcome(Notification.objects.filter(payment__order=obj))
        return _audit_table(
            (
                _("received"),
                _("notification"),
                _("valid"),
                _("outcome"),
                _("processed"),
                _("details"),
            ),
            (
                (
                    _when(r.received_at),
                    str(r),
                    _yes_no(r.valid),
                    outcome_label(getattr(r, "outcome", "")),
                    _when(r.processed_at),
                    r.error,
                )
                for r in rows.order_by("received_at", "pk")
            ),
        )
