"""The demo's middleware: the cart is emptied on the first page after its order is paid."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from merchant_site.shop.cart import PENDING_KEY, settle_cart

__all__ = ["PaidCartMiddleware"]


class PaidCartMiddleware:
    """While the session has an order waiting to be paid, see whether it is paid now.

    One query per request, only while there is such an order; the result page of the
    payment is the first page that finds the cart emptied. Put it after SessionMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.get(PENDING_KEY):
            settle_cart(session)
        return self.get_response(request)
