"""Client of the JCC payment gateway (BPC REST API): the app's only HTTP code.

Every call is a form-encoded POST over one ``requests.Session`` with explicit connect and
read timeouts and TLS verification on. Answers become frozen dataclasses; transport and
HTTP failures become the app's exceptions (see ``checkout.exceptions``). Each HTTP
exchange is recorded as a ``checkout.models.Exchange`` row with secrets redacted.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

import requests
from django.core.signals import setting_changed
from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

import checkout
from checkout.exceptions import GatewayError, GatewayRefused, GatewayUnavailable, OutcomeUnknown
from checkout.money import currency as currency_info
from checkout.redaction import is_masked_pan, redact

if TYPE_CHECKING:
    from checkout.models import Payment

logger = logging.getLogger(__name__)

USER_AGENT = f"django-jcc-checkout/{checkout.__version__}"

#: Errors raised before anything is sent (a misconfigured URL).
_UNSENDABLE = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.URLRequired,
)

#: HTTP statuses that show the gateway did not process the request at all.
_NOT_PROCESSED_STATUSES = frozenset({401, 403, 404, 405, 429})


# --- card data ---------------------------------------------------------------------------


def card_brand(pan: str) -> str:
    """The card scheme guessed from the number's prefix ("" if unknown)."""
    two, four = pan[:2], pan[:4]
    if pan.startswith("4"):
        return "VISA"
    if two in {"34", "37"}:
        return "AMEX"
    if "51" <= two <= "55" or "2221" <= four <= "2720":
        return "MASTERCARD"
    if four == "6011" or two == "65" or "644" <= pan[:3] <= "649":
        return "DISCOVER"
    if two == "62":
        return "CUP"
    if "3528" <= four <= "3589":
        return "JCB"
    if two in {"36", "38"} or "300" <= pan[:3] <= "305":
        return "DINERS"
    if two == "50" or "56" <= two <= "69":
        return "MAESTRO"
    return ""


@dataclass(frozen=True, repr=False)
class CardData:
    """Card details for one payment call; kept in memory only and never shown in full."""

    pan: str
    cvc: str
    expiry: str
    cardholder_name: str = ""

    @sensitive_variables()
    def __post_init__(self) -> None:
        pan = "".join(self.pan.split()).replace("-", "")
        object.__setattr__(self, "pan", pan)
        object.__setattr__(self, "cvc", self.cvc.strip())
        object.__setattr__(self, "expiry", self.expiry.strip())
        object.__setattr__(self, "cardholder_name", " ".join(self.cardholder_name.split()))
        # Error messages name the field only: they may end up in logs.
        if not (pan.isascii() and pan.isdigit() and 12 <= len(pan) <= 19):
            raise ValueError("The card number must be 12 to 19 digits.")
        if self.cvc and not (self.cvc.isascii() and self.cvc.isdigit() and len(self.cvc) in (3, 4)):
            raise ValueError("The security code must be 3 or 4 digits.")
        exp = self.expiry
        if not (len(exp) == 6 and exp.isascii() and exp.isdigit() and 1 <= int(exp[4:]) <= 12):
            raise ValueError("The expiry must be YYYYMM.")

    @property
    def brand(self) -> str:
        return card_brand(self.pan)

    @property
    def masked_pan(self) -> str:
        """First six and last four digits, as the gateway masks numbers."""
        pan = self.pan
        if len(pan) < 13:
            return "*" * (len(pan) - 4) + pan[-4:]
        return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]

    def __repr__(self) -> str:
        return f"<CardData {self.brand or 'card'} {self.masked_pan}>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickling is how objects reach caches and sessions: card data must not.
        raise TypeError("CardData cannot be pickled.")


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class InstantPaymentResult:
    """The answer of instantPayment.do."""

    order_id: str
    order_number: str
    order_status: int | None
    action_code: int | None
    acs_url: str
    pa_req: str
    term_url: str
    is_3ds2: bool
    masked_pan: str
    expiration: str
    approval_code: str
    amount: int | None
    currency: str
    info: str
    error_message: str
    redirect: str = ""
    three_ds_method_url: str = ""
    three_ds_method_url_server: str = ""
    three_ds_method_data: str = ""
    three_ds_server_trans_id: str = ""
    packed_creq: str = ""
    cardholder_name: str = ""

    @property
    def three_ds_method_step(self) -> bool:
        """3DS2 method step without acsUrl (API-NOTES §2.2): authentication, not failure."""
        return not self.acs_url and self.is_3ds2 and bool(self.three_ds_method_url)

    @property
    def requires_3ds(self) -> bool:
        """The shopper must go through 3-D Secure (acsRedirect.do handles both versions)."""
        return bool(self.acs_url) or self.three_ds_method_step

    @property
    def approved(self) -> bool:
        """Held (1) or charged (2) without 3-D Secure; still confirm with a status query."""
        return self.order_status in (1, 2) and not self.requires_3ds

    @property
    def declined(self) -> bool:
        return not self.requires_3ds and not self.approved


@dataclass(frozen=True)
class CardAuthInfo:
    """Card details of an order as the gateway reports them (number already masked)."""

    masked_pan: str = ""
    expiration: str = ""
    cardholder_name: str = ""
    approval_code: str = ""
    payment_system: str = ""


@dataclass(frozen=True)
class PaymentAmountInfo:
    """Amounts of an order in minor units (0 when the gateway omits the block)."""

    payment_state: str = ""
    approved: int = 0
    deposited: int = 0
    refunded: int = 0


@dataclass(frozen=True)
class OrderStatus:
    """The answer of getOrderStatusExtended.do."""

    order_number: str
    order_id: str
    order_status: int | None
    action_code: int | None
    action_code_description: str
    amount: int
    currency: str
    currency_code: str
    date: datetime | None
    card: CardAuthInfo
    amounts: PaymentAmountInfo
    error_message: str
    auth_date: datetime | None = None
    payment_way: str = ""
    order_description: str = ""


@dataclass(frozen=True)
class OperationResult:
    """The answer of deposit.do, reverse.do or refund.do (errorCode 0)."""

    error_message: str
    error_code: int = 0


@dataclass(frozen=True)
class SeTokenKey:
    """A public key for seToken encryption, as listed by se/keys.do."""

    key_value: str
    protocol_version: str
    expires_at: datetime | None


@dataclass(frozen=True)
class AcsForm:
    """Data of the auto-submitting POST form to the issuer's ACS (regular redirect)."""

    url: str
    fields: dict[str, str] = field(default_factory=dict)


# --- tolerant parsing -------------------------------------------------------------------


def _int(value: Any) -> int | None:
    """``int(str(x))`` for numbers that arrive as numbers or strings; None if absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def _str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _from_ms(value: Any) -> datetime | None:
    ms = _int(value)
    if ms is None or ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _folded(block: Any) -> dict[str, Any]:
    # instantPayment's orderStatus block capitalises some keys (ErrorCode, Pan, Amount).
    if not isinstance(block, Mapping):
        return {}
    return {str(key).lower(): value for key, value in block.items()}


def _block(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _masked(value: Any) -> str:
    """A card number from an answer, kept only if the gateway masked it."""
    return value if is_masked_pan(value) else ""


def _error_text(data: Mapping[str, Any]) -> str:
    return _str(data.get("errorMessage") or data.get("error") or "")


def _alpha_currency(numeric: str) -> str:
    if not numeric:
        return ""
    try:
        return currency_info(numeric).code
    except ValueError:
        return ""


#: orderStatus values the API documents (API-NOTES §4.3; -1 is a generic decline).
ORDER_STATUSES = range(-1, 9)
#: Amounts in minor units have at most 12 digits (API-NOTES §2.1).
AMOUNTS = range(10**12)
#: actionCode values fit a 32-bit integer (the model field that keeps them).
ACTION_CODES = range(-(2**31), 2**31)
#: Gateway order ids are UUIDs: 36 characters.
MAX_ORDER_ID_LENGTH = 36


def _in_range(name: str, value: int | None, allowed: range) -> None:
    """ValueError for a value the app cannot represent or interpret (None is absent)."""
    if value is not None and value not in allowed:
        # The value itself may be thousands of digits long: name the field only.
        raise ValueError(f"{name} out of range")


def _check_order_id(order_id: str) -> None:
    if len(order_id) > MAX_ORDER_ID_LENGTH:
        raise ValueError("orderId longer than 36 characters")


def parse_instant_payment(data: Mapping[str, Any]) -> InstantPaymentResult:
    """Build an InstantPaymentResult from a decoded instantPayment.do answer.

    Raises ValueError for ids and codes out of range (the client maps it onto its
    exceptions).
    """
    raw_status = data.get("orderStatus")
    status = _folded(raw_status)
    order_status = _int(status.get("orderstatus")) if status else _int(raw_status)
    order_id = _str(data.get("orderId"))
    action_code = _int(data.get("actionCode", status.get("actioncode")))
    _check_order_id(order_id)
    _in_range("orderStatus", order_status, ORDER_STATUSES)
    _in_range("actionCode", action_code, ACTION_CODES)
    return InstantPaymentResult(
        order_id=order_id,
        order_number=_str(data.get("orderNumber") or status.get("ordernumber")),
        order_status=order_status,
        action_code=action_code,
        acs_url=_str(data.get("acsUrl")),
        pa_req=_str(data.get("paReq")),
        term_url=_str(data.get("termUrl")),
        is_3ds2=_bool(data.get("is3DSVer2")),
        masked_pan=_masked(status.get("pan") or status.get("maskedpan") or data.get("maskedPan")),
        expiration=_str(status.get("expiration")),
        approval_code=_str(status.get("approvalcode")),
        amount=_int(status.get("amount")),
        currency=_str(status.get("currency")),
        info=_str(data.get("info")),
        error_message=_error_text(data)
        or (_str(status.get("errormessage")) if _int(status.get("errorcode")) else ""),
        redirect=_str(data.get("redirect")),
        three_ds_method_url=_str(data.get("threeDSMethodURL") or data.get("threeDSMethodUrl")),
        three_ds_method_url_server=_str(
            data.get("threeDSMethodURLServer") or data.get("threeDSMethodUrlServer")
        ),
        three_ds_method_data=_str(data.get("threeDSMethodDataPacked")),
        three_ds_server_trans_id=_str(data.get("threeDSServerTransId")),
        packed_creq=_str(data.get("packedCReq")),
        cardholder_name=_str(status.get("cardholdername")),
    )


def parse_order_status(data: Mapping[str, Any], *, order_id: str = "") -> OrderStatus:
    """Build an OrderStatus from a decoded getOrderStatusExtended.do answer.

    Raises ValueError for ids, codes and amounts out of range (the client maps it onto
    its exceptions).
    """
    md_order = ""
    attributes = data.get("attributes")
    if isinstance(attributes, list):
        for attribute in attributes:
            if isinstance(attribute, Mapping) and attribute.get("name") == "mdOrder":
                md_order = _str(attribute.get("value"))
                break
    card = _block(data, "cardAuthInfo")
    amounts = _block(data, "paymentAmountInfo")
    numeric = _str(data.get("currency"))
    order_status = _int(data.get("orderStatus"))
    action_code = _int(data.get("actionCode"))
    amount = _int(data.get("amount")) or 0
    approved = _int(amounts.get("approvedAmount")) or 0
    deposited = _int(amounts.get("depositedAmount")) or 0
    refunded = _int(amounts.get("refundedAmount")) or 0
    _check_order_id(md_order or order_id)
    _in_range("orderStatus", order_status, ORDER_STATUSES)
    _in_range("actionCode", action_code, ACTION_CODES)
    for name, value in (
        ("amount", amount),
        ("approvedAmount", approved),
        ("depositedAmount", deposited),
        ("refundedAmount", refunded),
    ):
        _in_range(name, value, AMOUNTS)
    return OrderStatus(
        order_number=_str(data.get("orderNumber")),
        order_id=md_order or order_id,
        order_status=order_status,
        action_code=action_code,
        action_code_description=_str(data.get("actionCodeDescription")),
        amount=amount,
        currency=numeric,
        currency_code=_alpha_currency(numeric),
        date=_from_ms(data.get("date")),
        card=CardAuthInfo(
            masked_pan=_masked(card.get("maskedPan") or card.get("pan")),
            expiration=_str(card.get("expiration")),
            cardholder_name=_str(card.get("cardholderName")),
            approval_code=_str(card.get("approvalCode")),
            payment_system=_str(card.get("paymentSystem")),
        ),
        amounts=PaymentAmountInfo(
            payment_state=_str(amounts.get("paymentState")),
            approved=approved,
            deposited=deposited,
            refunded=refunded,
        ),
        error_message=_error_text(data),
        auth_date=_from_ms(data.get("authDateTime")),
        payment_way=_str(data.get("paymentWay")),
        order_description=_str(data.get("orderDescription")),
    )


def parse_setoken_keys(data: Mapping[str, Any]) -> list[SeTokenKey]:
    """The keys listed by se/keys.do (entries without a key value are skipped)."""
    keys = data.get("keys")
    if not isinstance(keys, list):
        return []
    result = []
    for entry in keys:
        if not isinstance(entry, Mapping) or not entry.get("keyValue"):
            continue
        result.append(
            SeTokenKey(
                key_value=_str(entry.get("keyValue")),
                protocol_version=_str(entry.get("protocolVersion")),
                expires_at=_from_ms(entry.get("keyExpiration")),
            )
        )
    return result


def _error_code(data: Mapping[str, Any]) -> int:
    """errorCode as an int: "0", 0 and absent all mean success; ``success`` wins if present."""
    if "success" in data:
        success = data["success"]
        if _bool(success):
            return 0
        code = _int(data.get("errorCode"))
        return code if code else -1
    raw = data.get("errorCode")
    if raw is None or raw == "":
        return 0
    code = _int(raw)
    if code is None:
        raise ValueError(f"errorCode is not a number: {raw!r}")
    return code


# --- the client ---------------------------------------------------------------------------


class _Failure(Exception):
    """Internal: one failed HTTP exchange, classified."""

    def __init__(self, message: str, *, reached: bool, retryable: bool) -> None:
        super().__init__(message)
        self.reached = reached  # the request may have reached the gateway
        self.retryable = retryable  # a read-only call may try again


def _connect_failure(err: requests.ConnectionError) -> bool:
    """True when the connection was never established, so nothing was sent."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    reason: Any = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
    if isinstance(reason, NewConnectionError | ConnectTimeoutError):
        return True
    # An SSL error may also break a connection mid-answer; only a refused certificate
    # proves that the handshake, and so the request, never happened.
    return isinstance(reason, Urllib3SSLError) and _caused_by(reason, ssl.SSLCertVerificationError)


def _caused_by(err: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    todo: list[Any] = [err]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        todo.extend([current.__cause__, current.__context__, *current.args])
    return False


def _classify(err: requests.RequestException) -> _Failure:
    """Map a transport exception onto what it means for the money."""
    name = type(err).__name__
    if isinstance(err, requests.ConnectionError):
        if _connect_failure(err):
            return _Failure(f"could not connect ({name})", reached=False, retryable=True)
        return _Failure(f"connection lost after sending ({name})", reached=True, retryable=True)
    if isinstance(err, requests.Timeout):
        return _Failure("no answer within the read timeout", reached=True, retryable=False)
    if isinstance(err, _UNSENDABLE):
        return _Failure(f"request not sent ({name})", reached=False, retryable=False)
    return _Failure(f"transport error ({name})", reached=True, retryable=False)


class GatewayClient:
    """Talks to one gateway with one merchant's credentials over one HTTP session."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeouts: tuple[float, float] = (5, 30),
        status_retries: int = 2,
        retry_backoff: float = 0.25,
        session: requests.Session | None = None,
        record: bool = True,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.username = username
        self._password = password
        self.timeouts = (float(timeouts[0]), float(timeouts[1]))
        self.status_retries = max(0, int(status_retries))
        self.retry_backoff = retry_backoff
        self.record = record
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def __repr__(self) -> str:
        return f"<GatewayClient {self.base_url} as {self.username!r}>"

    def close(self) -> None:
        self.session.close()

    # --- URLs ---------------------------------------------------------------------------

    def rest_url(self, method: str) -> str:
        return f"{self.base_url}rest/{method}"

    def acs_redirect_url(self, order_id: str) -> str:
        """Where to send the shopper for 3-D Secure (the gateway runs 3DS1/3DS2 itself)."""
        return f"{self.base_url}acsRedirect.do?{urlencode({'orderId': order_id})}"

    def acs_post_form(self, result: InstantPaymentResult) -> AcsForm:
        """The regular-redirect alternative: an auto-submitted POST form to the ACS."""
        if not result.acs_url:
            raise ValueError("The gateway sent no acsUrl: use acs_redirect_url() instead.")
        return AcsForm(
            url=result.acs_url,
            fields={"PaReq": result.pa_req, "MD": result.order_id, "TermUrl": result.term_url},
        )

    # --- calls ----------------------------------------------------------------------------

    # Error reports must not show the card data or the password held in locals.
    @sensitive_variables()
    def instant_payment(
        self,
        *,
        order_number: str,
        amount: int,
        currency: str,
        description: str = "",
        language: str = "",
        back_url: str,
        fail_url: str = "",
        card: CardData | None = None,
        se_token: str | None = None,
        cardholder_name: str = "",
        email: str = "",
        ip: str = "",
        preauth: bool = False,
        session_timeout: int | None = None,
        client_id: str = "",
        json_params: Mapping[str, str] | None = None,
        dynamic_callback_url: str = "",
        payment: Payment | None = None,
    ) -> InstantPaymentResult:
        """Register and pay an order in one call (money-moving: never retried)."""
        if (card is None) == (not se_token):
            raise ValueError("Pass exactly one of card and se_token.")
        params: dict[str, str] = {
            "orderNumber": order_number,
            "amount": _amount(amount),
            "currency": currency_info(currency).numeric,
            "description": description,
            "language": language,
            "backUrl": back_url,
            "failUrl": fail_url,
            "email": email,
            "ip": ip,
            "clientId": client_id,
            "dynamicCallbackUrl": dynamic_callback_url,
        }
        if card is not None:
            params.update(pan=card.pan, cvc=card.cvc, expiry=card.expiry)
            cardholder_name = cardholder_name or card.cardholder_name
        else:
            params["seToken"] = str(se_token)
        params["cardHolderName"] = cardholder_name
        if preauth:
            params["preAuth"] = "true"
        if session_timeout:
            params["sessionTimeoutSecs"] = str(int(session_timeout))
        if json_params:
            params["jsonParams"] = json.dumps(dict(json_params), separators=(",", ":"))
        data = self._call("instantPayment.do", params, money=True, payment=payment)
        return _parsed("instantPayment.do", parse_instant_payment, data, money=True)

    def order_status(
        self,
        order_id: str | None = None,
        order_number: str | None = None,
        language: str | None = None,
        payment: Payment | None = None,
    ) -> OrderStatus:
        """The order's state by gateway id (preferred) or by our order number (read-only)."""
        if not order_id and not order_number:
            raise ValueError("Pass order_id or order_number.")
        params = {"orderId": order_id or "", "orderNumber": "" if order_id else order_number or ""}
        params["language"] = language or ""
        data = self._call("getOrderStatusExtended.do", params, money=False, payment=payment)
        return _parsed(
            "getOrderStatusExtended.do",
            lambda answer: parse_order_status(answer, order_id=order_id or ""),
            data,
            money=False,
        )

    def deposit(
        self, order_id: str, amount: int, *, payment: Payment | None = None
    ) -> OperationResult:
        """Capture a hold; amount 0 captures the full authorised amount."""
        params = {"orderId": order_id, "amount": _amount(amount)}
        return self._operation("deposit.do", params, payment)

    def reverse(
        self, order_id: str, amount: int | None = None, *, payment: Payment | None = None
    ) -> OperationResult:
        """Void a hold (or a same-day payment); None reverses the whole amount."""
        params = {"orderId": order_id}
        if amount is not None:
            params["amount"] = _amount(amount)
        return self._operation("reverse.do", params, payment)

    def refund(
        self,
        order_id: str,
        amount: int,
        *,
        external_refund_id: str | None = None,
        expected_deposited_amount: int | None = None,
        payment: Payment | None = None,
    ) -> OperationResult:
        """Refund a captured order; externalRefundId makes a repeated request harmless."""
        params = {"orderId": order_id, "amount": _amount(amount)}
        if external_refund_id:
            params["externalRefundId"] = external_refund_id
        if expected_deposited_amount is not None:
            params["expectedDepositedAmount"] = _amount(expected_deposited_amount)
        return self._operation("refund.do", params, payment)

    def setoken_keys(self) -> list[SeTokenKey]:
        """Public keys for seToken encryption from <base>se/keys.do (read-only, public)."""
        data = self._call(
            "se/keys.do", {}, money=False, url=f"{self.base_url}se/keys.do", method="GET"
        )
        return parse_setoken_keys(data)

    # --- transport ------------------------------------------------------------------------

    def _operation(
        self, method: str, params: dict[str, str], payment: Payment | None
    ) -> OperationResult:
        data = self._call(method, params, money=True, payment=payment)
        return OperationResult(error_message=_error_text(data), error_code=0)

    @sensitive_variables()
    def _call(
        self,
        operation: str,
        params: Mapping[str, str],
        *,
        money: bool,
        payment: Payment | None = None,
        url: str | None = None,
        method: str = "POST",
    ) -> dict[str, Any]:
        """One gateway call: the decoded JSON of an answer with errorCode 0.

        Money-moving calls are tried once. Read-only calls try again after a failed
        connection, at most ``status_retries`` more times with growing pauses.
        """
        url = url or self.rest_url(operation)
        body = {key: value for key, value in params.items() if value not in (None, "")}
        if method == "POST":
            body = {"userName": self.username, "password": self._password, **body}
        attempts = 1 if money else 1 + self.status_retries
        for attempt in range(attempts):
            try:
                return self._exchange(operation, url, method, body, payment)
            except _Failure as failure:
                if failure.retryable and not money and attempt + 1 < attempts:
                    time.sleep(self.retry_backoff * 2**attempt)
                    continue
                message = f"{operation}: {failure}"
                if money and failure.reached:
                    raise OutcomeUnknown(message, operation=operation) from failure
                raise GatewayUnavailable(message, operation=operation) from failure
        raise AssertionError("unreachable")  # pragma: no cover

    @sensitive_variables()
    def _exchange(
        self,
        operation: str,
        url: str,
        method: str,
        body: dict[str, str],
        payment: Payment | None,
    ) -> dict[str, Any]:
        log: dict[str, Any] = {"http_status": None, "response": None, "error_code": None}
        started = time.monotonic()
        try:
            try:
                response = self.session.request(
                    method,
                    url,
                    data=body if method == "POST" else None,
                    timeout=self.timeouts,
                    verify=True,
                    allow_redirects=False,
                )
            except requests.RequestException as err:
                # Not chained: the frames below session.request() hold the encoded body
                # (card data, password) in their locals, and error reports print them.
                raise _classify(err) from None
            log["http_status"] = response.status_code
            if response.status_code != 200:
                clean = (
                    response.status_code in _NOT_PROCESSED_STATUSES
                    or 300 <= response.status_code < 400
                )
                raise _Failure(
                    f"HTTP {response.status_code}",
                    reached=not clean,
                    retryable=response.status_code in (429, 502, 503, 504),
                )
            try:
                data = json.loads(response.content.decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError, RecursionError) as err:
                # RecursionError: valid JSON nested deeper than the decoder goes.
                ctype = response.headers.get("Content-Type", "?")
                raise _Failure(
                    f"unreadable answer ({len(response.content)} bytes, {ctype})",
                    reached=True,
                    retryable=False,
                ) from err
            if not isinstance(data, dict):
                raise _Failure("answer is not a JSON object", reached=True, retryable=False)
            log["response"] = data
            try:
                code = _error_code(data)
            except ValueError as err:
                raise _Failure(str(err), reached=True, retryable=False) from err
            log["error_code"] = code
            if code != 0:
                message = _error_text(data)
                log["error"] = f"errorCode {code}: {message}"
                raise GatewayRefused(code, message, operation=operation)
            return data
        except _Failure as failure:
            log["error"] = str(failure)
            raise
        finally:
            log["duration_ms"] = int((time.monotonic() - started) * 1000)
            self._record(operation, url, body, payment, log)

    @sensitive_variables()
    def _record(
        self,
        operation: str,
        url: str,
        body: Mapping[str, str],
        payment: Payment | None,
        log: dict[str, Any],
    ) -> None:
        if not self.record:
            return
        from checkout.models import Exchange

        try:
            # A savepoint keeps a failed insert from breaking a caller's transaction.
            with transaction.atomic():
                Exchange.objects.create(
                    payment=payment if payment is not None and payment.pk else None,
                    operation=operation[:40],
                    url=url[:512],
                    request=redact(dict(body)),
                    response=redact(log["response"]) if log["response"] is not None else None,
                    http_status=log["http_status"],
                    error_code=log["error_code"],
                    error=str(log.get("error", ""))[:255],
                    duration_ms=max(0, log["duration_ms"]),
                )
        except Exception:
            # The gateway's answer matters more than its log entry: never turn a
            # completed call into an error because the log could not be written.
            logger.warning("could not record the %s exchange", operation, exc_info=True)


ResultT = TypeVar("ResultT")


def _parsed(
    operation: str,
    parse: Callable[[dict[str, Any]], ResultT],
    data: dict[str, Any],
    *,
    money: bool,
) -> ResultT:
    """``parse(data)``, with an answer it cannot use mapped like an unreadable answer."""
    try:
        return parse(data)
    except ValueError as err:
        message = f"{operation}: malformed answer: {err}"
        if money:
            raise OutcomeUnknown(message, operation=operation) from None
        raise GatewayUnavailable(message, operation=operation) from None


def _amount(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("Amounts are non-negative integers in minor units.")
    return str(value)


# --- the shared client ------------------------------------------------------------------

_client: GatewayClient | None = None
_client_lock = threading.Lock()


def get_client() -> GatewayClient:
    """The client configured by ``settings.CHECKOUT``, built once and reused."""
    global _client
    with _client_lock:
        if _client is None:
            from checkout.conf import checkout_settings

            checkout_settings.require("GATEWAY_URL", "USERNAME", "PASSWORD")
            timeouts = checkout_settings.TIMEOUTS
            _client = GatewayClient(
                checkout_settings.GATEWAY_URL,
                checkout_settings.USERNAME,
                checkout_settings.PASSWORD,
                timeouts=(timeouts["connect"], timeouts["read"]),
                status_retries=checkout_settings.STATUS_RETRIES,
            )
        return _client


def reset_client() -> None:
    """Drop the shared client (its settings changed)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CHECKOUT", "DEBUG", "ROOT_URLCONF", "INSTALLED_APPS"):
        reset_client()


setting_changed.connect(_settings_changed)

__all__ = [
    "AcsForm",
    "CardAuthInfo",
    "CardData",
    "GatewayClient",
    "GatewayError",
    "GatewayRefused",
    "GatewayUnavailable",
    "InstantPaymentResult",
    "OperationResult",
    "OrderStatus",
    "OutcomeUnknown",
    "PaymentAmountInfo",
    "SeTokenKey",
    "get_client",
    "reset_client",
]
