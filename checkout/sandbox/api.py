"""The gateway's REST methods, in JCC's wire format (API-NOTES §§2, 4, 6, 7).

The quirks are kept on purpose, so a client that copes with the sandbox copes with the
real gateway: ``errorCode`` is the string "0" in instantPayment.do and
getOrderStatusExtended.do but a number in deposit/reverse/refund; instantPayment's
``orderStatus`` block has capitalised keys; errors of instantPayment.do carry ``error``,
the other methods ``errorMessage``.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from checkout.sandbox import crypto, defaults, faults, processing, wan
from checkout.sandbox.cards import ISO_CODES, card_for, luhn_valid
from checkout.sandbox.conf import sandbox_active, sandbox_settings
from checkout.sandbox.models import Merchant, Operation, Order, OrderStatus
from checkout.sandbox.money import currency_by_number
from checkout.sandbox.processing import ProcessingError

__all__ = [
    "INSTANT",
    "OPERATION",
    "PAYMENT_STATES",
    "SENSITIVE",
    "STATUS",
    "SUCCESS",
    "Call",
    "Handler",
    "Style",
    "deposit",
    "instant_payment",
    "json_response",
    "keys",
    "order_status",
    "refund",
    "rest_method",
    "reverse_order",
    "status_payload",
]

S = OrderStatus

#: Request fields that hold card data or secrets: never shown in Django's error reports.
SENSITIVE = ("password", "pan", "cvc", "expiry", "seToken", "token")

_HTML = re.compile(r"<\s*[a-zA-Z/!?]")
_HOLDER = re.compile(r"^[A-Za-z .'\-]{2,45}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")

PAYMENT_STATES = {
    S.REGISTERED: "CREATED",
    S.ACS_STARTED: "CREATED",
    S.APPROVED: "APPROVED",
    S.DEPOSITED: "DEPOSITED",
    S.REVERSED: "REVERSED",
    S.REFUNDED: "REFUNDED",
    S.DECLINED: "DECLINED",
}


def json_response(data: Mapping[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(data, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json;charset=UTF-8",
    )


@dataclass
class Call:
    """One REST call being served: the merchant and what the handler learnt on the way."""

    request: HttpRequest
    merchant: Merchant
    params: Mapping[str, str]
    card_fault: str = ""


class Style:
    """How a REST method spells its errors."""

    def __init__(self, *, string_code: bool, message_key: str) -> None:
        self.string_code = string_code
        self.message_key = message_key

    def error(self, code: int, message: str) -> dict[str, Any]:
        return {"errorCode": str(code) if self.string_code else code, self.message_key: message}


INSTANT = Style(string_code=True, message_key="error")
STATUS = Style(string_code=True, message_key="errorMessage")
OPERATION = Style(string_code=False, message_key="errorMessage")


def _authenticate(params: Mapping[str, str]) -> Merchant:
    login, password = params.get("userName", ""), params.get("password", "")
    if params.get("token"):
        raise ProcessingError(5, "Access denied")
    if not login:
        raise ProcessingError(4, "User name is empty")
    if not password:
        raise ProcessingError(4, "Password is empty")
    merchant = Merchant.objects.filter(login=login).first()
    if merchant is None and login == defaults.MERCHANT_LOGIN:
        merchant = Merchant.objects.default()
    if merchant is None or not hmac.compare_digest(merchant.password.encode(), password.encode()):
        raise ProcessingError(5, "Access denied")
    return merchant


Handler = Callable[[Call], dict[str, Any]]


def rest_method(name: str, style: Style) -> Callable[[Handler], Callable[..., HttpResponseBase]]:
    """Serve a REST method: POST only, authentication, faults, the method's error style."""

    def decorate(handler: Handler) -> Callable[..., HttpResponseBase]:
        @csrf_exempt
        @never_cache
        @sensitive_post_parameters(*SENSITIVE)
        @functools.wraps(handler)
        def view(request: HttpRequest) -> HttpResponseBase:
            if not sandbox_active():
                raise Http404("The sandbox gateway is not active.")
            # The simulated network between shop and gateway (nothing unless configured).
            with wan.network(request.META):
                return serve(request)

        def serve(request: HttpRequest) -> HttpResponseBase:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            params = request.POST
            # PostgreSQL text cannot hold NUL: refused here, before any query sees it.
            for key, values in params.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    return json_response(style.error(5, f"Invalid value of {key!r}"))
            try:
                merchant = _authenticate(params)
            except ProcessingError as err:
                return json_response(style.error(err.code, err.message))
            fault = faults.request_fault(merchant, name, params)
            spoilt = faults.answer_before(fault)
            if spoilt is not None:
                return spoilt
            call = Call(request=request, merchant=merchant, params=params)
            try:
                data = handler(call)
            except ProcessingError as err:
                data = style.error(err.code, err.message)
            response = json_response(data)
            fault = fault if fault in faults.AFTER else call.card_fault
            spoilt_after = faults.answer_after(fault, request, response.content)
            return spoilt_after if spoilt_after is not None else response

        return view

    return decorate


# --- validation helpers -----------------------------------------------------------------------


def _digits(value: str, *, max_length: int) -> bool:
    return value.isascii() and value.isdigit() and 1 <= len(value) <= max_length


def _absolute_url(value: str) -> bool:
    if len(value) > 512:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _amount(params: Mapping[str, str], *, required: bool = True) -> int | None:
    raw = params.get("amount", "").strip()
    if not raw:
        if required:
            raise ProcessingError(4, "Amount is empty")
        return None
    if not _digits(raw, max_length=12):
        raise ProcessingError(5, "Invalid amount")
    return int(raw)


def _currency(raw: str) -> str:
    if currency_by_number(raw) is None:
        raise ProcessingError(3, "Unknown currency")
    return raw


def _reject_html(params: Mapping[str, str]) -> None:
    for key in params:
        if _HTML.search(params[key]):
            raise ProcessingError(5, f"Invalid value of {key}: markup is not allowed")


def _order(call: Call) -> Order:
    """The merchant's order named by orderId (preferred) or orderNumber."""
    order_id = call.params.get("orderId", "").strip()
    order_number = call.params.get("orderNumber", "").strip()
    orders = Order.objects.filter(merchant=call.merchant).select_related("merchant")
    if order_id:
        try:
            key = uuid.UUID(order_id)
        except ValueError:
            raise ProcessingError(6, "Unknown order id") from None
        order = orders.filter(pk=key).first()
    elif order_number:
        order = orders.filter(order_number=order_number).first()
    else:
        raise ProcessingError(1, "Expected orderId or orderNumber")
    if order is None:
        raise ProcessingError(6, "Unknown order id")
    return processing.expire_if_due(order)


def _ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value else None


# --- instantPayment.do ------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class _Card:
    pan: str
    expiry: str
    cardholder_name: str
    setoken_uuid: str | None

    def __repr__(self) -> str:
        return "<card>"


def _card(call: Call) -> _Card:
    params = call.params
    holder = (params.get("cardHolderName") or params.get("cardholderName") or "").strip()
    token = params.get("seToken", "").strip()
    if token and params.get("pan"):
        raise ProcessingError(5, "Send either the card data or a seToken")
    if params.get("bindingId"):
        raise ProcessingError(5, "Stored credentials (bindingId) are not supported")
    setoken_uuid = None
    if token:
        if len(token) > 8192:
            raise ProcessingError(5, "Invalid seToken")
        try:
            decrypted = crypto.decrypt_setoken(token)
        except crypto.SeTokenError as err:
            raise ProcessingError(5, f"Invalid seToken: {err}") from None
        pan, cvc, expiry = decrypted.pan, decrypted.cvc, decrypted.expiry
        holder = holder or decrypted.cardholder_name
        setoken_uuid = decrypted.token_uuid
    else:
        pan = params.get("pan", "").strip()
        cvc = params.get("cvc", "").strip()
        expiry = params.get("expiry", "").strip()
        if not pan:
            raise ProcessingError(5, "Card number (pan) is empty")
    if not (13 <= len(pan) <= 19 and luhn_valid(pan)):
        raise ProcessingError(5, "Invalid card number")
    if not (len(expiry) == 6 and expiry.isascii() and expiry.isdigit()):
        raise ProcessingError(5, "Invalid expiry: expected YYYYMM")
    year, month = int(expiry[:4]), int(expiry[4:])
    today = timezone.now()
    if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
        raise ProcessingError(5, "Invalid expiry: the card has expired")
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) in (3, 4)):
        raise ProcessingError(5, "Invalid CVC")
    if holder and not _HOLDER.match(holder):
        raise ProcessingError(5, "Invalid cardholder name")
    card = card_for(pan)
    if card is not None and card.fault:
        call.card_fault = card.fault
    return _Card(pan=pan, expiry=expiry, cardholder_name=holder, setoken_uuid=setoken_uuid)


def _new_order(params: Mapping[str, str]) -> processing.NewOrder:
    _reject_html(params)
    order_number = params.get("orderNumber", "").strip()
    if not order_number:
        raise ProcessingError(4, "Order number is empty")
    if len(order_number) > 36:
        raise ProcessingError(1, "Invalid order number")
    amount = _amount(params)
    if not amount:
        raise ProcessingError(5, "Invalid amount")
    currency = _currency(params.get("currency", "").strip() or "978")
    back_url = (params.get("backUrl") or params.get("returnUrl") or "").strip()
    if not back_url:
        raise ProcessingError(4, "Return URL is empty")
    if not _absolute_url(back_url):
        raise ProcessingError(4, "The return URL is invalid")
    fail_url = params.get("failUrl", "").strip()
    if fail_url and not _absolute_url(fail_url):
        raise ProcessingError(4, "The fail URL is invalid")
    callback_url = params.get("dynamicCallbackUrl", "").strip()
    if callback_url and not _absolute_url(callback_url):
        raise ProcessingError(5, "Invalid dynamicCallbackUrl")
    language = params.get("language", "").strip() or "en"
    if not _LANGUAGE.match(language):
        raise ProcessingError(5, "Wrong language")
    description = params.get("description", "")
    if len(description) > 598:
        raise ProcessingError(5, "Description is too long")
    preauth_raw = params.get("preAuth", "").strip().lower()
    if preauth_raw not in ("", "true", "false"):
        raise ProcessingError(5, "Invalid preAuth")
    timeout_raw = params.get("sessionTimeoutSecs", "").strip()
    if timeout_raw and not (_digits(timeout_raw, max_length=9) and int(timeout_raw) > 0):
        raise ProcessingError(5, "Invalid sessionTimeoutSecs")
    json_params: dict[str, str] = {}
    if params.get("jsonParams"):
        try:
            loaded = json.loads(params["jsonParams"])
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            raise ProcessingError(5, "Invalid jsonParams")
        json_params = {str(key): str(value) for key, value in loaded.items()}
        # "\u0000" arrives escaped, past the check for NUL in the raw parameters.
        if any("\x00" in key + value for key, value in json_params.items()):
            raise ProcessingError(5, "Invalid jsonParams")
    email = params.get("email", "").strip()
    ip = params.get("ip", "").strip()
    client_id = params.get("clientId", "").strip()
    if len(email) > 40 or len(ip) > 39 or len(client_id) > 255:
        raise ProcessingError(5, "Invalid email, ip or clientId")
    return processing.NewOrder(
        order_number=order_number,
        amount=amount,
        currency=currency,
        description=description,
        language=language,
        back_url=back_url,
        fail_url=fail_url,
        preauth=preauth_raw == "true",
        session_timeout=int(timeout_raw or sandbox_settings.SESSION_TIMEOUT),
        ip=ip,
        email=email,
        client_id=client_id,
        json_params=json_params,
        dynamic_callback_url=callback_url,
    )


def _order_status_block(order: Order) -> dict[str, Any]:
    """instantPayment's ``orderStatus`` object, capitalised keys included."""
    declined = order.status == S.DECLINED
    block: dict[str, Any] = {
        "expiration": order.expiration,
        "cardholderName": order.cardholder_name,
        "depositAmount": order.deposited_amount,
        "approvedAmount": order.approved_amount,
        "currency": order.currency,
    }
    if order.approval_code:
        block["approvalCode"] = order.approval_code
    block["authCode"] = 2
    if order.action_code != -100:
        block["actionCode"] = order.action_code
        block["originalActionCode"] = ISO_CODES.get(order.action_code, "05")
    if order.auth_ref_num:
        block["rrn"] = order.auth_ref_num
    block.update(
        {
            "ErrorCode": "2" if declined else "0",
            "ErrorMessage": "Payment is declined" if declined else "Success",
            "OrderStatus": order.status,
            "OrderNumber": order.order_number,
            "Pan": order.masked_pan,
            "Amount": order.amount,
            "Ip": order.ip,
        }
    )
    return block


@rest_method("instantPayment.do", INSTANT)
def instant_payment(call: Call) -> dict[str, Any]:
    new = _new_order(call.params)
    card = _card(call)
    if call.card_fault == "latency":
        faults.delay()
    order = processing.register_and_pay(
        call.merchant,
        new,
        pan=card.pan,
        expiry=card.expiry,
        cardholder_name=card.cardholder_name,
        setoken_uuid=card.setoken_uuid or "",
    )
    data: dict[str, Any] = {
        "errorCode": "0",
        "orderNumber": order.order_number,
        "orderId": str(order.id),
    }
    if order.awaiting_3ds:
        acs = reverse("checkout_sandbox:acs")
        data["info"] = "Your order is proceeded, redirecting..."
        data["acsUrl"] = call.request.build_absolute_uri(
            f"{acs}?mdOrder={order.id}&threeDsServerTransId={order.three_ds_trans_id}"
        )
        # JCC's answer carries these literal placeholders: its ACS page ignores them.
        data["paReq"] = "White page paReq"
        data["termUrl"] = "White page termUrl"
        data["is3DSVer2"] = False
    elif order.status == S.DECLINED:
        data["info"] = "Operation declined. Contact the bank that issued the card. Redirecting..."
        data["redirect"] = processing.finish_url(order)
    else:
        data["info"] = "Your order is proceeded, redirecting..."
        data["redirect"] = processing.finish_url(order)
    # Like JCC's published answer without 3-D Secure: no 3-D Secure field at all.
    data["orderStatus"] = _order_status_block(order)
    return data


# --- getOrderStatusExtended.do ----------------------------------------------------------------


def status_payload(order: Order) -> dict[str, Any]:
    """The full getOrderStatusExtended.do answer for an order (API-NOTES §4.2)."""
    data: dict[str, Any] = {
        "errorCode": "0",
        "errorMessage": "Success",
        "orderNumber": order.order_number,
        "orderStatus": order.status,
        "actionCode": order.action_code,
        "actionCodeDescription": processing.action_description(order),
        "amount": order.amount,
        "currency": order.currency,
        "date": _ms(order.created_at),
        "orderDescription": order.description,
        "ip": order.ip,
        "merchantOrderParams": [
            {"name": name, "value": value} for name, value in order.json_params.items()
        ],
        "transactionAttributes": [],
        "attributes": [{"name": "mdOrder", "value": str(order.id)}],
    }
    if order.masked_pan:
        card: dict[str, Any] = {
            "maskedPan": order.masked_pan,
            "expiration": order.expiration,
            "cardholderName": order.cardholder_name,
            "approvalCode": order.approval_code,
            "paymentSystem": order.payment_system,
            "product": "CLASSIC",
            "pan": order.masked_pan,
        }
        if order.eci:
            card["secureAuthInfo"] = {"eci": order.eci}
        data["cardAuthInfo"] = card
    if order.client_id:
        data["bindingInfo"] = {"clientId": order.client_id}
    for key, value in (
        ("authDateTime", order.auth_at),
        ("depositedDate", order.deposited_at),
        ("reversedDate", order.reversed_at),
        ("refundedDate", order.refunded_at),
    ):
        if value:
            data[key] = _ms(value)
    data["terminalId"] = "12345678"
    if order.auth_ref_num:
        data["authRefNum"] = order.auth_ref_num
    data["paymentAmountInfo"] = {
        "paymentState": PAYMENT_STATES[S(order.status)],
        "approvedAmount": order.approved_amount,
        "depositedAmount": order.deposited_amount,
        "refundedAmount": order.refunded_amount,
        "totalAmount": order.amount,
        "feeAmount": 0,
    }
    data["bankInfo"] = {"bankCountryCode": "UNKNOWN", "bankCountryName": "Unknown"}
    data["chargeback"] = False
    data["paymentWay"] = "CARD"
    if order.email:
        data["payerData"] = {"email": order.email}
    data["refunds"] = [
        {
            "date": _ms(op.created_at),
            "externalRefundId": op.external_refund_id,
            "approvalCode": op.approval_code,
            "actionCode": "000",
            "referenceNumber": op.reference_number,
            "amount": op.amount,
        }
        for op in order.operations.all()
        if op.kind == Operation.Kind.REFUND
    ]
    return data


@rest_method("getOrderStatusExtended.do", STATUS)
def order_status(call: Call) -> dict[str, Any]:
    return status_payload(_order(call))


# --- deposit / reverse / refund ---------------------------------------------------------------


def _check_currency(call: Call, order: Order) -> None:
    raw = call.params.get("currency", "").strip()
    if raw and _currency(raw) != order.currency:
        raise ProcessingError(5, "Currency differs from the order's currency")


SUCCESS = {"errorCode": 0, "errorMessage": "Success"}


@rest_method("deposit.do", OPERATION)
def deposit(call: Call) -> dict[str, Any]:
    order = _order(call)
    amount = _amount(call.params)
    _check_currency(call, order)
    processing.deposit(order, amount or 0)
    return dict(SUCCESS)


@rest_method("reverse.do", OPERATION)
def reverse_order(call: Call) -> dict[str, Any]:
    order = _order(call)
    amount = _amount(call.params, required=False)
    _check_currency(call, order)
    processing.reverse(order, amount)
    return dict(SUCCESS)


@rest_method("refund.do", OPERATION)
def refund(call: Call) -> dict[str, Any]:
    order = _order(call)
    amount = _amount(call.params)
    _check_currency(call, order)
    refund_id = call.params.get("externalRefundId", "").strip()
    if len(refund_id) > 32:
        raise ProcessingError(5, "Invalid externalRefundId")
    expected_raw = call.params.get("expectedDepositedAmount", "").strip()
    if expected_raw and not _digits(expected_raw, max_length=12):
        raise ProcessingError(5, "Invalid expectedDepositedAmount")
    processing.refund(
        order,
        amount or 0,
        external_refund_id=refund_id or None,
        expected_deposited_amount=int(expected_raw) if expected_raw else None,
    )
    return dict(SUCCESS)


# --- se/keys.do -------------------------------------------------------------------------------


@csrf_exempt
@never_cache
def keys(request: HttpRequest) -> HttpResponse:
    """The public key(s) for seToken encryption, in the documented format."""
    if not sandbox_active():
        raise Http404("The sandbox gateway is not active.")
    with wan.network(request.META):
        return _keys_answer()


def _keys_answer() -> HttpResponse:
    key = crypto.current_key()
    return json_response(
        {
            "keys": [
                {
                    "keyValue": crypto.published_key_value(key),
                    "protocolVersion": "RSA",
                    "keyExpiration": _ms(key.expires_at),
                }
            ]
        }
    )
