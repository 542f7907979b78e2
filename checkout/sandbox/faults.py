"""Fault injection: what can go wrong between a shop and its bank, on purpose.

A fault is chosen, in this order, by the merchant's switch (optionally limited to some
REST methods and to a number of calls), by a magic amount in the request, or by a test
card. "before" faults answer without doing anything; "after" faults carry the operation
out and then spoil the answer, so the caller cannot know what happened.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import time
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING

from django.db.models import F
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from checkout.sandbox.conf import sandbox_settings
from checkout.sandbox.models import CallbackFault, Fault, Merchant

__all__ = [
    "AFTER",
    "BEFORE",
    "MAGIC_AMOUNTS",
    "MAGIC_CALLBACK_AMOUNTS",
    "answer_after",
    "answer_before",
    "callback_fault_for",
    "delay",
    "drop_connection",
    "request_fault",
]

if TYPE_CHECKING:
    from checkout.sandbox.models import Order

#: Request amounts (minor units) that trigger a transport fault on the call carrying them.
MAGIC_AMOUNTS: dict[int, str] = {
    9001: Fault.LATENCY,
    9002: Fault.LATENCY_AFTER,
    9500: Fault.ERROR_BEFORE,
    9501: Fault.ERROR_AFTER,
    9502: Fault.MALFORMED_BEFORE,
    9503: Fault.MALFORMED_AFTER,
    9429: Fault.RATE_LIMITED,
    9999: Fault.DROP_AFTER,
}

#: Order amounts (minor units) whose callbacks are misdelivered.
MAGIC_CALLBACK_AMOUNTS: dict[int, str] = {
    9601: CallbackFault.DUPLICATE,
    9602: CallbackFault.REORDER,
    9603: CallbackFault.DELAY,
    9604: CallbackFault.NEVER,
}

BEFORE = frozenset({Fault.ERROR_BEFORE, Fault.MALFORMED_BEFORE, Fault.RATE_LIMITED})
AFTER = frozenset({Fault.LATENCY_AFTER, Fault.ERROR_AFTER, Fault.MALFORMED_AFTER, Fault.DROP_AFTER})


def request_fault(merchant: Merchant, method: str, params: Mapping[str, str]) -> str:
    """The fault for this REST call from the merchant's switch or a magic amount."""
    if merchant.fault and merchant.fault_remaining != 0:
        methods = {m.strip() for m in merchant.fault_endpoints.split(",") if m.strip()}
        if not methods or method in methods:
            if merchant.fault_remaining is None:
                return merchant.fault
            # Counted in the database so that concurrent calls use each hit once.
            hit = Merchant.objects.filter(pk=merchant.pk, fault_remaining__gt=0).update(
                fault_remaining=F("fault_remaining") - 1
            )
            if hit:
                return merchant.fault
    amount = str(params.get("amount", ""))
    # Longer amounts are refused later; int() of thousands of digits would raise here.
    if amount.isascii() and amount.isdigit() and len(amount) <= 12:
        return MAGIC_AMOUNTS.get(int(amount), "")
    return ""


def callback_fault_for(merchant: Merchant, order: Order) -> str:
    return merchant.callback_fault or MAGIC_CALLBACK_AMOUNTS.get(order.amount, "")


def delay() -> None:
    time.sleep(sandbox_settings.FAULT_LATENCY)


def answer_before(fault: str) -> HttpResponse | None:
    """The spoilt answer of a fault that strikes before the operation, if any."""
    if fault == Fault.LATENCY:
        delay()
    elif fault == Fault.ERROR_BEFORE:
        return _error_page()
    elif fault == Fault.MALFORMED_BEFORE:
        return HttpResponse(
            b"<html><body><h1>Service temporarily unavailable</h1></body></html>",
            content_type="text/html",
        )
    elif fault == Fault.RATE_LIMITED:
        response = HttpResponse(b"Too Many Requests", status=429, content_type="text/plain")
        response["Retry-After"] = "1"
        return response
    return None


def answer_after(fault: str, request: HttpRequest, body: bytes) -> HttpResponseBase | None:
    """The spoilt answer of a fault that strikes after the operation, if any."""
    if fault == Fault.LATENCY_AFTER:
        # The operation is committed (an order registered and waiting for 3-D Secure, a
        # capture made) while its caller still waits for the answer.
        delay()
        return None
    if fault == Fault.ERROR_AFTER:
        return _error_page()
    if fault == Fault.MALFORMED_AFTER:
        return HttpResponse(body[: max(1, len(body) // 2)], content_type="application/json")
    if fault == Fault.DROP_AFTER:
        return drop_connection(request, body)
    return None


def _error_page() -> HttpResponse:
    return HttpResponse(
        b"<html><body><h1>HTTP Status 500 - Internal Server Error</h1></body></html>",
        status=500,
        content_type="text/html",
    )


def _client_socket(request: HttpRequest) -> socket.socket | None:
    """The TCP connection of this request, where the WSGI server lets us reach it."""
    sock = request.META.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        return sock
    # Servers built on socketserver (runserver, the test live server, run_sandbox) run
    # the view in the connection handler's thread: find the handler up the stack.
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        handler = frame.f_locals.get("self")
        if isinstance(handler, socketserver.StreamRequestHandler):
            return handler.connection  # type: ignore[no-any-return]
        frame = frame.f_back
    return None


def drop_connection(request: HttpRequest, body: bytes) -> HttpResponseBase:
    """End the exchange without an answer: the caller sees the connection drop."""
    sock = _client_socket(request)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        # The server's attempt to write this fails quietly: the socket is shut.
        return HttpResponse(b"")
    # Elsewhere: promise more bytes than are sent, then fail, so the caller sees an
    # incomplete answer once the server closes the connection.
    return StreamingHttpResponse(_truncated(body), headers={"Content-Length": str(len(body))})


def _truncated(body: bytes) -> Iterator[bytes]:
    yield body[: len(body) // 2]
    raise ConnectionAbortedError("sandbox fault: connection dropped after the operation")
