"""The audit records of their own: callback notifications and the gateway exchange log.

A notification's outcome is computed from its row (``OUTCOMES``): a delivery that was
settled by a later status query or by a back-office operation in flight is expected, not an
error, so the list shows what happened and keeps the row's note as its details.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Case, CharField, Q, QuerySet, Value, When
from django.http import HttpRequest
from django.utils.functional import Promise
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
from checkout.admin.display import when_column
from checkout.models import Exchange, Notification
from checkout.status import Source

__all__ = [
    "FAILED",
    "OUTCOMES",
    "ExchangeAdmin",
    "NotificationAdmin",
    "OutcomeFilter",
    "details_column",
    "outcome_column",
    "outcome_label",
    "with_outcome",
]

#: A notification's outcome when none of ``OUTCOMES`` applies: it failed on our side
#: (status query failed or refused, no key to verify it, an error) and is retried.
FAILED = "failed"

#: What became of a notification: value, label and the rows it applies to, checked in
#: this order; the rest have FAILED.
OUTCOMES: tuple[tuple[str, Promise, Q], ...] = (
    ("refused", _("refused (wrong checksum or malformed)"), Q(valid=False)),
    (
        "not_ours",
        _("not ours (unknown order)"),
        Q(processed_at__isnull=False, error=callbacks.NOT_OURS),
    ),
    (
        "covered",
        _("covered by a later query"),
        Q(processed_at__isnull=False, error=callbacks.COVERED),
    ),
    (
        "by_operation",
        _("covered by the back-office operation"),
        Q(processed_at__isnull=False, error__startswith=callbacks.BY_PENDING),
    ),
    ("processed", _("processed"), Q(processed_at__isnull=False)),
    ("waiting", _("waiting for a status query"), Q(error=callbacks.DEFERRED) | Q(error="")),
)
_LABELS: dict[str, Promise] = {value: label for value, label, _q in OUTCOMES}
_LABELS[FAILED] = _("failed (retried)")


def with_outcome(queryset: QuerySet[Notification]) -> QuerySet[Notification]:
    """``queryset`` with each row's outcome as ``outcome`` (a value of OUTCOMES, or FAILED)."""
    return queryset.annotate(
        outcome=Case(
            *(When(condition, then=Value(value)) for value, _label, condition in OUTCOMES),
            default=Value(FAILED),
            output_field=CharField(),
        )
    )


def outcome_label(value: str) -> str:
    """The words for an outcome value."""
    return str(_LABELS.get(value, value))


def _outcome_of(obj: Notification) -> str:
    value = getattr(obj, "outcome", None)
    if not isinstance(value, str):
        # A row not read through with_outcome(): read its outcome as the lists do.
        annotated = with_outcome(Notification.objects.filter(pk=obj.pk)).first()
        value = getattr(annotated, "outcome", FAILED)
    return str(value)


def outcome_column() -> Callable[[object, Notification], str]:
    """A display method with the notification's outcome in words."""

    def column(model_admin: object, obj: Notification) -> str:
        return outcome_label(_outcome_of(obj))

    column.__name__ = column.__qualname__ = "outcome_column"
    return admin.display(description=_("outcome"), ordering="outcome")(column)


def details_column(length: int | None = None) -> Callable[[object, Notification], str | None]:
    """A display method with the row's note (why it failed, or how it was settled)."""

    def column(model_admin: object, obj: Notification) -> str | None:
        return (obj.error[:length] if length else obj.error) or None

    column.__name__ = column.__qualname__ = "details_column"
    return admin.display(description=_("details"))(column)


class OutcomeFilter(admin.SimpleListFilter):
    """Notifications by outcome."""

    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, outcome_label(value)) for value in [*_LABELS]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in _LABELS:
            return queryset.filter(outcome=self.value())
        return queryset


@admin.register(Notification)
class NotificationAdmin(NulSafeListMixin, ReadOnlyMixin, ModelAdmin[Notification]):
    """Callback notifications as received: read-only, with a re-process action."""

    list_display = (
        "received_when",
        "method",
        "order_number",
        "operation",
        "status_param",
        "valid",
        "outcome_display",
        "short_details",
        "attempts",
        "payment_link",
    )
    list_filter = (
        OutcomeFilter,
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
        "received_when",
        "method",
        "remote_addr",
        "payment_link",
        "valid",
        "outcome_display",
        "processed_when",
        "attempts",
        "details_display",
        "params_display",
        "headers_display",
    )

    received_when = when_column("received_at", _("received"))
    processed_when = when_column("processed_at", _("processed"))
    outcome_display = outcome_column()
    short_details = details_column(80)
    details_display = details_column()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return with_outcome(super().get_queryset(request))

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.view_payment")

    @admin.action(
        description=_("Re-process (verify, then query the gateway)"), permissions=["reprocess"]
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        for notification in queryset.order_by("pk"):
            outcome = callbacks.handle(notification, source=Source.ADMIN)
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            text = gettext("Notification %(pk)s (%(notification)s): %(reason)s") % {
                "pk": notification.pk,
                "notification": notification,
                "reason": outcome.reason,
            }
            self.message_user(request, text, level)

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
        "created_when",
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
        "created_when",
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

    created_when = when_column("created_at", _("when"))

    @admin.display(description=_("request"))
    def request_display(self, obj: Exchange) -> SafeString:
        return pretty_json(obj.request)

    @admin.display(description=_("response"))
    def response_display(self, obj: Exchange) -> SafeString:
        return pretty_json(obj.response)
