"""The sandbox's browser pages: the ACS (3-D Secure), acsRedirect.do and its own console."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checkout.money import format_money
from checkout.sandbox import crypto, processing
from checkout.sandbox.cards import CARDS, ONE_TIME_CODE
from checkout.sandbox.conf import sandbox_active, sandbox_settings
from checkout.sandbox.faults import MAGIC_AMOUNTS, MAGIC_CALLBACK_AMOUNTS
from checkout.sandbox.models import (
    BankCancellation,
    Binding,
    CallbackDelivery,
    CallbackFault,
    Fault,
    Merchant,
    Order,
)
from checkout.sandbox.money import format_minor
from checkout.sandbox.outbox import merchant_callback_url

__all__ = [
    "BindingActionForm",
    "MerchantForm",
    "View",
    "acs",
    "acs_redirect",
    "binding_action",
    "bindings",
    "callback_public_key",
    "callbacks",
    "index",
    "order_detail",
    "orders",
    "sandbox_page",
]

View = Callable[..., HttpResponse]


def sandbox_page(view: View) -> View:
    """404 unless the sandbox is active (mounted, and DEBUG or explicitly allowed).

    The check comes before the CSRF check, so that an inactive sandbox answers 404 to
    everything: views with forms of their own apply ``csrf_protect`` inside this.
    """

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not sandbox_active():
            raise Http404("The sandbox gateway is not active.")
        return view(request, *args, **kwargs)

    return wrapper


def _order_or_none(raw: str) -> Order | None:
    try:
        key = uuid.UUID(raw.strip())
    except (ValueError, AttributeError):
        return None
    return Order.objects.select_related("merchant").filter(pk=key).first()


def _message(request: HttpRequest, title: str, text: str, status: int) -> HttpResponse:
    return render(
        request, "checkout_sandbox/message.html", {"title": title, "text": text}, status=status
    )


def _language(order: Order) -> str:
    """The order's language (instantPayment.do ``language``) where the site has it: the
    gateway's pages speak the order's language, whatever the browser sends."""
    try:
        return translation.get_supported_language_variant(order.language)
    except LookupError:
        return str(settings.LANGUAGE_CODE)


def _amount(order: Order, language: str) -> str:
    try:
        return format_money(order.amount, order.currency, language)
    except ValueError:
        return format_minor(order.amount, order.currency)


def _acs_url(order: Order) -> str:
    query = urlencode({"mdOrder": str(order.id), "threeDsServerTransId": order.three_ds_trans_id})
    return f"{reverse('checkout_sandbox:acs')}?{query}"


# --- 3-D Secure -------------------------------------------------------------------------------


@never_cache
@sandbox_page
@require_http_methods(["GET", "POST"])
def acs_redirect(request: HttpRequest) -> HttpResponse:
    """acsRedirect.do: send the shopper to the ACS, or straight back when nothing is left."""
    order = _order_or_none(request.GET.get("orderId", ""))
    if order is None:
        return _message(request, _("Unknown order"), _("No order with this orderId."), 404)
    order = processing.expire_if_due(order)
    if order.awaiting_3ds:
        return HttpResponseRedirect(_acs_url(order))
    return HttpResponseRedirect(processing.finish_url(order))


# Not CSRF-protected: the shop's auto-submitting form posts here from another site.
@never_cache
@sandbox_page
@sensitive_post_parameters("otp")
@require_http_methods(["GET", "POST"])
def acs(request: HttpRequest) -> HttpResponse:
    """The issuer's ACS page: one-time code, or cancel; also takes PaReq/MD/TermUrl."""
    md_order = request.GET.get("mdOrder", "")
    posted_md = request.POST.get("MD", "")
    if md_order and posted_md and posted_md != md_order:
        return _message(request, _("3-D Secure error"), _("MD does not match the order."), 400)
    order = _order_or_none(md_order or posted_md)
    if order is None:
        return _message(request, _("Unknown order"), _("No order with this identifier."), 404)
    trans_id = request.GET.get("threeDsServerTransId") or request.POST.get(
        "threeDsServerTransId", ""
    )
    if order.awaiting_3ds and trans_id != order.three_ds_trans_id:
        return _message(request, _("3-D Secure error"), _("Unknown 3-D Secure transaction."), 400)
    action = request.POST.get("action", "")
    if action in ("submit", "cancel") and order.awaiting_3ds:
        if action == "cancel":
            order = processing.finish_3ds(order, authenticated=False, action_code=341018)
        elif request.POST.get("otp", "").strip() == ONE_TIME_CODE:
            order = processing.finish_3ds(order, authenticated=True)
        else:
            order = processing.finish_3ds(order, authenticated=False, action_code=-2006)
        return HttpResponseRedirect(processing.finish_url(order))
    order = processing.start_acs(order)
    if not order.awaiting_3ds:
        return HttpResponseRedirect(processing.finish_url(order))
    language = _language(order)
    with translation.override(language):
        response = render(
            request,
            "checkout_sandbox/acs.html",
            {
                "order": order,
                "amount": _amount(order, language),
                "action_url": _acs_url(order),
                "one_time_code": ONE_TIME_CODE,
            },
        )
    response["Content-Language"] = language
    return response


# --- the console ------------------------------------------------------------------------------


if TYPE_CHECKING:
    _ModelForm = forms.ModelForm[Merchant]
else:
    _ModelForm = forms.ModelForm


class MerchantForm(_ModelForm):
    """The sandbox merchant's callback and fault switches."""

    callback_url = forms.URLField(
        required=False,
        max_length=512,
        assume_scheme="https",
        help_text="Blank: the shop's checkout callback URL, when the shop has one.",
    )

    class Meta:
        model = Merchant
        fields = [
            "callbacks_enabled",
            "callback_url",
            "callback_method",
            "callback_signing",
            "callback_secret",
            "callback_extra_params",
            "fault",
            "fault_endpoints",
            "fault_remaining",
            "callback_fault",
            "flip_error_code_type",
        ]


@never_cache
@sandbox_page
@require_http_methods(["GET", "POST"])
@csrf_protect
def index(request: HttpRequest) -> HttpResponse:
    """The card table, the fault switches and what the sandbox did lately."""
    merchant = Merchant.objects.default()
    form = MerchantForm(request.POST or None, instance=merchant)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Sandbox merchant saved.")
        return redirect("checkout_sandbox:index")
    base = request.build_absolute_uri(reverse("checkout_sandbox:index"))
    return render(
        request,
        "checkout_sandbox/index.html",
        {
            "form": form,
            "merchant": merchant,
            "callback_url": merchant_callback_url(merchant),
            "cards": CARDS,
            "one_time_code": ONE_TIME_CODE,
            "magic_amounts": [
                (amount, Fault(fault).label) for amount, fault in MAGIC_AMOUNTS.items()
            ],
            "magic_callback_amounts": [
                (amount, CallbackFault(fault).label)
                for amount, fault in MAGIC_CALLBACK_AMOUNTS.items()
            ],
            "base_url": base,
            "delivery_mode": sandbox_settings.CALLBACK_DELIVERY,
            "orders": Order.objects.select_related("merchant")[:20],
            "deliveries": CallbackDelivery.objects.select_related("order")[:20],
        },
    )


@never_cache
@sandbox_page
@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "checkout_sandbox/orders.html",
        {"orders": Order.objects.select_related("merchant")[:200]},
    )


@never_cache
@sandbox_page
@require_GET
def order_detail(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = get_object_or_404(Order.objects.select_related("merchant"), pk=order_id)
    order = processing.expire_if_due(order)
    return render(
        request,
        "checkout_sandbox/order.html",
        {
            "order": order,
            "amount": format_minor(order.amount, order.currency),
            "operations": order.operations.all(),
            "deliveries": order.deliveries.prefetch_related("attempt_log"),
        },
    )


@never_cache
@sandbox_page
@require_GET
def callbacks(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "checkout_sandbox/callbacks.html",
        {
            "deliveries": CallbackDelivery.objects.select_related("order").prefetch_related(
                "attempt_log"
            )[:200],
            "delivery_mode": sandbox_settings.CALLBACK_DELIVERY,
        },
    )


@sandbox_page
@require_GET
def callback_public_key(request: HttpRequest) -> HttpResponse:
    """The PEM public key that verifies asymmetric callback checksums."""
    return HttpResponse(crypto.current_key().public_pem, content_type="application/x-pem-file")


# --- stored credentials (bindings) -------------------------------------------------------------


class BindingActionForm(forms.Form):
    """What the bank does to a stored card from the console."""

    EXPIRE = "expire"
    CANCEL = "cancel"
    UNBIND = "unbind"

    action = forms.ChoiceField(
        choices=[
            (EXPIRE, gettext_lazy("Expire (expiry becomes last month)")),
            (CANCEL, gettext_lazy("Cancel at the bank")),
            (UNBIND, gettext_lazy("Unbind")),
        ]
    )
    action_code = forms.TypedChoiceField(
        label=gettext_lazy("Decline code"),
        choices=BankCancellation.choices,
        coerce=int,
        required=False,
    )


@never_cache
@sandbox_page
@require_GET
def bindings(request: HttpRequest) -> HttpResponse:
    """Every stored card, with what the bank can do to it."""
    return render(
        request,
        "checkout_sandbox/bindings.html",
        {
            "bindings": Binding.objects.select_related("merchant")[:200],
            "cancellations": BankCancellation.choices,
        },
    )


@never_cache
@sandbox_page
@require_POST
@csrf_protect
def binding_action(request: HttpRequest, binding_id: uuid.UUID) -> HttpResponse:
    """Expire a stored card, have the bank cancel it, or unbind it."""
    binding = get_object_or_404(Binding, pk=binding_id)
    form = BindingActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown action."))
        return redirect("checkout_sandbox:bindings")
    action = form.cleaned_data["action"]
    if action == BindingActionForm.EXPIRE:
        binding = processing.expire_binding(binding)
        messages.success(
            request, _("Binding %(masked_pan)s now expires %(expiry)s.") % _describe(binding)
        )
    elif action == BindingActionForm.CANCEL:
        code = form.cleaned_data["action_code"] or BankCancellation.CLOSED
        binding = processing.cancel_binding_at_bank(binding, code)
        messages.success(
            request,
            _("The bank cancelled %(masked_pan)s: its payments are declined with %(code)s.")
            % {**_describe(binding), "code": code},
        )
    else:
        try:
            binding = processing.unbind_card(binding)
        except processing.ProcessingError:
            messages.error(request, _("Binding %(masked_pan)s is not active.") % _describe(binding))
        else:
            messages.success(request, _("Binding %(masked_pan)s unbound.") % _describe(binding))
    return redirect("checkout_sandbox:bindings")


def _describe(binding: Binding) -> dict[str, str]:
    return {"masked_pan": binding.masked_pan, "expiry": binding.expiry}
