"""The gateway client: one HTTP session, explicit timeouts, failures classified for money.

Every call is a form-encoded POST over one ``requests.Session`` with explicit connect and
read timeouts and TLS verification on. Transport and HTTP failures become the app's
exceptions (``checkout.exceptions``): a money-moving call that may have reached the
gateway raises ``OutcomeUnknown`` and is never retried. The client keeps no state of its
own and touches no database: each exchange, redacted, goes to the ``on_exchange`` hook,
with the ``context`` the caller passed (the app's hook stores it as an ``Exchange`` row).
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from django.views.decorators.debug import sensitive_variables
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

import checkout
from checkout.cards import CardData
from checkout.exceptions import GatewayRefused, GatewayUnavailable, OutcomeUnknown
from checkout.gateway.answers import (
    AcsForm,
    Binding,
    InstantPaymentResult,
    OperationResult,
    OrderStatus,
    SeTokenKey,
    error_code,
    error_text,
    parse_bindings,
    parse_instant_payment,
    parse_order_status,
    parse_setoken_keys,
)
from checkout.money import currency as currency_info
from checkout.redaction import redact

__all__ = ["BINDING_NOT_FOUND", "USER_AGENT", "ExchangeHook", "ExchangeRecord", "GatewayClient"]

logger = logging.getLogger(__name__)

USER_AGENT = f"django-jcc-checkout/{checkout.__version__}"

#: errorCode of the binding methods for a binding (or a client's cards) not found.
BINDING_NOT_FOUND = 2

#: Errors raised before anything is sent (a misconfigured URL).
_UNSENDABLE = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.URLRequired,
)

#: HTTP statuses that show the gateway did not process the request at all.
_NOT_PROCESSED_STATUSES = frozenset({401, 403, 404, 405, 429})


@dataclass(frozen=True)
class ExchangeRecord:
    """One HTTP exchange with the gateway, secrets already redacted."""

    operation: str
    url: str
    request: dict[str, Any]
    response: Any
    http_status: int | None
    error_code: int | None
    error: str
    duration_ms: int
    #: Whatever the caller passed as ``context`` (the app passes the Payment).
    context: Any = None


ExchangeHook = Callable[[ExchangeRecord], None]


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
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.username = username
        self._password = password
        self.timeouts = (float(timeouts[0]), float(timeouts[1]))
        self.status_retries = max(0, int(status_retries))
        self.retry_backoff = retry_backoff
        self.on_exchange = on_exchange
        #: The CA bundle to verify the gateway with: the environment's, else certifi's.
        self.verify: bool | str = True
        if session is None:
            session = requests.Session()
            # The environment's proxies and CA bundle, read once: with trust_env requests
            # reads the whole environment again on every call.
            session.trust_env = False
            session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            self.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        self.session = session
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
        binding_id: str = "",
        binding_not_needed: bool = False,
        tii: str = "",
        original_payment_net_ref_num: str = "",
        original_payment_date: datetime | None = None,
        json_params: Mapping[str, str] | None = None,
        dynamic_callback_url: str = "",
        context: Any = None,
    ) -> InstantPaymentResult:
        """Register and pay an order in one call (money-moving: never retried).

        The card is ``card`` (its fields), ``se_token`` (encrypted in the browser; for a
        saved card it holds the bindingId) or, for a merchant-initiated payment, only
        ``binding_id``. Stored credentials (API-NOTES §2.1): ``client_id`` is the shopper's
        id at the gateway, ``tii`` the transaction initiator, and a payment on a stored
        card quotes its first payment's network reference and date
        (``original_payment_*``); ``binding_not_needed`` asks the gateway not to keep the
        card.
        """
        given = sum((card is not None, bool(se_token)))
        if given > 1 or (given == 0 and not binding_id):
            raise ValueError("Pass exactly one of card and se_token, or only binding_id.")
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
            "bindingId": binding_id if given == 0 else "",
            "tii": tii,
            "originalPaymentNetRefNum": original_payment_net_ref_num,
            "dynamicCallbackUrl": dynamic_callback_url,
        }
        if original_payment_date is not None:
            params["originalPaymentDate"] = str(int(original_payment_date.timestamp()) * 1000)
        if binding_not_needed:
            params["bindingNotNeeded"] = "true"
        if card is not None:
            params.update(pan=card.pan, cvc=card.cvc, expiry=card.expiry)
            cardholder_name = cardholder_name or card.cardholder_name
        elif se_token:
            params["seToken"] = str(se_token)
        params["cardHolderName"] = cardholder_name
        if preauth:
            params["preAuth"] = "true"
        if session_timeout:
            params["sessionTimeoutSecs"] = str(int(session_timeout))
        if json_params:
            params["jsonParams"] = json.dumps(dict(json_params), separators=(",", ":"))
        data = self._call("instantPayment.do", params, money=True, context=context)
        return _parsed("instantPayment.do", parse_instant_payment, data, money=True)

    def order_status(
        self,
        order_id: str | None = None,
        order_number: str | None = None,
        language: str | None = None,
        context: Any = None,
    ) -> OrderStatus:
        """The order's state by gateway id (preferred) or by our order number (read-only)."""
        if not order_id and not order_number:
            raise ValueError("Pass order_id or order_number.")
        params = {"orderId": order_id or "", "orderNumber": "" if order_id else order_number or ""}
        params["language"] = language or ""
        data = self._call("getOrderStatusExtended.do", params, money=False, context=context)
        return _parsed(
            "getOrderStatusExtended.do",
            lambda answer: parse_order_status(answer, order_id=order_id or ""),
            data,
            money=False,
        )

    def deposit(self, order_id: str, amount: int, *, context: Any = None) -> OperationResult:
        """Capture a hold; amount 0 captures the full authorised amount."""
        params = {"orderId": order_id, "amount": _amount(amount)}
        return self._operation("deposit.do", params, context)

    def reverse(
        self, order_id: str, amount: int | None = None, *, context: Any = None
    ) -> OperationResult:
        """Void a hold (or a same-day payment); None reverses the whole amount."""
        params = {"orderId": order_id}
        if amount is not None:
            params["amount"] = _amount(amount)
        return self._operation("reverse.do", params, context)

    def refund(
        self,
        order_id: str,
        amount: int,
        *,
        external_refund_id: str | None = None,
        expected_deposited_amount: int | None = None,
        context: Any = None,
    ) -> OperationResult:
        """Refund a captured order; externalRefundId makes a repeated request harmless."""
        params = {"orderId": order_id, "amount": _amount(amount)}
        if external_refund_id:
            params["externalRefundId"] = external_refund_id
        if expected_deposited_amount is not None:
            params["expectedDepositedAmount"] = _amount(expected_deposited_amount)
        return self._operation("refund.do", params, context)

    # --- stored credentials (API-NOTES §7) -------------------------------------------------

    def get_bindings(self, client_id: str, *, show_expired: bool = True) -> list[Binding]:
        """The cards the gateway keeps for ``client_id`` (read-only; none is an empty list).

        The gateway answers errorCode 2 when a client has no card: that is an empty list,
        not an error.
        """
        params = {"clientId": client_id, "showExpired": "true" if show_expired else "false"}
        try:
            data = self._call("getBindings.do", params, money=False)
        except GatewayRefused as err:
            if err.code == BINDING_NOT_FOUND:
                return []
            raise
        return _parsed("getBindings.do", parse_bindings, data, money=False)

    def unbind_card(self, binding_id: str, *, context: Any = None) -> OperationResult:
        """Deactivate a stored card (GatewayRefused code 2: unknown or already inactive)."""
        return self._operation("unBindCard.do", {"bindingId": binding_id}, context)

    def bind_card(self, binding_id: str, *, context: Any = None) -> OperationResult:
        """Reactivate a stored card the shop deactivated."""
        return self._operation("bindCard.do", {"bindingId": binding_id}, context)

    def extend_binding(
        self, binding_id: str, new_expiry: str, *, context: Any = None
    ) -> OperationResult:
        """Set a stored card's expiry (YYYYMM), after the bank issued a renewed card."""
        params = {"bindingId": binding_id, "newExpiry": new_expiry}
        return self._operation("extendBinding.do", params, context)

    def setoken_keys(self) -> list[SeTokenKey]:
        """Public keys for seToken encryption from <base>se/keys.do (read-only, public)."""
        data = self._call(
            "se/keys.do", {}, money=False, url=f"{self.base_url}se/keys.do", method="GET"
        )
        return parse_setoken_keys(data)

    # --- transport ------------------------------------------------------------------------

    def _operation(self, method: str, params: dict[str, str], context: Any) -> OperationResult:
        data = self._call(method, params, money=True, context=context)
        return OperationResult(error_message=error_text(data), error_code=0)

    @sensitive_variables()
    def _call(
        self,
        operation: str,
        params: Mapping[str, str],
        *,
        money: bool,
        context: Any = None,
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
                return self._exchange(operation, url, method, body, context)
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
        context: Any,
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
                    verify=self.verify,
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
                code = error_code(data)
            except ValueError as err:
                raise _Failure(str(err), reached=True, retryable=False) from err
            log["error_code"] = code
            if code != 0:
                message = error_text(data)
                log["error"] = f"errorCode {code}: {message}"
                raise GatewayRefused(code, message, operation=operation)
            return data
        except _Failure as failure:
            log["error"] = str(failure)
            raise
        finally:
            log["duration_ms"] = int((time.monotonic() - started) * 1000)
            self._record(operation, url, body, context, log)

    @sensitive_variables()
    def _record(
        self,
        operation: str,
        url: str,
        body: Mapping[str, str],
        context: Any,
        log: dict[str, Any],
    ) -> None:
        if self.on_exchange is None:
            return
        record = ExchangeRecord(
            operation=operation,
            url=url,
            request=redact(dict(body)),
            response=redact(log["response"]) if log["response"] is not None else None,
            http_status=log["http_status"],
            error_code=log["error_code"],
            error=str(log.get("error", "")),
            duration_ms=max(0, log["duration_ms"]),
            context=context,
        )
        try:
            self.on_exchange(record)
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
