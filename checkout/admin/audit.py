"""The audit records of their own: callback notifications and the gateway exchange log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from checkout import callbacks
from checkout.admin.base import (
    ModelAdmin,
    NulSafeListMixin,
    ReadOnlyMixin,
    link_column,
    pretty_json,
)
from checkout.models import Exchange, Notification
from checkout.status import Source

__all__ = ["ExchangeAdmin", "NotificationAdmin"]


@admin.register(Notification)
class NotificationAdmin(NulSafeListMixin, ReadOnlyMixin, ModelAdmin[Notification]):
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
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        for notification in queryset.order_by("pk"):
            outcome = callbacks.handle(notification, source=Source.ADMIN)
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(
                request,
                gettext("Notification %(pk)s (%(notification)s): %(reason)s")
                % {"pk": notification.pk, "notification": notification, "reason": outcome.reason},
                level,
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

    payment_link = link_column("payment", _("payment"), pk="payment_id", text="payment")

    @admin.display(description=_("parameters"))
    def params_display(self, obj: Notification) -> SafeString:
        return pretty_json(obj.params)

    @admin.display(description=_("headers"))
    def headers_display(self, obj: Notification) -> SafeString:
        return pretty_json(obj.headers)


@admin.register(Exchange)
class ExchangeAdmin(NulSafeListMixin, ReadOnlyMixin, ModelAdmin[Exchange]):
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
    def request_display(self, obj: Exchange) -> SafeString:
        return pretty_json(obj.request)

    @admin.display(description=_("response"))
    def response_display(self, obj: Exchange) -> SafeString:
        return pretty_json(obj.response)
