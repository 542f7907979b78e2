"""Serving the sandbox on its own, at ``/payment/`` like the real gateway's host."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

__all__ = ["REST_PREFIXES", "URLCONF", "SandboxWSGIHandler"]

#: The URLconf of the standalone server: only the sandbox, mounted at /payment/.
URLCONF = "checkout.sandbox.server_urls"

#: Paths of the server-to-server API: what a shop's server calls, never a browser.
REST_PREFIXES = ("/payment/rest/", "/payment/se/")


class _Handler(WSGIHandler):
    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request.urlconf = URLCONF
        return super().get_response(request)


class _RestHandler(_Handler):
    """The API methods without the project's middleware.

    A gateway's REST API has no sessions, CSRF tokens, shopper language or messages: the
    project's middleware is the shop's, and running it for every call would only make the
    sandbox cost more of the machine it shares with the shop than a gateway elsewhere would.
    The views bring what they need in their decorators.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        # What BaseHandler.load_middleware() sets up, with no middleware at all.
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(
            self._get_response  # type: ignore[attr-defined]  # Django's, not in the stubs
        )


class SandboxWSGIHandler:
    """A WSGI application serving the sandbox's URLconf for every request.

    Settings stay the project's: the callback URL is still found in the project's URLconf
    and the database is shared with the shop. The pages (3-D Secure, console) go through
    the project's middleware; the REST API does not.
    """

    def __init__(self) -> None:
        self.pages = _Handler()
        self.rest = _RestHandler()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        handler = self.rest if path.startswith(REST_PREFIXES) else self.pages
        return handler(environ, start_response)
