"""The shopper's pages: card entry, 3-D Secure hop, return from the gateway, result.

Every page works without JavaScript. Gateway calls happen outside database transactions
(the views opt out of ATOMIC_REQUESTS). What the browser brings back decides nothing:
each page settles a payment with a status query before showing it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_safe

from checkout import access, cardpage, paying
from checkout.api.returns import api_return_url
from checkout.conf import checkout_settings
from checkout.declines import payment_message
from checkout.exceptions import GatewayError
from checkout.forms import CardForm, SavedCardForm
from checkout.gateway import get_client
from checkout.i18n import page_language
from checkout.models import Order, Payment
from checkout.ratelimit import check_payment_attempt
from checkout.services import saved_cards
from checkout.setoken import build_binding_setoken, build_setoken, current_public_key
from checkout.status import (
    UNCONFIRMED_STATUSES,
    UNSUCCESSFUL_STATUSES,
    PaymentStatus,
    Source,
)

__all__ = ["card", "gateway_return", "payment_status", "threeds"]

logger = logging.getLogger(__name__)

S = PaymentStatus

#: Seconds between two status queries for the same payment triggered by page loads.
REFRESH_THROTTLE = paying.REFRESH_THROTTLE
#: Seconds after which the "confirming" page reloads itself.
CONFIRM_REFRESH = 3

_GATEWAY_ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


# --- helpers -----------------------------------------------------------------------------


def _order_pages(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose page may switch to its order's language (``_speak_order_language``):
    the request's language is back in place once the page is rendered."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        before = translation.get_language()
        try:
            response = view(request, *args, **kwargs)
            spoken = translation.get_language()
        finally:
            translation.activate(before)
        if spoken != before:
            response["Content-Language"] = spoken
        return response

    return wrapper


def _speak_order_language(request: HttpRequest, order: Order) -> None:
    """The order's language for the rest of the view, when the request names none."""
    language = page_language(request, order.language)
    if language:
        translation.activate(language)


def _order_or_404(request: HttpRequest, public_id: Any) -> Order:
    order = get_object_or_404(Order, public_id=public_id)
    if not access.can_view(request, order):
        # Same answer as for an order that does not exist: ids reveal nothing.
        raise Http404("No such order.")
    _speak_order_language(request, order)
    return order


def _payment_or_404(request: HttpRequest, public_id: Any) -> Payment:
    payment = get_object_or_404(Payment.objects.select_related("order"), public_id=public_id)
    if not access.can_view(request, payment.order):
        raise Http404("No such payment.")
    _speak_order_language(request, payment.order)
    return payment


def _status_url(payment: Payment) -> str:
    return reverse("jcc_checkout:payment", args=[payment.public_id])


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _error(
    request: HttpRequest, status: int, title: str, reason: str, **extra: Any
) -> HttpResponse:
    context = {
        "title": title,
        "reason": reason,
        "status": status,
        "merchant": _merchant_name(request),
        **extra,
    }
    response = render(request, "checkout/error.html", context, status=status)
    if status == 503:
        response["Retry-After"] = "30"
    return response


def _merchant_name(request: HttpRequest) -> str:
    return str(checkout_settings.MERCHANT_NAME or request.get_host().split(":")[0])


_throttled_refresh = paying.throttled_refresh
_blocking_payment = paying.blocking_payment


def _expired_response(request: HttpRequest, order: Order) -> HttpResponse:
    return _error(
        request,
        410,
        _("This order has expired"),
        _("It can no longer be paid. Please place the order again in the shop."),
        order=order,
    )


# --- card entry --------------------------------------------------------------------------


@transaction.non_atomic_requests
@never_cache
@sensitive_post_parameters("pan", "cvc", "expiry", "se_token")
@sensitive_variables()
@require_http_methods(["GET", "HEAD", "POST"])
@_order_pages
def card(request: HttpRequest, order_id: Any) -> HttpResponse:
    """Card entry for an order: the form, and the payment it submits.

    A shopper the shop knows also sees their saved cards (a form of its own, posted with
    ``saved_card``) and may save the card they enter.
    """
    order = _order_or_404(request, order_id)
    wallet = saved_cards.shopper_wallet(request, order)
    cards = saved_cards.shopper_cards(wallet)
    saved_form = None
    form: CardForm | SavedCardForm | None = None
    if request.method == "POST" and "saved_card" in request.POST:
        form = saved_form = SavedCardForm(request.POST, cards=cards.usable, ask_cvc=_ask_cvc())
    elif request.method == "POST":
        form = CardForm(request.POST)
    if form is not None and form.is_valid() and not order.is_expired:
        # Peek only: the claim in _pay() finds an attempt already running or a paid order,
        # and a click that finds one must not use up the shopper's allowance.
        refusal = check_payment_attempt(request, order, peek=True)
        if not refusal:
            return _pay(request, order, form)
        blocking = _blocking_payment(order)
        if blocking is not None:
            return _see_other(_status_url(blocking))
        return _error(request, 429, _("Too many attempts"), refusal, order=order)
    blocking = _blocking_payment(order)
    if blocking is not None:
        return _see_other(_status_url(blocking))
    if order.is_expired:
        return _expired_response(request, order)
    card_form = form if isinstance(form, CardForm) else CardForm()
    return _render_card(request, order, card_form, cards=cards, saved_form=saved_form)


def _ask_cvc() -> bool:
    return bool(checkout_settings.SAVED_CARDS["ask_cvc"])


def _render_card(
    request: HttpRequest,
    order: Order,
    form: CardForm,
    *,
    cards: saved_cards.ShopperCards,
    saved_form: SavedCardForm | None = None,
) -> HttpResponse:
    try:
        key = current_public_key() or ""
    except GatewayError:
        key = ""
    context = {
        "order": order,
        "form": form,
        "saved_cards": cards.usable,
        "expired_cards": cards.expired,
        "saved_form": saved_form
        or SavedCardForm(
            cards=cards.usable,
            ask_cvc=_ask_cvc(),
            initial={"saved_card": cards.usable[0].public_id if cards.usable else None},
        ),
        "offer_saving": saved_cards.can_save(request, order),
        "saving_required": bool(order.recurrence),
        "merchant": _merchant_name(request),
        "setoken_key": key,
        "previous": order.payments.filter(status__in=UNSUCCESSFUL_STATUSES).first(),
        "brands": cardpage.accepted_brands(),
        "cart_url": cardpage.cart_url(),
    }
    return render(request, "checkout/card.html", context)


@sensitive_variables()
def _pay(request: HttpRequest, order: Order, form: CardForm | SavedCardForm) -> HttpResponse:
    data = form.cleaned_data
    # A misconfigured gateway fails here, before an attempt is claimed for nothing.
    get_client()
    se_token = data.get("se_token") or None
    card = None
    wallet = saved_card = None
    tii = ""
    if isinstance(form, SavedCardForm):
        # The shopper's own saved card (the form offered only theirs), paid by a seToken
        # holding its bindingId and the CVC: built in the browser, or here without script.
        saved_card, tii = data["card"], "F"
        if se_token is None:
            key = current_public_key()
            if not key:
                return _unavailable(request, order)
            se_token = build_binding_setoken(saved_card.binding_id, data.get("cvc", ""), key)
        cardholder_name = ""
    else:
        cardholder_name = data["cardholder_name"]
        if se_token is None:
            card = form.card_data()
            key = current_public_key()
            if key:
                try:
                    se_token, card = build_setoken(card, key), None
                except ValueError:
                    logger.warning("seToken could not be built: sending the card fields")
        if data.get("save_card") or order.recurrence:
            wallet = saved_cards.shopper_wallet(request, order, create=True)
            if wallet is not None:
                tii = paying.SAVING_TII.get(order.recurrence, "CI")
    outcome = paying.pay(
        request,
        order,
        se_token=se_token,
        card=card,
        cardholder_name=cardholder_name,
        wallet=wallet,
        saved_card=saved_card,
        tii=tii,
    )
    payment = outcome.payment
    if outcome.kind == outcome.EXPIRED:
        return _expired_response(request, order)
    if outcome.kind == outcome.BLOCKED:
        # A double submit, or another tab: show the attempt that is already running.
        if payment is not None:
            return _see_other(_status_url(payment))
        return _see_other(reverse("jcc_checkout:card", args=[order.public_id]))
    if outcome.kind == outcome.LIMITED:
        return _error(request, 429, _("Too many attempts"), outcome.message, order=order)
    if outcome.kind == outcome.UNAVAILABLE or payment is None:
        return _unavailable(request, order)
    if not outcome.needs_3ds:
        # Also a payment that a status query moved to AWAITING_3DS while this call ran (an
        # order seen registered before the gateway answered): an answer without 3-D Secure
        # never sends the shopper to the bank; the result page asks the gateway again.
        return _see_other(_status_url(payment))
    result = outcome.result
    if checkout_settings.THREEDS_METHOD == "post" and result is not None and result.acs_url:
        acs = get_client().acs_post_form(result)
        return render(
            request,
            "checkout/threeds_post.html",
            {"order": order, "payment": payment, "acs": acs},
        )
    return _see_other(reverse("jcc_checkout:threeds", args=[payment.public_id]))


def _unavailable(request: HttpRequest, order: Order) -> HttpResponse:
    return _error(
        request,
        503,
        _("Payments are unavailable right now"),
        _("We could not reach the bank. No money was taken. Please try again later."),
        order=order,
        retry_url=reverse("jcc_checkout:card", args=[order.public_id]),
    )


# --- 3-D Secure ------------------------------------------------------------------------


@transaction.non_atomic_requests
@never_cache
@require_safe
@_order_pages
def threeds(request: HttpRequest, payment_id: Any) -> HttpResponse:
    """Send the shopper to the issuer's 3-D Secure page (resumable: a URL of its own)."""
    payment = _payment_or_404(request, payment_id)
    if payment.status != S.AWAITING_3DS or not payment.gateway_order_id:
        return _see_other(_status_url(payment))
    logger.info("payment %s: redirect to 3-D Secure", payment.order_number)
    # acsRedirect.do needs only the gateway's order id, so this also resumes the step.
    return HttpResponseRedirect(get_client().acs_redirect_url(payment.gateway_order_id))


# --- return from the gateway ----------------------------------------------------------


@transaction.non_atomic_requests
@never_cache
@require_safe
@_order_pages
def gateway_return(request: HttpRequest) -> HttpResponse:
    """backUrl and failUrl: settle the attempt named by ?orderId= with a status query."""
    order_id = request.GET.get("orderId", "")
    if not _GATEWAY_ORDER_ID.fullmatch(order_id):
        logger.info("return without a well-formed orderId")
        return _error(request, 400, _("Bad request"), _("Missing or malformed orderId."))
    payment = Payment.objects.select_related("order").filter(gateway_order_id=order_id).first()
    if payment is None:
        logger.info("return for an unknown orderId")
        return _error(request, 400, _("Bad request"), _("Unknown orderId: no such payment."))
    owner = access.can_view(request, payment.order)
    if owner:
        _speak_order_language(request, payment.order)
    # The shopper's own return always asks the gateway; anybody else's is throttled, so
    # that a known orderId cannot be used to flood the gateway with status queries.
    payment, _reached = _throttled_refresh(
        payment, source=Source.THREEDS_RETURN, throttle=not owner
    )
    # Paid through the API: back to the front end that asked for it (its return_url was
    # checked against API_RETURN_URLS); it reads the payment with its client secret.
    front_end = api_return_url(payment)
    if front_end is not None:
        return _see_other(front_end)
    if not owner:
        return render(request, "checkout/neutral.html", {})
    return _see_other(_status_url(payment))


# --- result ------------------------------------------------------------------------------


@transaction.non_atomic_requests
@never_cache
@require_safe
@_order_pages
def payment_status(request: HttpRequest, payment_id: Any) -> HttpResponse:
    """Where an attempt stands: result, 3-D Secure still open, or "confirming"."""
    payment = _payment_or_404(request, payment_id)
    reached = True
    if payment.status in UNCONFIRMED_STATUSES or payment.status == S.AWAITING_3DS:
        payment, reached = _throttled_refresh(payment, source=Source.RECONCILIATION)
    order = payment.order
    if payment.status in UNCONFIRMED_STATUSES or (payment.status == S.AWAITING_3DS and not reached):
        response = render(
            request,
            "checkout/confirming.html",
            {
                "order": order,
                "payment": payment,
                "refresh": CONFIRM_REFRESH,
                "merchant": _merchant_name(request),
            },
            status=200 if reached else 503,
        )
        if not reached:
            response["Retry-After"] = str(CONFIRM_REFRESH)
        return response
    can_retry = (
        payment.status in UNSUCCESSFUL_STATUSES
        and not order.is_expired
        and _blocking_payment(order) is None
    )
    context = {
        "order": order,
        "payment": payment,
        "message": payment_message(payment),
        "merchant": _merchant_name(request),
        "can_retry": can_retry,
        "card_url": reverse("jcc_checkout:card", args=[order.public_id]),
        "threeds_url": reverse("jcc_checkout:threeds", args=[payment.public_id]),
    }
    return render(request, "checkout/result.html", context)
