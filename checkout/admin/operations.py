"""Capture, void and refund as pages of a payment, and the rules and words they share with
the list actions.

An operation is offered (a button on the payment's page, and on its order's page for the
secured payment) only when the operator holds its permission and the payment's state
allows it: capture and void for a held payment, refund for one with captured money left,
none while another operation is in flight. Its page asks for the amount (pre-filled with
all that is left) and a reason, then states in money what will happen; only the
confirmation runs the ``checkout.backoffice`` function, which claims the payment, calls
the gateway outside any transaction and applies the result. Every step checks the
permission and the state again, and the confirmation runs only if the payment is as it
was when the form was shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from checkout import backoffice
from checkout.admin.base import AdminMixin, format_money
from checkout.admin.display import card_label, gateway_status_text
from checkout.admin.forms import PaymentOperationForm
from checkout.exceptions import (
    CheckoutError,
    GatewayRefused,
    GatewayUnavailable,
    OutcomeUnknown,
)
from checkout.models import Payment
from checkout.status import REFUNDABLE_STATUSES, PaymentStatus

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = [
    "OPERATIONS",
    "Operation",
    "OperationPagesMixin",
    "describe",
    "limit",
    "offered",
    "operation_links",
    "pending_notice",
    "perform",
    "refusal",
    "state_token",
]

S = PaymentStatus


@dataclass(frozen=True)
class Operation:
    """A money operation: its name (as ``backoffice`` names it), the button, whether it takes
    an amount, the permission, and the sentences that speak of it.

    Each sentence is whole, one per operation, rather than one sentence with the operation's
    name put in: languages other than English change the words around it by the noun.
    """

    name: str
    label: StrOrPromise
    with_amount: bool
    #: The refusal to an operator without the permission.
    forbidden: StrOrPromise
    #: Why nothing else can start while this one is in flight (a reason, no payment).
    in_progress: StrOrPromise
    #: The payment's state does not allow it: ``%(payment)s``, ``%(reason)s``.
    not_possible: StrOrPromise
    #: The payment changed between the form and the confirmation.
    changed: StrOrPromise
    #: The gateway did not answer: ``%(payment)s``, ``%(amount)s``.
    unknown: StrOrPromise
    #: The gateway refused: ``%(payment)s``, ``%(message)s``, ``%(code)s``.
    declined: StrOrPromise
    #: The gateway accepted it, not yet confirmed: ``%(payment)s``, ``%(amount)s``.
    accepted: StrOrPromise
    #: The payment's page while it is in flight: ``%(amount)s``.
    pending: StrOrPromise

    @property
    def permission(self) -> str:
        return backoffice.PERMISSIONS[self.name]

    def allowed_for(self, user: Any) -> bool:
        return bool(user.has_perm(self.permission))


#: The operations, in the order of their buttons.
OPERATIONS: dict[str, Operation] = {
    backoffice.CAPTURE: Operation(
        backoffice.CAPTURE,
        label=_("Capture"),
        with_amount=True,
        forbidden=_("You may not capture payments."),
        in_progress=_("a capture is already in progress"),
        not_possible=_("%(payment)s: the capture is not possible: %(reason)s."),
        changed=_(
            "%(payment)s changed while you were on the capture page: it is now %(status)s, "
            "%(captured)s captured, %(refunded)s refunded. Nothing was done: check the "
            "amounts and start again."
        ),
        unknown=_(
            "%(payment)s: JCC did not answer, so the capture of %(amount)s may or may not "
            "have happened. We are checking with JCC (checkout_sync settles it): do not "
            "repeat it."
        ),
        declined=_(
            "%(payment)s: JCC declined the capture: %(message)s (errorCode %(code)s). "
            "No money moved."
        ),
        accepted=_(
            "%(payment)s: JCC accepted the capture of %(amount)s; we are checking with JCC "
            "for the confirmation (checkout_sync settles it)."
        ),
        pending=_(
            "A capture of %(amount)s is in progress: no other operation can start until it "
            "is settled (we are checking with JCC)."
        ),
    ),
    backoffice.VOID: Operation(
        backoffice.VOID,
        label=_("Void"),
        with_amount=False,
        forbidden=_("You may not void payments."),
        in_progress=_("a void is already in progress"),
        not_possible=_("%(payment)s: the void is not possible: %(reason)s."),
        changed=_(
            "%(payment)s changed while you were on the void page: it is now %(status)s, "
            "%(captured)s captured, %(refunded)s refunded. Nothing was done: check the "
            "amounts and start again."
        ),
        unknown=_(
            "%(payment)s: JCC did not answer, so the void of %(amount)s may or may not have "
            "happened. We are checking with JCC (checkout_sync settles it): do not repeat it."
        ),
        declined=_(
            "%(payment)s: JCC declined the void: %(message)s (errorCode %(code)s). No money moved."
        ),
        accepted=_(
            "%(payment)s: JCC accepted the void of %(amount)s; we are checking with JCC for "
            "the confirmation (checkout_sync settles it)."
        ),
        pending=_(
            "A void of %(amount)s is in progress: no other operation can start until it is "
            "settled (we are checking with JCC)."
        ),
    ),
    backoffice.REFUND: Operation(
        backoffice.REFUND,
        label=_("Refund"),
        with_amount=True,
        forbidden=_("You may not refund payments."),
        in_progress=_("a refund is already in progress"),
        not_possible=_("%(payment)s: the refund is not possible: %(reason)s."),
        changed=_(
            "%(payment)s changed while you were on the refund page: it is now %(status)s, "
            "%(captured)s captured, %(refunded)s refunded. Nothing was done: check the "
            "amounts and start again."
        ),
        unknown=_(
            "%(payment)s: JCC did not answer, so the refund of %(amount)s may or may not "
            "have happened. We are checking with JCC (checkout_sync settles it): do not "
            "repeat it."
        ),
        declined=_(
            "%(payment)s: JCC declined the refund: %(message)s (errorCode %(code)s). "
            "No money moved."
        ),
        accepted=_(
            "%(payment)s: JCC accepted the refund of %(amount)s; we are checking with JCC "
            "for the confirmation (checkout_sync settles it)."
        ),
        pending=_(
            "A refund of %(amount)s is in progress: no other operation can start until it "
            "is settled (we are checking with JCC)."
        ),
    ),
}


def limit(payment: Payment, name: str) -> int:
    """The most ``name`` may move now: what is held, or what is left to refund."""
    if name == backoffice.REFUND:
        return payment.refundable_amount
    return payment.approved_amount or payment.amount


def refusal(payment: Payment, name: str) -> str | None:
    """Why the payment's state does not allow ``name`` now, in words; None if it does."""
    if payment.pending_operation:
        pending = OPERATIONS.get(payment.pending_operation)
        if pending is None:
            return gettext("another operation is in progress")
        return str(pending.in_progress)
    status = payment.get_status_display()
    if name in (backoffice.CAPTURE, backoffice.VOID):
        if payment.status != S.HELD:
            return gettext("it is %(status)s, not held") % {"status": status}
    elif payment.status == S.HELD:
        return gettext("it is only held: void it instead")
    elif payment.status not in REFUNDABLE_STATUSES:
        return gettext("it is %(status)s: nothing to refund") % {"status": status}
    elif payment.refundable_amount <= 0:
        return gettext("nothing is left to refund")
    if not payment.gateway_order_id:
        return gettext("the gateway's order id is unknown")
    return None


def offered(user: Any, payment: Payment) -> list[Operation]:
    """The operations ``user`` may start on ``payment`` now."""
    return [
        operation
        for operation in OPERATIONS.values()
        if operation.allowed_for(user) and refusal(payment, operation.name) is None
    ]


def state_token(payment: Payment) -> str:
    """A digest of what the operations depend on: it changes when the payment does."""
    fields = (
        payment.status,
        payment.amount,
        payment.approved_amount,
        payment.captured_amount,
        payment.refunded_amount,
        payment.pending_operation,
        payment.pending_since,
        payment.gateway_order_id,
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]


def describe(payment: Payment, name: str, amount: int | None) -> list[str]:
    """What the operation will do, in money: the sentence to confirm, then the details."""
    code = payment.currency

    def money(minor: int) -> str:
        return format_money(minor, code)

    card = card_label(payment.card_brand, payment.masked_pan)
    most = limit(payment, name)
    amount = most if amount is None else amount
    if name == backoffice.CAPTURE:
        lines = [gettext("Capture %(amount)s of the %(held)s held.")]
        if amount < most:
            lines.append(gettext("The other %(rest)s is released and never charged."))
        else:
            lines.append(gettext("This is the full amount held."))
        if card:
            lines.append(gettext("Charged to %(card)s."))
    elif name == backoffice.VOID:
        lines = [gettext("Release the hold of %(held)s.")]
        lines.append(
            gettext("Nothing is charged to %(card)s.")
            if card
            else gettext("Nothing is charged to the card.")
        )
    else:
        lines = [
            gettext("Refund %(amount)s of %(left)s to %(card)s.")
            if card
            else gettext("Refund %(amount)s of %(left)s.")
        ]
        if amount < most:
            lines.append(gettext("%(rest)s will be left to refund."))
        else:
            lines.append(gettext("This is everything left to refund."))
        if payment.refunded_amount:
            lines.append(gettext("Already refunded: %(refunded)s of the %(captured)s captured."))
    values = {
        "amount": money(amount),
        "held": money(most),
        "left": money(most),
        "rest": money(most - amount),
        "card": card,
        "refunded": money(payment.refunded_amount),
        "captured": money(payment.captured_amount),
    }
    return [line % values for line in lines]


def _call(payment: Payment, name: str, amount: int | None, operator: Any, reason: str) -> Payment:
    if name == backoffice.CAPTURE:
        return backoffice.capture(payment, amount, operator=operator, reason=reason)
    if name == backoffice.VOID:
        return backoffice.void(payment, operator=operator, reason=reason)
    return backoffice.refund(payment, amount, operator=operator, reason=reason)


def _done(after: Payment, name: str, amount: int) -> str:
    values = {
        "payment": after,
        "amount": format_money(amount, after.currency),
        "status": after.get_status_display(),
        "refunded": format_money(after.refunded_amount, after.currency),
        "captured": format_money(after.captured_amount, after.currency),
    }
    if name == backoffice.CAPTURE:
        text = gettext("%(payment)s: captured %(amount)s; now %(status)s.")
    elif name == backoffice.VOID:
        text = gettext("%(payment)s: the hold of %(amount)s is released; now %(status)s.")
    else:
        text = gettext(
            "%(payment)s: refunded %(amount)s; now %(status)s, %(refunded)s refunded "
            "of %(captured)s captured."
        )
    return text % values


def _reason(err: Exception) -> str:
    return str(err).strip().rstrip(".")


def perform(
    payment: Payment, name: str, amount: int | None, *, operator: Any, reason: str
) -> tuple[int, str]:
    """Run the operation through ``checkout.backoffice`` and say how it went: a message
    level and its text, naming the payment once."""
    operation = OPERATIONS[name]
    requested = limit(payment, name) if amount is None else amount
    values: dict[str, Any] = {
        "payment": payment,
        "amount": format_money(requested, payment.currency),
    }
    try:
        after = _call(payment, name, amount, operator, reason)
    except OutcomeUnknown:
        return messages.WARNING, str(operation.unknown) % values
    except GatewayRefused as err:
        values.update(message=err.gateway_message or "—", code=err.code)
        return messages.ERROR, str(operation.declined) % values
    except GatewayUnavailable:
        return messages.ERROR, gettext(
            "%(payment)s: JCC could not be reached and no money moved; try again later."
        ) % values
    except (CheckoutError, PermissionDenied) as err:
        values["reason"] = _reason(err)
        return messages.ERROR, gettext("%(payment)s: %(reason)s.") % values
    if after.pending_operation:
        return messages.WARNING, str(operation.accepted) % values
    return messages.SUCCESS, _done(after, name, requested)


def pending_notice(payment: Payment) -> str:
    """What the payment's page says while an operation is in flight ("" when none is)."""
    if not payment.pending_operation:
        return ""
    operation = OPERATIONS.get(payment.pending_operation)
    text = (
        operation.pending
        if operation
        else gettext(
            "An operation of %(amount)s is in progress: no other operation can start until "
            "it is settled (we are checking with JCC)."
        )
    )
    return str(text) % {"amount": format_money(payment.pending_amount, payment.currency)}


def operation_url(payment: Payment, name: str) -> str:
    return reverse(f"admin:jcc_checkout_payment_{name}", args=[payment.pk])


def operation_links(user: Any, payment: Payment | None, *, back: str = "") -> list[dict[str, str]]:
    """The buttons of the operations ``user`` may start on ``payment``: label and address."""
    if payment is None:
        return []
    query = f"?back={back}" if back else ""
    return [
        {
            "name": operation.name,
            "label": str(operation.label),
            "url": operation_url(payment, operation.name) + query,
        }
        for operation in offered(user, payment)
    ]


#: Where an operation's page leads back to: the payment's page, or its order's.
_BACK = {
    "": lambda payment: reverse("admin:jcc_checkout_payment_change", args=[payment.pk]),
    "order": lambda payment: reverse("admin:jcc_checkout_order_change", args=[payment.order_id]),
}


class OperationPagesMixin(AdminMixin):
    """The payment admin's capture, void and refund pages
    (``<payment>/capture/``, ``/void/``, ``/refund/``)."""

    operation_template = "checkout/admin/payment_operation.html"

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        pages = [
            path(
                f"<path:object_id>/{name}/",
                self._operation_page(name),
                name=f"{info[0]}_{info[1]}_{name}",
            )
            for name in OPERATIONS
        ]
        return pages + list(super().get_urls())

    def _operation_page(self, name: str) -> Callable[..., HttpResponse]:
        def page(request: HttpRequest, object_id: str) -> HttpResponse:
            return self.operation_view(request, object_id, name)

        # The backoffice calls the gateway outside any transaction, whatever
        # ATOMIC_REQUESTS says; admin_view adds the login check and CSRF protection.
        return self.admin_site.admin_view(transaction.non_atomic_requests(page))

    def operation_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        """One operation's page: the form (GET, or a POST with errors or ``edit``), the
        confirmation (a valid POST), and the operation itself (a POST with ``confirm``)."""
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        operation = OPERATIONS[name]
        if not self.has_view_permission(request):
            raise PermissionDenied
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            self.message_user(
                request,
                gettext("There is no payment with the id %(id)s.") % {"id": object_id[:40]},
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:jcc_checkout_payment_changelist"))
        if not self.has_view_permission(request, payment):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        back = data.get("back", "")
        back = back if back in _BACK else ""
        leave = HttpResponseRedirect(_BACK[back](payment))
        if not operation.allowed_for(request.user):
            self.message_user(
                request,
                gettext("%(payment)s: %(reason)s")
                % {"payment": payment, "reason": operation.forbidden},
                messages.ERROR,
            )
            return leave
        problem = refusal(payment, name)
        if problem:
            self.message_user(
                request,
                str(operation.not_possible) % {"payment": payment, "reason": problem},
                messages.ERROR,
            )
            return leave
        state = state_token(payment)
        if request.method == "POST" and data.get("state") != state:
            self.message_user(
                request,
                str(operation.changed)
                % {
                    "payment": payment,
                    "status": payment.get_status_display(),
                    "captured": format_money(payment.captured_amount, payment.currency),
                    "refunded": format_money(payment.refunded_amount, payment.currency),
                },
                messages.WARNING,
            )
            return leave
        form = PaymentOperationForm(
            data if request.method == "POST" else None,
            operation=name,
            code=payment.currency,
            limit=limit(payment, name),
            state=state,
        )
        confirming = form.is_bound and form.is_valid() and "edit" not in data
        if confirming and "confirm" in data:
            level, text = perform(
                payment,
                name,
                form.minor_amount,
                operator=request.user,
                reason=form.cleaned_data["reason"],
            )
            self.message_user(request, text, level)
            return leave
        return self._render_operation(
            request, payment, operation, form, back=back, confirming=confirming
        )

    def _render_operation(
        self,
        request: HttpRequest,
        payment: Payment,
        operation: Operation,
        form: PaymentOperationForm,
        *,
        back: str,
        confirming: bool,
    ) -> HttpResponse:
        code = payment.currency
        summary = [
            (_("Status"), payment.get_status_display()),
            (_("Amount"), format_money(payment.amount, code)),
            (_("Approved"), format_money(payment.approved_amount, code)),
            (_("Captured"), format_money(payment.captured_amount, code)),
            (_("Refunded"), format_money(payment.refunded_amount, code)),
            (_("Card"), card_label(payment.card_brand, payment.masked_pan) or "—"),
            (_("At the gateway"), gateway_status_text(payment.gateway_status) or "—"),
        ]
        sentences = describe(payment, operation.name, form.minor_amount) if confirming else []
        amount = format_money(
            limit(payment, operation.name) if form.minor_amount is None else form.minor_amount,
            code,
        )
        confirm_label = {
            backoffice.CAPTURE: gettext("Capture %(amount)s"),
            backoffice.VOID: gettext("Release the hold of %(amount)s"),
            backoffice.REFUND: gettext("Refund %(amount)s"),
        }[operation.name] % {"amount": amount}
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("%(operation)s payment %(payment)s")
            % {"operation": operation.label, "payment": payment},
            "opts": self.opts,
            "original": payment,
            "payment": payment,
            "operation": operation,
            "summary": summary,
            "form": form,
            "confirming": confirming,
            "sentence": sentences[0] if sentences else "",
            "details": sentences[1:],
            "confirm_label": confirm_label if confirming else "",
            "back": back,
            "back_url": _BACK[back](payment),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.operation_template, context)
