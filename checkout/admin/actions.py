"""The back-office list actions: refresh, capture, void and refund, with their operation table.

Every action goes through the service layer (``checkout.backoffice``), which locks the
payment and records who did what and why; each selected payment gets its own message.
Before the form of a money action is shown, the selection is checked with the same rules as
the payment pages' buttons (``checkout.admin.operations.refusal``): what cannot take the
operation is left out, and named, up front.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from checkout import backoffice
from checkout.admin.base import format_money
from checkout.admin.forms import OperationForm
from checkout.admin.operations import OPERATIONS, limit, perform, refusal
from checkout.exceptions import CheckoutError, GatewayRefused, GatewayUnavailable
from checkout.models import Payment
from checkout.status import Source

__all__ = ["OperationsMixin"]

#: The warning naming the selected rows an action leaves out, and the one for none left.
_LEFT_OUT: dict[str, tuple[Promise, Promise]] = {
    backoffice.CAPTURE: (
        _("Not capturable, left out: %(rows)s."),
        _("Nothing selected can be captured."),
    ),
    backoffice.VOID: (
        _("Cannot be voided, left out: %(rows)s."),
        _("Nothing selected can be voided."),
    ),
    backoffice.REFUND: (
        _("Nothing to refund, left out: %(rows)s."),
        _("Nothing selected can be refunded."),
    ),
}


def _payment_amounts(payment: Payment, name: str) -> str:
    cur = payment.currency
    return gettext(
        "amount %(amount)s, captured %(captured)s, refunded %(refunded)s; at most %(most)s now"
    ) % {
        "amount": format_money(payment.amount, cur),
        "captured": format_money(payment.captured_amount, cur),
        "refunded": format_money(payment.refunded_amount, cur),
        "most": format_money(limit(payment, name), cur),
    }


class OperationsMixin:
    """Refresh, capture, void and refund, for admins that map their rows onto payments."""

    message_user: Callable[..., None]
    admin_site: admin.AdminSite
    opts: Any

    def payments_for(self, queryset: QuerySet[Any], operation: str) -> list[Payment]:
        """The selected rows' payments that ``operation`` may apply to."""
        raise NotImplementedError

    def operation_candidates(
        self, queryset: QuerySet[Any], operation: str
    ) -> tuple[list[Payment], list[str]]:
        """The payments the selected rows name for a money operation, and the selected rows
        that name none (as their names)."""
        return self.payments_for(queryset, operation), []

    def has_capture_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.capture_payment")

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.refund_payment")

    def has_refresh_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jcc_checkout.view_payment")

    @admin.action(description=_("Refresh from the gateway"), permissions=["refresh"])
    def refresh_from_gateway(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for payment in self.payments_for(queryset, "refresh"):
            before = payment.get_status_display()
            values: dict[str, Any] = {"payment": payment}
            try:
                payment = backoffice.refresh(payment, operator=request.user, source=Source.ADMIN)
            except GatewayRefused as err:
                values["message"] = err.gateway_message
                text = gettext("%(payment)s: JCC refused the status query: %(message)s") % values
                self.message_user(request, text, messages.ERROR)
            except GatewayUnavailable as err:
                values["error"] = err
                text = gettext("%(payment)s: JCC could not be reached; try later (%(error)s).")
                self.message_user(request, text % values, messages.ERROR)
            except CheckoutError as err:
                values["reason"] = str(err).rstrip(".")
                self.message_user(
                    request, gettext("%(payment)s: %(reason)s.") % values, messages.ERROR
                )
            else:
                values.update(before=before, after=payment.get_status_display())
                text = (
                    gettext("%(payment)s: %(before)s → %(after)s")
                    if values["after"] != before
                    else gettext("%(payment)s: unchanged (%(after)s)")
                )
                self.message_user(request, text % values, messages.SUCCESS)

    @admin.action(description=_("Capture held payments…"), permissions=["capture"])
    def capture_payments(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        return self._operation_action(request, queryset, backoffice.CAPTURE)

    @admin.action(description=_("Void held payments…"), permissions=["capture"])
    def void_payments(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self._operation_action(request, queryset, backoffice.VOID)

    @admin.action(description=_("Refund payments…"), permissions=["refund"])
    def refund_payments(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self._operation_action(request, queryset, backoffice.REFUND)

    def _possible(self, request: HttpRequest, queryset: QuerySet[Any], name: str) -> list[Payment]:
        """The selected payments that can take the operation; the rest named in a warning."""
        candidates, without = self.operation_candidates(queryset, name)
        payments: list[Payment] = []
        left_out: list[str] = []
        for payment in candidates:
            why = refusal(payment, name)
            if why is None:
                payments.append(payment)
            else:
                left_out.append(
                    gettext("%(payment)s (%(reason)s)") % {"payment": payment, "reason": why}
                )
        left_out += [gettext("%(row)s (no payment attempt)") % {"row": row} for row in without]
        some, none = _LEFT_OUT[name]
        if left_out:
            self.message_user(request, str(some) % {"rows": "; ".join(left_out)}, messages.WARNING)
        if not payments:
            self.message_user(request, str(none), messages.WARNING)
        return payments

    def _operation_action(
        self, request: HttpRequest, queryset: QuerySet[Any], name: str
    ) -> HttpResponse | None:
        operation = OPERATIONS[name]
        payments = self._possible(request, queryset, name)
        if not payments:
            return None
        form = OperationForm(
            request.POST if "apply" in request.POST else None,
            currencies=[p.currency for p in payments],
            with_amount=operation.with_amount,
        )
        if form.is_bound and form.is_valid():
            for payment in payments:
                level, text = perform(
                    payment,
                    name,
                    form.minor_amount(payment.currency),
                    operator=request.user,
                    reason=form.cleaned_data["reason"],
                )
                self.message_user(request, text, level)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": ngettext(
                "%(operation)s: %(count)d payment",
                "%(operation)s: %(count)d payments",
                len(payments),
            )
            % {"operation": operation.label, "count": len(payments)},
            "operation": operation,
            "payments": [(p, _payment_amounts(p, name)) for p in payments],
            "form": form,
            "opts": self.opts,
            "queryset": queryset,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "action": request.POST.get("action", ""),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across") == "1",
        }
        return TemplateResponse(request, "checkout/admin/operation.html", context)
