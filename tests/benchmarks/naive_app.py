"""The baselines: a naive gateway integration, and a view that only answers 200.

What RBS-family payment plugins do, as one Django view in a project of its own with
minimal settings (no database, no middleware): take the card form, make one
``requests.post`` to ``instantPayment.do`` on a fresh connection, send the shopper where
the answer says. Nothing is stored, nothing is confirmed, no attempt is limited.

* ``POST /pay/``: that, on a new connection to the gateway for every payment (the
  plugins' ``requests.post`` / ``curl_init`` per call);
* ``POST /pay-warm/``: the same over one pooled session per process, so that a payment
  pays one round trip on a warm connection: the limit of any integration that makes one
  call per payment;
* ``GET /ok/``: answers 200 and does nothing (the baseline of callback handling).

Served by gunicorn with the same settings as the shop::

    NAIVE_GATEWAY_URL=http://127.0.0.1:8100/payment/ \
        gunicorn tests.benchmarks.naive_app -w 2 -k gthread --threads 4
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import django
import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path

__all__ = ["application", "ok", "pay", "pay_warm", "urlpatterns"]

GATEWAY_URL = os.environ.get("NAIVE_GATEWAY_URL", "http://127.0.0.1:8100/payment/")
USERNAME = os.environ.get("NAIVE_USERNAME", "sandbox-api")
PASSWORD = os.environ.get("NAIVE_PASSWORD", "sandbox-password")
RETURN_URL = os.environ.get("NAIVE_RETURN_URL", "http://127.0.0.1/return/")

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("SECRET_KEY", "naive-baseline"),
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
    )

#: The pooled session of /pay-warm/ (one per process, like a client built once).
_session = requests.Session()


def _instant_payment(request: HttpRequest, post: Callable[..., requests.Response]) -> HttpResponse:
    form = request.POST
    data = {
        "userName": USERNAME,
        "password": PASSWORD,
        "orderNumber": "N" + secrets.token_hex(12),
        "amount": form.get("amount", "100"),
        "currency": "978",
        "language": "en",
        "description": "Order",
        "backUrl": RETURN_URL,
        "failUrl": RETURN_URL + "?failed=1",
        "cardholderName": form.get("cardholder_name", ""),
    }
    if form.get("se_token"):
        data["seToken"] = form["se_token"]
    else:
        data.update(pan=form.get("pan", ""), cvc=form.get("cvc", ""), expiry=form.get("expiry", ""))
    answer = post(GATEWAY_URL + "rest/instantPayment.do", data=data, timeout=30).json()
    if str(answer.get("errorCode", "0")) != "0":
        return HttpResponse(answer.get("error", "refused"), status=402)
    return HttpResponseRedirect(answer.get("acsUrl") or answer["redirect"])


def pay(request: HttpRequest) -> HttpResponse:
    """A fresh connection per payment: ``requests.post`` builds and closes a session."""
    return _instant_payment(request, requests.post)


def pay_warm(request: HttpRequest) -> HttpResponse:
    """One round trip on a kept-alive connection."""
    return _instant_payment(request, _session.post)


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("OK")


urlpatterns = [
    path("pay/", pay),
    path("pay-warm/", pay_warm),
    path("ok/", ok),
]

django.setup(set_prefix=False)

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
