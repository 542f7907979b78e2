"""Serving the sandbox on its own, at ``/payment/`` like the real gateway's host."""

from __future__ import annotations

from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

__all__ = ["URLCONF", "SandboxWSGIHandler"]

#: The URLconf of the standalone server: only the sandbox, mounted at /payment/.
URLCONF = "checkout.sandbox.server_urls"


class SandboxWSGIHandler(WSGIHandler):
    """Django's WSGI handler with the sandbox's own URLconf for every request.

    Settings stay the project's: the callback URL is still found in the project's
    URLconf and the database is shared with the shop.
    """

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request.urlconf = URLCONF
        return super().get_response(request)
