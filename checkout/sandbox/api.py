"""The gateway's REST methods, in JCC's wire format (API-NOTES §§2, 4, 6, 7).

The quirks are kept on purpose, so a client that copes with the sandbox copes with the
real gateway: ``errorCode`` is the string "0" in instantPayment.do,
getOrderStatusExtended.do, register.do and the binding methods, but a number in
deposit/reverse/refund and paymentOrderBinding.do, as in the published examples (the
merchant's ``flip_error_code_type`` switch answers every method with the other type);
instantPayment's ``orderStatus`` block has capitalised keys; errors of instantPayment.do
and paymentOrderBinding.do carry ``error`` (and ``errorMessage``, the same text), the
other methods ``errorMessage``.
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
from checkout.sandbox.cards import ISO_CODES, luhn_valid
from checkout.sandbox.conf import sandbox_active, sandbox_settings
from checkout.sandbox.models import Binding, Merchant, Operation, Order, OrderStatus
from checkout.sandbox.money import currency_by_number
from checkout.sandbox.processing import ProcessingError

__all__ = [
    "BINDINGS",
    "INSTANT",
    "OPERATION",
    "PAYMENT_STATES",
    "PAY_BINDING",
    "SENSITIVE",
    "STATUS",
    "SUCCESS",
    "TERMINAL_ID",
    "Call",
    "Handler",
    "Style",
    "bind_card",
    "deposit",
    "extend_binding",
    "flip_error_code",
    "get_bindings",
    "instant_payment",
    "json_response",
    "keys",
    "order_status",
    "payment_order_binding",
    "refund",
    "register",
    "rest_method",
    "reverse_order",
    "status_payload",
    "unbind_card",
]

S = OrderStatus

#: Request fields that hold card data or secrets: never shown in Django's error reports.
SENSITIVE = ("password", "pan", "cvc", "expiry", "seToken", "token")

#: The sandbox's one terminal, as status answers and bindingInfo name it.
TERMINAL_ID = "12345678"

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
    """How a REST method spells its errors: errorCode's JSON type, the message key(s)."""

    def __init__(self, *, string_code: bool, message_keys: tuple[str, ...]) -> None:
        self.string_code = string_code
        self.message_keys = message_keys

    def code(self, code: int) -> str | int:
        return str(code) if self.string_code else code

    def error(self, code: int, message: str) -> dict[str, Any]:
        data: dict[str, Any] = {"errorCode": self.code(code)}
        data.update(dict.fromkeys(self.message_keys, message))
        return data

    def ok(self) -> dict[str, Any]:
        return {"errorCode": self.code(0), "errorMessage": "Success"}


# instantPayment.do documents ``error``; third-party clients read ``errorMessage``, which
# the real gateway's errors carry too: both, the same text.
INSTANT = Style(string_code=True, message_keys=("error", "errorMessage"))
STATUS = Style(string_code=True, message_keys=("errorMessage",))
OPERATION = Style(string_code=False, message_keys=("errorMessage",))
#: getBindings/unBindCard/bindCard/extendBinding (and register.do): "0" as in the examples.
BINDINGS = STATUS
#: paymentOrderBinding.do answers like paymentorder.do: a number, errors in ``error``.
PAY_BINDING = Style(string_code=False, message_keys=("error", "errorMessage"))


def flip_error_code(data: dict[str, Any]) -> dict[str, Any]:
    """errorCode in the other JSON type: "0" becomes 0 and 0 becomes "0"."""
    code = data.get("errorCode")
    if isinstance(code, str) and code.lstrip("-").isdigit():
        data["errorCode"] = int(code)
    elif isinstance(code, int):
        data["errorCode"] = str(code)
    return data


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
            if merchant.flip_error_code_type:
                data = flip_error_code(data)
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
    orders = Order.objects.filter(merchant=call.merchant).select_related("binding")
    if order_id:
        try:
            key = uuid.UUID(order_id)
        except ValueError:
            raise ProcessingError(6, "Unknown order id") from None
        found = list(orders.filter(pk=key)[:1])
    elif order_number:
        # Unique per merchant: no ordering needed to pick one.
        found = list(orders.filter(order_number=order_number)[:1])
    else:
        raise ProcessingError(1, "Expected orderId or orderNumber")
    if not found:
        raise ProcessingError(6, "Unknown order id")
    order = found[0]
    order.merchant = call.merchant  # the row the query matched: no join for it
    return processing.expire_if_due(order)


def _ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value else None


# --- instantPayment.do ------------------------------------------------------------------------


#: Transaction initiator values (API-NOTES §2.1): empty = plain customer-initiated.
_TII = frozenset({"", "CI", "F", "U", "RI", "R", "II", "I"})
#: First payments that store the card: they need a clientId.
_INITIAL_TII = frozenset({"CI", "RI", "II"})
#: Payments on stored credentials, which name the first payment (else a regular payment).
_STORED_TII = frozenset({"F", "U", "R", "I"})
#: Of those, the merchant-initiated ones: no CVC, no 3-D Secure, one phase.
_MERCHANT_TII = frozenset({"U", "R", "I"})


@dataclass(frozen=True)
class _Initiator:
    tii: str
    merchant_initiated: bool


def _initiator(params: Mapping[str, str]) -> _Initiator:
    """The tii and whether it counts: U/R/I/F without originalPaymentNetRefNum and
    originalPaymentDate are processed as a regular payment."""
    tii = params.get("tii", "").strip()
    if tii not in _TII:
        raise ProcessingError(5, "Invalid tii")
    net_ref = params.get("originalPaymentNetRefNum", "").strip()
    date = params.get("originalPaymentDate", "").strip()
    if len(net_ref) > 36:
        raise ProcessingError(5, "Invalid originalPaymentNetRefNum")
    if date and not _digits(date, max_length=15):
        raise ProcessingError(5, "Invalid originalPaymentDate: expected Unix time in ms")
    stored = tii in _STORED_TII and bool(net_ref) and bool(date)
    return _Initiator(tii=tii, merchant_initiated=stored and tii in _MERCHANT_TII)


def _boolean(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ProcessingError(5, f"Invalid {name}")
    return raw == "true"


def _active_binding(call: Call, raw_id: str, client_id: str = "") -> Binding:
    """The merchant's active binding named by ``raw_id`` (errorCode 2 otherwise)."""
    binding = _binding(call, raw_id)
    if not binding.active:
        raise ProcessingError(2, "Binding is not active")
    if client_id and client_id != binding.client_id:
        raise ProcessingError(2, "Binding belongs to another clientId")
    return binding


def _binding(call: Call, raw_id: str) -> Binding:
    raw_id = raw_id.strip()
    if not raw_id:
        raise ProcessingError(4, "bindingId is empty")
    try:
        key = uuid.UUID(raw_id)
    except ValueError:
        raise ProcessingError(2, "Binding not found") from None
    binding = (
        Binding.objects.filter(merchant=call.merchant, pk=key).select_related("merchant").first()
    )
    if binding is None:
        raise ProcessingError(2, "Binding not found")
    return binding


def _check_cvc(cvc: str, initiator: _Initiator) -> None:
    # Merchant-initiated payments on stored credentials are made without the shopper.
    if initiator.merchant_initiated and not cvc:
        return
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) in (3, 4)):
        raise ProcessingError(5, "Invalid CVC")


@dataclass(frozen=True, repr=False)
class _Payment:
    card: processing.ChargeCard
    cardholder_name: str
    setoken_uuid: str | None
    bind: bool

    def __repr__(self) -> str:
        return "<payment>"


def _payment_card(call: Call, initiator: _Initiator, client_id: str) -> _Payment:
    """The card of an instantPayment.do: PAN fields, a seToken, or stored credentials.

    A card number wins over a bindingId (API-NOTES §2.1); a seToken pays with a binding
    when its PAN slot is empty and its slot 7 holds the bindingId.
    """
    params = call.params
    holder = (params.get("cardHolderName") or params.get("cardholderName") or "").strip()
    token = params.get("seToken", "").strip()
    if token and params.get("pan"):
        raise ProcessingError(5, "Send either the card data or a seToken")
    setoken_uuid = None
    if token:
        if len(token) > 8192:
            raise ProcessingError(5, "Invalid seToken")
        try:
            decrypted = crypto.decrypt_setoken(token)
        except crypto.SeTokenError as err:
            raise ProcessingError(5, f"Invalid seToken: {err}") from None
        pan, cvc, expiry = decrypted.pan, decrypted.cvc, decrypted.expiry
        cvc = cvc or params.get("cvc", "").strip()
        binding_id = decrypted.binding_id
        holder = holder or decrypted.cardholder_name
        setoken_uuid = decrypted.token_uuid
    else:
        pan = params.get("pan", "").strip()
        cvc = params.get("cvc", "").strip()
        expiry = params.get("expiry", "").strip()
        binding_id = params.get("bindingId", "").strip()
        if not pan and not binding_id:
            raise ProcessingError(5, "Card number (pan) is empty")
    if holder and not _HOLDER.match(holder):
        raise ProcessingError(5, "Invalid cardholder name")
    not_needed = _boolean(params, "bindingNotNeeded")
    if initiator.tii in _INITIAL_TII:
        if not client_id:
            raise ProcessingError(5, f"tii={initiator.tii} stores the card: clientId is required")
        if not_needed:
            raise ProcessingError(5, f"tii={initiator.tii} stores the card: bindingNotNeeded")
    if not pan:
        if initiator.tii in _INITIAL_TII:
            raise ProcessingError(5, f"tii={initiator.tii} is a first payment, not a binding's")
        binding = _active_binding(call, binding_id, client_id)
        _check_cvc(cvc, initiator)
        card = processing.card_from_binding(binding)
        call.card_fault = card.fault
        return _Payment(card, holder, setoken_uuid, bind=False)
    if not (13 <= len(pan) <= 19 and luhn_valid(pan)):
        raise ProcessingError(5, "Invalid card number")
    if not (len(expiry) == 6 and expiry.isascii() and expiry.isdigit()):
        raise ProcessingError(5, "Invalid expiry: expected YYYYMM")
    year, month = int(expiry[:4]), int(expiry[4:])
    today = timezone.now()
    if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
        raise ProcessingError(5, "Invalid expiry: the card has expired")
    _check_cvc(cvc, initiator)
    card = processing.card_from_pan(pan, expiry)
    call.card_fault = card.fault
    return _Payment(card, holder, setoken_uuid, bind=bool(client_id) and not not_needed)


class _JsonNumber(str):
    """A number of jsonParams, kept as the text it was sent as."""

    __slots__ = ()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_text(value: Any) -> str:
    """A JSON value written back as JSON text: ``true``, ``1.50``, ``{"a":1}``."""
    if isinstance(value, _JsonNumber):
        return str(value)
    if isinstance(value, dict):
        items = (json.dumps(k, ensure_ascii=False) + ":" + _json_text(v) for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _param_pairs(stored: Any) -> list[tuple[str, str]]:
    """An order's jsonParams as stored: a list of [name, value] pairs (an object in rows
    written before the order was kept)."""
    if isinstance(stored, dict):
        return [(str(name), str(value)) for name, value in stored.items()]
    if isinstance(stored, list):
        return [(str(pair[0]), str(pair[1])) for pair in stored if len(pair) == 2]
    return []


def _json_params(raw: str) -> dict[str, str]:
    """jsonParams as the gateway echoes them in merchantOrderParams: strings as they are,
    every other value as its JSON text (``true``, not Python's ``True``; numbers as sent)."""
    try:
        loaded = json.loads(
            raw, parse_int=_JsonNumber, parse_float=_JsonNumber, parse_constant=_no_constant
        )
    except ValueError:
        loaded = None
    if not isinstance(loaded, dict):
        raise ProcessingError(5, "Invalid jsonParams")
    return {
        str(key): value
        if isinstance(value, str) and not isinstance(value, _JsonNumber)
        else _json_text(value)
        for key, value in loaded.items()
    }


def _new_order(params: Mapping[str, str], *, payment: bool = True) -> processing.NewOrder:
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
    preauth = _boolean(params, "preAuth") if payment else False
    timeout_raw = params.get("sessionTimeoutSecs", "").strip()
    if timeout_raw and not (_digits(timeout_raw, max_length=9) and int(timeout_raw) > 0):
        raise ProcessingError(5, "Invalid sessionTimeoutSecs")
    json_params: dict[str, str] = {}
    if params.get("jsonParams"):
        json_params = _json_params(params["jsonParams"])
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
        preauth=preauth,
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
    if order.net_ref_num and order.succeeded:
        block["paymentNetRefNum"] = order.net_ref_num
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
    """Register and pay in one call, with a card, a seToken or stored credentials.

    With a clientId an approved card is stored (a binding) unless bindingNotNeeded=true;
    the same card of the same client reuses its active binding.
    """
    new = _new_order(call.params)
    initiator = _initiator(call.params)
    payment = _payment_card(call, initiator, new.client_id)
    if call.card_fault == "latency":
        faults.delay()
    order = processing.register_and_pay(
        call.merchant,
        new,
        card=payment.card,
        cardholder_name=payment.cardholder_name,
        setoken_uuid=payment.setoken_uuid or "",
        tii=initiator.tii,
        merchant_initiated=initiator.merchant_initiated,
        bind=payment.bind,
    )
    data: dict[str, Any] = {
        "errorCode": "0",
        "orderNumber": order.order_number,
        "orderId": str(order.id),
    }
    data.update(_payment_answer(call, order))
    # Like JCC's published answer without 3-D Secure: no 3-D Secure field at all.
    data["orderStatus"] = _order_status_block(order)
    return data


def _payment_answer(call: Call, order: Order) -> dict[str, Any]:
    """Where the shopper goes next: the ACS, or back to the shop."""
    if order.awaiting_3ds:
        acs = reverse("checkout_sandbox:acs")
        return {
            "info": "Your order is proceeded, redirecting...",
            "acsUrl": call.request.build_absolute_uri(
                f"{acs}?mdOrder={order.id}&threeDsServerTransId={order.three_ds_trans_id}"
            ),
            # JCC's answer carries these literal placeholders: its ACS page ignores them.
            "paReq": "White page paReq",
            "termUrl": "White page termUrl",
            "is3DSVer2": False,
        }
    if order.status == S.DECLINED:
        return {
            "info": "Operation declined. Contact the bank that issued the card. Redirecting...",
            "redirect": processing.finish_url(order),
        }
    return {
        "info": "Your order is proceeded, redirecting...",
        "redirect": processing.finish_url(order),
    }


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
            {"name": name, "value": value} for name, value in _param_pairs(order.json_params)
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
    binding = order.binding
    if binding is not None:
        data["bindingInfo"] = {
            "clientId": order.client_id or binding.client_id,
            "bindingId": str(binding.id),
            "authDateTime": _ms(binding.auth_at),
            "authRefNum": binding.auth_ref_num,
            "terminalId": TERMINAL_ID,
        }
    elif order.client_id:
        data["bindingInfo"] = {"clientId": order.client_id}
    for key, value in (
        ("authDateTime", order.auth_at),
        ("depositedDate", order.deposited_at),
        ("reversedDate", order.reversed_at),
        ("refundedDate", order.refunded_at),
    ):
        if value:
            data[key] = _ms(value)
    data["terminalId"] = TERMINAL_ID
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
    # Paid with stored credentials (not a card that was stored by this payment).
    data["paymentWay"] = "CARD_BINDING" if binding is not None and not order.bind_card else "CARD"
    data["tii"] = order.tii
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
        # No refund without a refunded amount: most answers need no query for them.
        for op in (order.operations.all() if order.refunded_amount else ())
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


# --- register.do and stored credentials (bindings) ------------------------------------------


@rest_method("register.do", STATUS)
def register(call: Call) -> dict[str, Any]:
    """Register an order to be paid later (here: by paymentOrderBinding.do).

    The sandbox has no hosted payment page: formUrl shows the order in its console.
    """
    order = processing.register(call.merchant, _new_order(call.params, payment=False))
    page = reverse("checkout_sandbox:order", args=[order.id])
    return {"orderId": str(order.id), "formUrl": call.request.build_absolute_uri(page)}


@rest_method("paymentOrderBinding.do", PAY_BINDING)
def payment_order_binding(call: Call) -> dict[str, Any]:
    """Pay a registered order (status 0) with a binding; like paymentorder.do's answer."""
    params = call.params
    _reject_html(params)
    md_order = params.get("mdOrder", "").strip()
    if not md_order:
        raise ProcessingError(4, "mdOrder is empty")
    try:
        key = uuid.UUID(md_order)
    except ValueError:
        raise ProcessingError(6, "Unknown order id") from None
    order = Order.objects.filter(merchant=call.merchant, pk=key).select_related("merchant").first()
    if order is None:
        raise ProcessingError(6, "Unknown order id")
    initiator = _initiator(params)
    if initiator.tii in _INITIAL_TII:
        raise ProcessingError(5, f"tii={initiator.tii} is a first payment, not a binding's")
    ip = params.get("ip", "").strip()
    if len(ip) > 39:
        raise ProcessingError(5, "Invalid ip")
    binding = _active_binding(call, params.get("bindingId", ""))
    _check_cvc(params.get("cvc", "").strip(), initiator)
    card = processing.card_from_binding(binding)
    call.card_fault = card.fault
    if call.card_fault == "latency":
        faults.delay()
    order = processing.pay_registered(
        order,
        card,
        tii=initiator.tii,
        merchant_initiated=initiator.merchant_initiated,
        ip=ip,
    )
    return {"errorCode": 0, **_payment_answer(call, order)}


@rest_method("getBindings.do", BINDINGS)
def get_bindings(call: Call) -> dict[str, Any]:
    """The client's active bindings; errorCode 2 when there is none, as the gateway does."""
    client_id = call.params.get("clientId", "").strip()
    if not client_id:
        raise ProcessingError(4, "clientId is empty")
    show_expired = _boolean(call.params, "showExpired")
    bindings = [
        binding
        for binding in Binding.objects.filter(
            merchant=call.merchant, client_id=client_id, active=True
        ).order_by("created_at")
        if show_expired or not binding.expired
    ]
    if not bindings:
        raise ProcessingError(2, "No bindings found")
    return {
        **BINDINGS.ok(),
        "bindings": [
            {
                "bindingId": str(binding.id),
                "maskedPan": binding.masked_pan,
                "expiryDate": binding.expiry,
                "paymentSystem": binding.payment_system,
                "clientId": binding.client_id,
            }
            for binding in bindings
        ],
    }


@rest_method("unBindCard.do", BINDINGS)
def unbind_card(call: Call) -> dict[str, Any]:
    """Deactivate a binding; an unknown or inactive one is errorCode 2."""
    processing.unbind_card(_binding(call, call.params.get("bindingId", "")))
    return BINDINGS.ok()


@rest_method("bindCard.do", BINDINGS)
def bind_card(call: Call) -> dict[str, Any]:
    """Reactivate an unbound binding; an unknown or active one is errorCode 2."""
    processing.bind_card(_binding(call, call.params.get("bindingId", "")))
    return BINDINGS.ok()


@rest_method("extendBinding.do", BINDINGS)
def extend_binding(call: Call) -> dict[str, Any]:
    """Set a binding's card expiry (newExpiry, YYYYMM, not in the past)."""
    binding = _binding(call, call.params.get("bindingId", ""))
    new_expiry = call.params.get("newExpiry", "").strip()
    if not (len(new_expiry) == 6 and new_expiry.isascii() and new_expiry.isdigit()):
        raise ProcessingError(5, "Invalid newExpiry: expected YYYYMM")
    today = timezone.now()
    month = int(new_expiry[4:])
    if not 1 <= month <= 12 or new_expiry < f"{today.year:04d}{today.month:02d}":
        raise ProcessingError(5, "Invalid newExpiry")
    processing.extend_binding(binding, new_expiry)
    return BINDINGS.ok()


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
