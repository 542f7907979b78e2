"""The JSON API for headless storefronts: read an order, pay it with a seToken, read a payment.

Plain Django views. Each request is authenticated by the order's client secret
(``Authorization: Bearer cs_…``), never by a session or a cookie, so pages of another
origin (``API_ALLOWED_ORIGINS``) and mobile apps can call it. Payments go through
``checkout.paying`` as the card page's do: the same claim, attempt limits and gateway call.
Card data is never accepted in the clear: only a seToken built in the browser.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from checkout import cardpage, money, paying
from checkout.api import schema
from checkout.api.errors import ApiError, FieldErrors
from checkout.api.origins import add_cors_headers, check_return_url
from checkout.api.secrets import SecretRefused, authenticate, extend_for_payment
from checkout.conf import checkout_settings
from checkout.declines import payment_message
from checkout.exceptions import GatewayError, OrderNotPayable
from checkout.forms import CardForm, SavedCardForm
from checkout.gateway import InstantPaymentResult, get_client
from checkout.i18n import page_language
from checkout.models import ApiSubmission, ClientSecret, Order, Payment, SavedCard, Wallet
from checkout.ratelimit import check_payment_attempt
from checkout.services import saved_cards
from checkout.setoken import current_public_key, public_key_expiry
from checkout.status import (
    SECURED_STATUSES,
    UNCONFIRMED_STATUSES,
    UNSUCCESSFUL_STATUSES,
    PaymentStatus,
    Source,
)

__all__ = ["MAX_BODY", "not_found", "openapi", "order", "payment", "payments"]

logger = logging.getLogger(__name__)

S = PaymentStatus

#: Largest request body accepted, in bytes (a seToken is at most 8192 characters).
MAX_BODY = 16 * 1024
#: Seconds a front end waits before asking again about a payment being confirmed.
POLL_AFTER = 3
#: Fields a payment request may carry.
PAYMENT_FIELDS = frozenset({"se_token", "cardholder_name", "saved_card", "save_card", "return_url"})
#: Card fields that only a seToken may carry: refused outright.
CARD_FIELDS = frozenset({"pan", "cvc", "cvv", "expiry", "card_number", "number", "exp_month"})
_MAX_KEY = 255

View = Callable[..., HttpResponse]


# --- the frame: methods, CORS, errors, language -------------------------------------------


def api_view(*methods: str) -> Callable[[View], View]:
    """A JSON endpoint answering ``methods``, OPTIONS preflights and JSON errors."""
    allowed = ", ".join([*methods, "OPTIONS"])

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            with translation.override(translation.get_language()):
                if request.method == "OPTIONS":
                    response = HttpResponse(status=204)
                    response["Allow"] = allowed
                    return add_cors_headers(request, response, preflight_methods=allowed)
                try:
                    if request.method not in methods and not (
                        request.method == "HEAD" and "GET" in methods
                    ):
                        raise ApiError(405, "method_not_allowed", headers={"Allow": allowed})
                    response = view(request, *args, **kwargs)
                except ApiError as err:
                    response = err.response()
                response["Content-Language"] = translation.get_language() or ""
                return add_cors_headers(request, response)

        return csrf_exempt(never_cache(transaction.non_atomic_requests(wrapper)))

    return decorate


def _bearer(request: HttpRequest) -> str:
    header = str(request.headers.get("Authorization", ""))
    scheme, _sep, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _authorised(request: HttpRequest, order_id: Any) -> tuple[Order, ClientSecret]:
    """The order named in the URL and the secret that opens it; ApiError 401 otherwise."""
    found = Order.objects.filter(public_id=order_id).first()
    try:
        secret = authenticate(_bearer(request), found)
    except SecretRefused as err:
        raise ApiError(
            401, err.code, headers={"WWW-Authenticate": 'Bearer realm="checkout"'}
        ) from None
    assert found is not None  # authenticate() opens no missing order
    # The order's language when the request names none (as the card page does).
    language = page_language(request, found.language)
    if language:
        translation.activate(language)
    return found, secret


# --- what the answers say ------------------------------------------------------------------


def _state(payment: Payment, *, needs_3ds: bool) -> str:
    if payment.status in SECURED_STATUSES:
        return "succeeded"
    if payment.status == S.AWAITING_3DS:
        return "requires_action" if needs_3ds else "confirming"
    if payment.status in UNCONFIRMED_STATUSES or payment.status == S.CREATED:
        return "confirming"
    if payment.status == S.NEEDS_REVIEW:
        return "review"
    if payment.status == S.VOIDED:
        return "canceled"
    return "failed"


def _next_action(payment: Payment, result: InstantPaymentResult | None) -> dict[str, Any]:
    client = get_client()
    if checkout_settings.THREEDS_METHOD == "post" and result is not None and result.acs_url:
        form = client.acs_post_form(result)
        return {"type": "post_form", "method": "POST", "url": form.url, "fields": form.fields}
    # acsRedirect.do needs only the gateway's order id: it also resumes the step later.
    return {
        "type": "redirect",
        "method": "GET",
        "url": client.acs_redirect_url(payment.gateway_order_id or ""),
    }


def payment_json(
    payment: Payment, *, result: InstantPaymentResult | None = None, reached: bool = True
) -> dict[str, Any]:
    """A payment as the API shows it (``result``: the gateway's answer to this request)."""
    order = payment.order
    needs_3ds = (
        payment.status == S.AWAITING_3DS
        and bool(payment.gateway_order_id)
        and reached
        and (result is None or result.requires_3ds)
    )
    state = _state(payment, needs_3ds=needs_3ds)
    can_retry = (
        payment.status in UNSUCCESSFUL_STATUSES
        and not order.is_expired
        and paying.blocking_payment(order) is None
    )
    card = None
    if payment.masked_pan or payment.card_brand:
        card = {"brand": payment.card_brand, "masked_pan": payment.masked_pan}
    return {
        "id": str(payment.public_id),
        "order_id": str(order.public_id),
        "status": str(payment.status),
        "state": state,
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_display": money.format_money(payment.amount, payment.currency),
        "card": card,
        "message": str(payment_message(payment)),
        "can_retry": can_retry,
        "next_action": _next_action(payment, result) if state == "requires_action" else None,
        "poll_after": POLL_AFTER if state == "confirming" else None,
        "created_at": payment.created_at.isoformat(),
    }


def _order_state(order: Order) -> str:
    blocking = paying.blocking_payment(order)
    if blocking is not None:
        if blocking.status in SECURED_STATUSES:
            return "paid"
        return "review" if blocking.status == S.NEEDS_REVIEW else "in_progress"
    return "expired" if order.is_expired else "open"


def _wallet(order: Order) -> Wallet | None:
    """The wallet whose cards the order's front end may use: the one the shop named when it
    made the order (``create_order(owner=…)``); handing out the order's secret vouches for
    the shopper."""
    if not saved_cards.enabled() or order.wallet_id is None:
        return None
    wallet = order.wallet
    return wallet if wallet is not None and wallet.closed_at is None else None


def _saved_card_json(card: SavedCard) -> dict[str, Any]:
    return {
        "id": str(card.public_id),
        "brand": card.brand,
        "last4": card.last4,
        "expiry": card.expiry_display,
        # What the browser encrypts into the seToken with the CVC (slot 7).
        "binding_id": card.binding_id,
    }


def _latest(order: Order) -> Payment | None:
    return order.payments.order_by("-created_at", "-pk").first()


# --- GET orders/<id>/ -----------------------------------------------------------------------


@api_view("GET")
def order(request: HttpRequest, order_id: Any) -> HttpResponse:
    """What the page needs to take the card for an order."""
    found, _secret = _authorised(request, order_id)
    try:
        key = current_public_key()
        expires = public_key_expiry() if key else None
    except GatewayError:
        key, expires = None, None
    wallet = _wallet(found)
    cards = saved_cards.shopper_cards(wallet)
    latest = _latest(found)
    body = {
        "order": {
            "id": str(found.public_id),
            "amount": found.amount,
            "currency": found.currency,
            "amount_display": money.format_money(found.amount, found.currency),
            "description": found.description,
            "reference": found.merchant_reference,
            "language": found.language,
            "state": _order_state(found),
            "expires_at": found.expires_at.isoformat() if found.expires_at else None,
        },
        "merchant": {"name": str(checkout_settings.MERCHANT_NAME or request.get_host())},
        "brands": [
            {
                "code": brand.code,
                "name": brand.label,
                "mark_url": request.build_absolute_uri(static(brand.mark)),
            }
            for brand in cardpage.accepted_brands()
        ],
        "cardholder_name": checkout_settings.CARDHOLDER_NAME,
        "setoken": {
            "public_key": key or None,
            "expires_at": expires.isoformat() if expires else None,
        },
        "saved_cards": {
            "cards": [_saved_card_json(card) for card in cards.usable],
            "ask_cvc": bool(checkout_settings.SAVED_CARDS["ask_cvc"]),
            "can_save": wallet is not None,
            "saving_required": bool(found.recurrence),
        },
        "payment": payment_json(latest) if latest is not None else None,
        "links": {
            "payments": request.build_absolute_uri(
                reverse("jcc_checkout:api_payments", args=[found.public_id])
            ),
        },
    }
    return JsonResponse(body)


# --- GET orders/<id>/payments/<id>/ ---------------------------------------------------------


@api_view("GET")
def payment(request: HttpRequest, order_id: Any, payment_id: Any) -> HttpResponse:
    """Where a payment stands; one not settled yet is asked about (throttled)."""
    found, _secret = _authorised(request, order_id)
    attempt = (
        Payment.objects.select_related("order").filter(order=found, public_id=payment_id).first()
    )
    if attempt is None:
        raise ApiError(404, "not_found")
    reached = True
    if attempt.status in UNCONFIRMED_STATUSES or attempt.status == S.AWAITING_3DS:
        attempt, reached = paying.throttled_refresh(attempt, source=Source.RECONCILIATION)
    return JsonResponse({"payment": payment_json(attempt, reached=reached)})


# --- POST orders/<id>/payments/ -------------------------------------------------------------


def _read_json(request: HttpRequest) -> tuple[dict[str, Any], bytes]:
    content_type = str(request.META.get("CONTENT_TYPE", ""))
    media, _sep, params = content_type.partition(";")
    if media.strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type")
    charset = params.strip().lower().removeprefix("charset=").strip('" ')
    if params.strip() and charset not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY + 1
    if length > MAX_BODY:
        raise ApiError(413, "body_too_large")
    raw = request.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "malformed_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body")
    return data, raw


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _idempotency_key(request: HttpRequest) -> str | None:
    if "Idempotency-Key" not in request.headers:
        return None
    key = str(request.headers["Idempotency-Key"]).strip()
    if not key or len(key) > _MAX_KEY or not all(" " <= ch <= "~" for ch in key):
        raise ApiError(400, "invalid_idempotency_key")
    return key


def _field_error(code: str, message: str) -> list[dict[str, str]]:
    return [{"code": code, "message": message}]


def _form_errors(form: CardForm | SavedCardForm) -> FieldErrors:
    fields: FieldErrors = {}
    for name, errors in form.errors.as_data().items():
        key = name if name != "__all__" else "non_field"
        fields[key] = [
            {"code": str(error.code or "invalid"), "message": " ".join(map(str, error))}
            for error in errors
        ]
    return fields


@sensitive_variables("data", "raw")
def _validated(request: HttpRequest, order: Order, data: dict[str, Any]) -> dict[str, Any]:
    """The payment request's fields, checked; ApiError 400 with per-field errors."""
    if CARD_FIELDS & set(data):
        raise ApiError(400, "card_data_not_accepted")
    fields: FieldErrors = {}
    for name in sorted(set(data) - PAYMENT_FIELDS, key=str):
        fields[str(name)[:50]] = _field_error("unknown", _("Unknown field."))
    for name in ("se_token", "cardholder_name", "saved_card", "return_url"):
        if name in data and not isinstance(data[name], str):
            fields[name] = _field_error("type", _("This field must be a string."))
    if "save_card" in data and not isinstance(data["save_card"], bool):
        fields["save_card"] = _field_error("type", _("This field must be true or false."))
    if not fields and not data.get("se_token"):
        fields["se_token"] = _field_error(
            "required", _("Encrypt the card details into se_token in the browser.")
        )
    return_url = ""
    if not fields and data.get("return_url"):
        try:
            return_url = check_return_url(request, data["return_url"])
        except ValueError:
            fields["return_url"] = _field_error("not_allowed", _("This return URL is not allowed."))
    if fields:
        raise ApiError(400, "validation_failed", fields=fields)
    form: CardForm | SavedCardForm
    if data.get("saved_card"):
        usable = saved_cards.shopper_cards(_wallet(order)).usable
        form = SavedCardForm(
            {"saved_card": data["saved_card"], "se_token": data["se_token"]},
            cards=usable,
            ask_cvc=bool(checkout_settings.SAVED_CARDS["ask_cvc"]),
        )
    else:
        form = CardForm(
            {"se_token": data["se_token"], "cardholder_name": data.get("cardholder_name", "")}
        )
    if not form.is_valid():
        raise ApiError(400, "validation_failed", fields=_form_errors(form))
    cleaned = dict(form.cleaned_data)
    cleaned["return_url"] = return_url
    cleaned["save_card"] = bool(data.get("save_card"))
    return cleaned


def _replay(submission: ApiSubmission, fingerprint: str) -> HttpResponse:
    if submission.fingerprint != fingerprint:
        raise ApiError(400, "idempotency_key_reused")
    if submission.response_status is None:
        raise ApiError(409, "idempotency_key_in_use", headers={"Retry-After": "1"})
    response = JsonResponse(submission.response_body, status=submission.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _blocked(order: Order, blocking: Payment | None, reason: str = "") -> ApiError:
    if blocking is not None:
        if blocking.status in SECURED_STATUSES:
            reason = OrderNotPayable.PAID
        elif blocking.status == S.NEEDS_REVIEW:
            reason = OrderNotPayable.REVIEW
        else:
            reason = OrderNotPayable.IN_PROGRESS
    code = {
        OrderNotPayable.PAID: "order_paid",
        OrderNotPayable.REVIEW: "order_in_review",
    }.get(reason, "payment_in_progress")
    extra = {"payment": payment_json(blocking)} if blocking is not None else {}
    return ApiError(409, code, extra=extra)


@api_view("POST")
@sensitive_variables()
def payments(request: HttpRequest, order_id: Any) -> HttpResponse:
    """Pay the order with a seToken (a new card, or a saved card's bindingId and CVC)."""
    found, secret = _authorised(request, order_id)
    key = _idempotency_key(request)
    data, raw = _read_json(request)
    fingerprint = hashlib.sha256(raw).hexdigest()
    if key is not None:
        earlier = ApiSubmission.objects.filter(secret=secret, idempotency_key=key).first()
        if earlier is not None:
            return _replay(earlier, fingerprint)
    cleaned = _validated(request, found, data)
    if found.is_expired and paying.blocking_payment(found) is None:
        raise ApiError(410, "order_expired")
    # Peek only, as the card page does: a request that finds an attempt already running
    # or a paid order must not use up the shopper's allowance.
    refusal = check_payment_attempt(request, found, peek=True)
    if refusal:
        blocking = paying.blocking_payment(found)
        if blocking is not None:
            raise _blocked(found, blocking)
        raise _too_many(refusal)
    # A misconfigured gateway fails here, before an attempt is claimed for nothing.
    get_client()
    try:
        with transaction.atomic():
            submission = ApiSubmission.objects.create(
                secret=secret,
                idempotency_key=key,
                fingerprint=fingerprint,
                return_url=cleaned["return_url"],
            )
    except IntegrityError:
        # The same key, at the same moment, from another request.
        earlier = ApiSubmission.objects.filter(secret=secret, idempotency_key=key).first()
        if earlier is None:
            raise ApiError(409, "idempotency_key_in_use", headers={"Retry-After": "1"}) from None
        return _replay(earlier, fingerprint)
    try:
        response = _pay(request, found, secret, submission, cleaned)
    except BaseException:
        if submission.payment_id is None:
            submission.delete()
        raise
    if submission.payment_id is None:
        # Nothing was attempted: a retry with the same key is a new request.
        submission.delete()
    elif key is not None:
        ApiSubmission.objects.filter(pk=submission.pk).update(
            response_status=response.status_code, response_body=json.loads(response.content)
        )
    return response


def _too_many(message: str) -> ApiError:
    window = int(checkout_settings.RATE_LIMITS["window"])
    return ApiError(
        429, "too_many_attempts", message=message, headers={"Retry-After": str(max(window, 1))}
    )


@sensitive_variables()
def _pay(
    request: HttpRequest,
    order: Order,
    secret: ClientSecret,
    submission: ApiSubmission,
    cleaned: dict[str, Any],
) -> HttpResponse:
    saved_card: SavedCard | None = cleaned.get("card")
    wallet = None
    tii = ""
    if saved_card is not None:
        tii = "F"
    elif cleaned["save_card"] or order.recurrence:
        wallet = _wallet(order)
        if wallet is not None:
            tii = paying.SAVING_TII.get(order.recurrence, "CI")

    def claimed(payment: Payment) -> None:
        submission.payment = payment
        submission.save(update_fields=["payment"])
        extend_for_payment(secret)

    outcome = paying.pay(
        request,
        order,
        se_token=cleaned["se_token"],
        cardholder_name=cleaned.get("cardholder_name", ""),
        wallet=wallet,
        saved_card=saved_card,
        tii=tii,
        claimed=claimed,
    )
    attempt = outcome.payment
    if outcome.kind == outcome.EXPIRED:
        raise ApiError(410, "order_expired")
    if outcome.kind == outcome.BLOCKED:
        raise _blocked(order, attempt, outcome.reason)
    if outcome.kind == outcome.LIMITED:
        # The attempt was given up before anything was sent: answer as if never claimed.
        submission.payment = None
        raise _too_many(outcome.message)
    if outcome.kind == outcome.UNAVAILABLE or attempt is None:
        # Nothing reached the gateway: the same request may simply be sent again.
        submission.payment = None
        extra = {"payment": payment_json(attempt)} if attempt is not None else {}
        raise ApiError(503, "gateway_unavailable", extra=extra, headers={"Retry-After": "30"})
    return JsonResponse({"payment": payment_json(attempt, result=outcome.result)})


# --- the document and the rest ---------------------------------------------------------------


@api_view("GET")
def openapi(request: HttpRequest) -> HttpResponse:
    """The OpenAPI 3.1 document of this API."""
    root = request.build_absolute_uri(reverse("jcc_checkout:api_openapi")).rsplit("/", 1)[0]
    return JsonResponse(schema.document(server_url=root))


@api_view("GET", "POST", "PUT", "PATCH", "DELETE")
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under the API: a JSON 404."""
    raise ApiError(404, "not_found")
