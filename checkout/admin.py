"""Django admin for operators: an audit trail and the back-office actions.

Orders, payments, notifications and the exchange log are read-only here. Every action goes
through the service layer (``checkout.backoffice``, ``checkout.services``), which locks the
payment and records who did what and why; each selected order gets its own success or
failure message.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from checkout import backoffice, callbacks
from checkout.exceptions import (
    CheckoutError,
    GatewayRefused,
    GatewayUnavailable,
    OperationNotAllowed,
    OutcomeUnknown,
)
from checkout.models import Exchange, Notification, Order, Payment, StatusChange
from checkout.money import format_amount, parse_amount
from checkout.status import (
    CHANGEABLE_STATUSES,
    REFUNDABLE_STATUSES,
    SECURED_STATUSES,
    PaymentStatus,
    Source,
)

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
    _TabularInline = admin.TabularInline[Any, Any]
else:
    _ModelAdmin = admin.ModelAdmin
    _TabularInline = admin.TabularInline

__all__ = ["ExchangeAdmin", "NotificationAdmin", "OrderAdmin", "PaymentAdmin"]

_LAST_FOUR = re.compile(r"^\d{4}$")


def _money(amount: int, currency: str) -> str:
    try:
        return format_amount(amount, currency)
    except ValueError:
        return f"{amount} {currency}"


def _change_link(model_name: str, pk: Any, text: Any) -> str:
    """A link to an object's admin page (escaped)."""
    url = reverse(f"admin:jcc_checkout_{model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, text)


def _uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


def _pretty_json(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyMixin:
    """No adding, changing or deleting: what is shown is a record of what happened."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NulSafeListMixin:
    """A list whose filter or search parameters hold NUL answers 400: PostgreSQL refuses the
    query (a server error otherwise)."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if any("\x00" in key + value for key, values in request.GET.lists() for value in values):
            return HttpResponseBadRequest("Invalid character in the list's parameters.")
        response: HttpResponse = super().changelist_view(  # type: ignore[misc]
            request, extra_context
        )
        return response


class AuditInline(ReadOnlyMixin, _TabularInline):
    """A read-only inline shown to whoever may view payments."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("jcc_checkout.view_payment")


class StatusChangeInline(AuditInline):
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


class ExchangeInline(AuditInline):
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
    ordering = ("created_at", "pk")
    verbose_name_plural = _("exchange log")

    @admin.display(description=_("operation"))
    def exchange_link(self, obj: Exchange) -> str:
        return _change_link("exchange", obj.pk, obj.operation)


class NotificationInline(AuditInline):
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

    @admin.display(description=_("notification"))
    def notification_link(self, obj: Notification) -> str:
        return _change_link("notification", obj.pk, str(obj))


# --- the operation form ------------------------------------------------------------------


class OperationForm(forms.Form):
    """Amount (blank: all that the operation allows) and the reason kept in the history."""

    amount = forms.CharField(
        label=_("Amount"),
        required=False,
        max_length=20,
        help_text=_("For example 12.50. Leave blank for the full amount."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def __init__(self, *args: Any, currencies: Iterable[str] = (), with_amount: bool, **kw: Any):
        super().__init__(*args, **kw)
        self.currencies = sorted(set(currencies))
        if not with_amount:
            del self.fields["amount"]

    def clean_amount(self) -> str:
        text = (self.cleaned_data.get("amount") or "").strip()
        if not text:
            return ""
        if len(self.currencies) != 1:
            raise forms.ValidationError(
                _("Select payments in one currency to give an amount, or leave it blank.")
            )
        try:
            minor = parse_amount(text, self.currencies[0])
        except ValueError as err:
            raise forms.ValidationError(str(err)) from None
        if minor <= 0:
            raise forms.ValidationError(_("The amount must be positive."))
        return text

    def minor_amount(self, currency: str) -> int | None:
        text = self.cleaned_data.get("amount") or ""
        return parse_amount(text, currency) if text else None


Operation = Callable[[Payment, int | None, Any, str], Payment]
Label = Any  # a lazily translated string

#: What each form-backed action does, and how it is described.
_OPERATIONS: dict[str, tuple[Label, bool, Operation]] = {
    "capture": (
        _("Capture"),
        True,
        lambda p, amount, user, reason: backoffice.capture(p, amount, operator=user, reason=reason),
    ),
    "void": (
        _("Void"),
        False,
        lambda p, amount, user, reason: backoffice.void(p, operator=user, reason=reason),
    ),
    "refund": (
        _("Refund"),
        True,
        lambda p, amount, user, reason: backoffice.refund(p, amount, operator=user, reason=reason),
    ),
}

_DONE = {"capture": "captured", "void": "voided", "refund": "refunded"}


class OperationsMixin:
    """Refresh, capture, void and refund, for admins that map their rows onto payments."""

    message_user: Callable[..., None]
    admin_site: admin.AdminSite
    opts: Any

    def payments_for(self, queryset: QuerySet[Any], operation: str) -> list[Payment]:
        raise NotImplementedError

    def has_capture_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.capture_payment")

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.refund_payment")

    def has_refresh_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.view_payment")

    @admin.action(description=_("Refresh from the gateway"), permissions=["refresh"])
    def refresh_from_gateway(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for payment in self.payments_for(queryset, "refresh"):
            before = payment.status
            try:
                payment = backoffice.refresh(payment, operator=request.user, source=Source.ADMIN)
            except GatewayRefused as err:
                self.message_user(
                    request,
                    f"{payment}: the gateway refused: {err.gateway_message}",
                    messages.ERROR,
                )
            except GatewayUnavailable as err:
                self.message_user(
                    request, f"{payment}: gateway unavailable, try later ({err})", messages.ERROR
                )
            except CheckoutError as err:
                self.message_user(request, f"{payment}: {err}", messages.ERROR)
            else:
                status = payment.get_status_display()
                text = (
                    f"{payment}: {before} → {payment.status}"
                    if payment.status != before
                    else f"{payment}: unchanged ({status})"
                )
                self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=_("Capture held payments…"), permissions=["capture"])
    def capture_payments(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self._operation_action(request, queryset, "capture")

    @admin.action(description=_("Void held payments…"), permissions=["capture"])
    def void_payments(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self._operation_action(request, queryset, "void")

    @admin.action(description=_("Refund payments…"), permissions=["refund"])
    def refund_payments(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self._operation_action(request, queryset, "refund")

    def _operation_action(
        self, request: HttpRequest, queryset: QuerySet[Any], operation: str
    ) -> HttpResponse | None:
        title, with_amount, run = _OPERATIONS[operation]
        payments = self.payments_for(queryset, operation)
        if not payments:
            self.message_user(
                request, f"Nothing selected can be {_DONE[operation]}.", messages.WARNING
            )
            return None
        currencies = [p.currency for p in payments]
        form = OperationForm(
            request.POST if "apply" in request.POST else None,
            currencies=currencies,
            with_amount=with_amount,
        )
        if form.is_bound and form.is_valid():
            for payment in payments:
                self._run_one(request, payment, operation, run, form)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: {len(payments)} payment(s)",
            "operation": operation,
            "payments": [(p, _payment_amounts(p)) for p in payments],
            "form": form,
            "opts": self.opts,
            "queryset": queryset,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "action": request.POST.get("action", ""),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across") == "1",
        }
        return TemplateResponse(request, "checkout/admin/operation.html", context)

    def _run_one(
        self,
        request: HttpRequest,
        payment: Payment,
        operation: str,
        run: Operation,
        form: OperationForm,
    ) -> None:
        try:
            amount = form.minor_amount(payment.currency)
            payment = run(payment, amount, request.user, form.cleaned_data["reason"])
        except OutcomeUnknown:
            self.message_user(
                request,
                f"{payment}: the gateway did not answer; the {operation} may or may not have "
                "happened. It is recorded and checkout_sync will settle it: do not repeat it.",
                messages.WARNING,
            )
        except GatewayRefused as err:
            self.message_user(
                request,
                f"{payment}: the gateway refused the {operation}: {err.gateway_message} "
                f"(errorCode {err.code}). Nothing moved.",
                messages.ERROR,
            )
        except GatewayUnavailable as err:
            self.message_user(
                request,
                f"{payment}: gateway unavailable, nothing moved; try later ({err}).",
                messages.ERROR,
            )
        except (OperationNotAllowed, PermissionDenied, ValueError) as err:
            self.message_user(request, f"{payment}: {err}", messages.ERROR)
        except CheckoutError as err:
            self.message_user(request, f"{payment}: {err}", messages.ERROR)
        else:
            if payment.pending_operation:
                self.message_user(
                    request,
                    f"{payment}: the gateway accepted the {operation}; confirmation pending "
                    "(checkout_sync settles it).",
                    messages.WARNING,
                )
            else:
                amounts = _payment_amounts(payment)
                self.message_user(
                    request,
                    f"{payment}: {_DONE[operation]}; now {payment.get_status_display()} "
                    f"({amounts}).",
                    messages.SUCCESS,
                )


def _payment_amounts(payment: Payment) -> str:
    cur = payment.currency
    return (
        f"amount {_money(payment.amount, cur)}, captured {_money(payment.captured_amount, cur)}, "
        f"refunded {_money(payment.refunded_amount, cur)}"
    )


# --- payments --------------------------------------------------------------------------------


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


def _payment_search(term: str) -> Q | None:
    """Search terms the default search cannot express: last four digits, a public id."""
    term = term.strip()
    if _LAST_FOUR.match(term):
        return Q(masked_pan__endswith=term)
    public = _uuid(term)
    if public is not None:
        # Gateway order ids are UUIDs too.
        return Q(public_id=public) | Q(order__public_id=public) | Q(gateway_order_id=term)
    return None


@admin.register(Payment)
class PaymentAdmin(NulSafeListMixin, OperationsMixin, ReadOnlyMixin, _ModelAdmin):
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

    def payments_for(self, queryset: QuerySet[Any], operation: str) -> list[Payment]:
        return list(queryset.select_related("order").order_by("pk"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        extra = _payment_search(search_term)
        if extra is not None:
            return queryset.filter(extra), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return _money(obj.amount, obj.currency)

    @admin.display(description=_("approved"))
    def approved_display(self, obj: Payment) -> str:
        return _money(obj.approved_amount, obj.currency)

    @admin.display(description=_("captured"))
    def captured_display(self, obj: Payment) -> str:
        return _money(obj.captured_amount, obj.currency)

    @admin.display(description=_("refunded"))
    def refunded_display(self, obj: Payment) -> str:
        return _money(obj.refunded_amount, obj.currency)

    @admin.display(description=_("pending amount"))
    def pending_display(self, obj: Payment) -> str:
        return _money(obj.pending_amount, obj.currency) if obj.pending_operation else "—"

    @admin.display(description=_("order"))
    def order_link(self, obj: Payment) -> str:
        return _change_link("order", obj.order_id, obj.order)


# --- orders ----------------------------------------------------------------------------------


class PaymentInline(AuditInline):
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
    ordering = ("created_at", "pk")
    verbose_name_plural = _("payment attempts")

    @admin.display(description=_("order number"))
    def payment_link(self, obj: Payment) -> str:
        return _change_link("payment", obj.pk, obj.order_number)

    @admin.display(description=_("amount"))
    def amount_display(self, obj: Payment) -> str:
        return _money(obj.amount, obj.currency)

    @admin.display(description=_("captured"))
    def captured_display(self, obj: Payment) -> str:
        return _money(obj.captured_amount, obj.currency)

    @admin.display(description=_("refunded"))
    def refunded_display(self, obj: Payment) -> str:
        return _money(obj.refunded_amount, obj.currency)


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
class OrderAdmin(NulSafeListMixin, OperationsMixin, ReadOnlyMixin, _ModelAdmin):
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
        "history",
        "exchanges",
        "notifications",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("payments")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if _LAST_FOUR.match(term):
            return queryset.filter(payments__masked_pan__endswith=term).distinct(), False
        public = _uuid(term)
        if public is not None:
            matches = (
                Q(public_id=public)
                | Q(payments__public_id=public)
                | Q(payments__gateway_order_id=term)
            )
            return queryset.filter(matches).distinct(), False
        return super().get_search_results(request, queryset, search_term)

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
    def mark_fulfilled(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for order in queryset:
            if not order.is_paid:
                self.message_user(request, f"{order}: not paid, not marked.", messages.ERROR)
            elif backoffice.mark_fulfilled(order):
                self.message_user(request, f"{order}: marked fulfilled.", messages.SUCCESS)
            else:
                self.message_user(request, f"{order}: was already fulfilled.", messages.INFO)

    def _payments(self, obj: Order) -> list[Payment]:
        return list(obj.payments.all())

    def _shown_payment(self, obj: Order) -> Payment | None:
        payments = sorted(self._payments(obj), key=lambda p: (p.created_at, p.pk))
        for payment in payments:
            if payment.status in SECURED_STATUSES:
                return payment
        return payments[-1] if payments else None

    @admin.display(description=_("status"))
    def status_display(self, obj: Order) -> str:
        payment = self._shown_payment(obj)
        return payment.get_status_display() if payment else str(_("No attempt"))

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Order) -> str:
        return _money(obj.amount, obj.currency)

    @admin.display(description=_("card"))
    def card_display(self, obj: Order) -> str:
        payment = self._shown_payment(obj)
        return " ".join(filter(None, [payment.card_brand, payment.masked_pan])) if payment else ""

    @admin.display(description=_("fulfilled"), boolean=True)
    def fulfilled(self, obj: Order) -> bool:
        return obj.fulfilled_at is not None

    @admin.display(description=_("status history"))
    def history(self, obj: Order) -> str:
        rows = StatusChange.objects.filter(payment__order=obj).select_related("payment", "operator")
        return _table(
            ("when", "attempt", "from", "to", "source", "operator", "note"),
            (
                (
                    f"{r.created_at:%Y-%m-%d %H:%M:%S}",
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
    def exchanges(self, obj: Order) -> str:
        rows = Exchange.objects.filter(payment__order=obj).select_related("payment")
        return _table(
            ("when", "attempt", "operation", "HTTP", "errorCode", "error", "ms"),
            (
                (
                    f"{r.created_at:%Y-%m-%d %H:%M:%S}",
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
    def notifications(self, obj: Order) -> str:
        rows = Notification.objects.filter(payment__order=obj).select_related("payment")
        return _table(
            ("received", "notification", "valid", "processed", "error"),
            (
                (
                    f"{r.received_at:%Y-%m-%d %H:%M:%S}",
                    str(r),
                    str(r.valid),
                    f"{r.processed_at:%Y-%m-%d %H:%M:%S}" if r.processed_at else "",
                    r.error,
                )
                for r in rows.order_by("received_at", "pk")
            ),
        )


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    body = format_html_join("", "<tr>{}</tr>", ((_cells("td", row),) for row in rows))
    if not body:
        return "—"
    return format_html(
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", _cells("th", headers), body
    )


def _cells(tag: str, values: Iterable[str]) -> SafeString:
    return format_html_join("", "<" + tag + ">{}</" + tag + ">", ((v,) for v in values))


# --- notifications and the exchange log ----------------------------------------------------------


@admin.register(Notification)
class NotificationAdmin(NulSafeListMixin, ReadOnlyMixin, _ModelAdmin):
    """Callback notifications as received: read-only, with a re-process action."""

    list_display = (
        "received_at",
        "method",
        "order_number",
        "operation",
        "status_param",
        "valid",
        "processed",
        "short_error",
        "attempts",
        "payment_link",
    )
    list_filter = (
        "valid",
        ("processed_at", admin.EmptyFieldListFilter),
        "method",
        "received_at",
    )
    search_fields = ("payment__order_number", "params__orderNumber", "params__mdOrder", "error")
    date_hierarchy = "received_at"
    list_select_related = ("payment",)
    ordering = ("-received_at", "-pk")
    actions = ("reprocess",)
    fields = readonly_fields = (
        "received_at",
        "method",
        "remote_addr",
        "payment_link",
        "valid",
        "processed_at",
        "attempts",
        "error",
        "params_display",
        "headers_display",
    )

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.view_payment")

    @admin.action(
        description=_("Re-process (verify, then query the gateway)"), permissions=["reprocess"]
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for notification in queryset.order_by("pk"):
            outcome = callbacks.handle(notification, source=Source.ADMIN)
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(
                request, f"Notification {notification.pk} ({notification}): {outcome.reason}", level
            )

    def _param(self, obj: Notification, name: str) -> str:
        value = obj.params.get(name) if isinstance(obj.params, dict) else None
        return value if isinstance(value, str) else ""

    @admin.display(description=_("order number"))
    def order_number(self, obj: Notification) -> str:
        return self._param(obj, "orderNumber")

    @admin.display(description=_("operation"))
    def operation(self, obj: Notification) -> str:
        return self._param(obj, "operation")

    @admin.display(description=_("status"))
    def status_param(self, obj: Notification) -> str:
        return self._param(obj, "status")

    @admin.display(description=_("processed"), boolean=True)
    def processed(self, obj: Notification) -> bool:
        return obj.processed_at is not None

    @admin.display(description=_("error"))
    def short_error(self, obj: Notification) -> str:
        return obj.error[:80]

    @admin.display(description=_("payment"))
    def payment_link(self, obj: Notification) -> str:
        if obj.payment_id is None:
            return "—"
        return _change_link("payment", obj.payment_id, obj.payment)

    @admin.display(description=_("parameters"))
    def params_display(self, obj: Notification) -> str:
        return _pretty_json(obj.params)

    @admin.display(description=_("headers"))
    def headers_display(self, obj: Notification) -> str:
        return _pretty_json(obj.headers)


@admin.register(Exchange)
class ExchangeAdmin(NulSafeListMixin, ReadOnlyMixin, _ModelAdmin):
    """Calls to the gateway, secrets redacted: read-only."""

    list_display = (
        "created_at",
        "operation",
        "payment",
        "http_status",
        "error_code",
        "error",
        "duration_ms",
    )
    list_filter = ("operation", "http_status", "created_at")
    search_fields = ("payment__order_number", "payment__gateway_order_id", "error")
    date_hierarchy = "created_at"
    list_select_related = ("payment",)
    fields = readonly_fields = (
        "created_at",
        "operation",
        "url",
        "payment",
        "http_status",
        "error_code",
        "error",
        "duration_ms",
        "request_display",
        "response_display",
    )

    @admin.display(description=_("request"))
    def request_display(self, obj: Exchange) -> str:
        return _pretty_json(obj.request)

    @admin.display(description=_("response"))
    def response_display(self, obj: Exchange) -> str:
        return _pretty_json(obj.response)
