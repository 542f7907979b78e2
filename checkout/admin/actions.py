"""The back-office actions: refresh, capture, void and refund, with their operation table.

Every action goes through the service layer (``checkout.backoffice``), which locks the
payment and records who did what and why; each selected payment gets its own message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from checkout import backoffice
from checkout.admin.base import format_money
from checkout.admin.forms import OperationForm
from checkout.exceptions import (
    CheckoutError,
    GatewayRefused,
    GatewayUnavailable,
    OperationNotAllowed,
    OutcomeUnknown,
)
from checkout.models import Payment
from checkout.status import Source

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = ["OperationsMixin"]


@dataclass(frozen=True)
class _Operation:
    """A form-backed action: its title, whether it takes an amount, what it runs, and what
    its messages say when nothing selected fits and when it is done."""

    title: StrOrPromise
    with_amount: bool
    run: Callable[[Payment, int | None, Any, str], Payment]
    nothing: StrOrPromise
    done: StrOrPromise


#: What each form-backed action does, and how it is described.
_OPERATIONS: dict[str, _Operation] = {
    "capture": _Operation(
        _("Capture"),
        True,
        lambda p, amount, user, reason: backoffice.capture(p, amount, operator=user, reason=reason),
        _("Nothing selected can be captured."),
        _("%(payment)s: captured; now %(status)s (%(amounts)s)."),
    ),
    "void": _Operation(
        _("Void"),
        False,
        lambda p, amount, user, reason: backoffice.void(p, operator=user, reason=reason),
        _("Nothing selected can be voided."),
        _("%(payment)s: voided; now %(status)s (%(amounts)s)."),
    ),
    "refund": _Operation(
        _("Refund"),
        True,
        lambda p, amount, user, reason: backoffice.refund(p, amount, operator=user, reason=reason),
        _("Nothing selected can be refunded."),
        _("%(payment)s: refunded; now %(status)s (%(amounts)s)."),
    ),
}


def _payment_amounts(payment: Payment) -> str:
    cur = payment.currency
    return gettext("amount %(amount)s, captured %(captured)s, refunded %(refunded)s") % {
        "amount": format_money(payment.amount, cur),
        "captured": format_money(payment.captured_amount, cur),
        "refunded": format_money(payment.refunded_amount, cur),
    }


class OperationsMixin:
    """Refresh, capture, void and refund, for admins that map their rows onto payments."""

    message_user: Callable[..., None]
    admin_site: admin.AdminSite
    opts: Any

    def payments_for(self, queryset: QuerySet[Any], operation: str) -> list[Payment]:
        """The selected rows' payments that ``operation`` may apply to."""
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
                    gettext("%(payment)s: the gateway refused: %(message)s")
                    % {"payment": payment, "message": err.gateway_message},
                    messages.ERROR,
                )
            except GatewayUnavailable as err:
                self.message_user(
                    request,
                    gettext("%(payment)s: gateway unavailable, try later (%(error)s)")
                    % {"payment": payment, "error": err},
                    messages.ERROR,
                )
            except CheckoutError as err:
                self.message_user(request, f"{payment}: {err}", messages.ERROR)
            else:
                status = payment.get_status_display()
                text = (
                    f"{payment}: {before} → {payment.status}"
                    if payment.status != before
                    else gettext("%(payment)s: unchanged (%(status)s)")
                    % {"payment": payment, "status": status}
                )
                self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=_("Capture held payments…"), permissions=["capture"])
    def capture_payments(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        return self._operation_action(request, queryset, "capture")

    @admin.action(description=_("Void held payments…"), permissions=["capture"])
    def void_payments(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self._operation_action(request, queryset, "void")

    @admin.action(description=_("Refund payments…"), permissions=["refund"])
    def refund_payments(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self._operation_action(request, queryset, "refund")

    def _operation_action(
        self, request: HttpRequest, queryset: QuerySet[Any], name: str
    ) -> HttpResponse | None:
        operation = _OPERATIONS[name]
        payments = self.payments_for(queryset, name)
        if not payments:
            self.message_user(request, str(operation.nothing), messages.WARNING)
            return None
        form = OperationForm(
            request.POST if "apply" in request.POST else None,
            currencies=[p.currency for p in payments],
            with_amount=operation.with_amount,
        )
        if form.is_bound and form.is_valid():
            for payment in payments:
                self._run_one(request, payment, name, operation, form)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": ngettext(
                "%(operation)s: %(count)d payment",
                "%(operation)s: %(count)d payments",
                len(payments),
            )
            % {"operation": operation.title, "count": len(payments)},
            "operation": name,
            "operation_title": operation.title,
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
        name: str,
        operation: _Operation,
        form: OperationForm,
    ) -> None:
        try:
            amount = form.minor_amount(payment.currency)
            payment = operation.run(payment, amount, request.user, form.cleaned_data["reason"])
        except OutcomeUnknown:
            self.message_user(
                request,
                gettext(
                    "%(payment)s: the gateway did not answer; the operation may or may not have "
                    "happened. It is recorded and checkout_sync will settle it: do not repeat it."
                )
                % {"payment": payment},
                messages.WARNING,
            )
        except GatewayRefused as err:
            self.message_user(
                request,
                gettext(
                    "%(payment)s: the gateway refused: %(message)s (errorCode %(code)s). "
                    "Nothing moved."
                )
                % {"payment": payment, "message": err.gateway_message, "code": err.code},
                messages.ERROR,
            )
        except GatewayUnavailable as err:
            self.message_user(
                request,
                gettext("%(payment)s: gateway unavailable, nothing moved; try later (%(error)s).")
                % {"payment": payment, "error": err},
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
                    gettext(
                        "%(payment)s: the gateway accepted the operation; confirmation pending "
                        "(checkout_sync settles it)."
                    )
                    % {"payment": payment},
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request,
                    str(operation.done)
                    % {
                        "payment": payment,
                        "status": payment.get_status_display(),
                        "amounts": _payment_amounts(payment),
                    },
                    messages.SUCCESS,
                )
