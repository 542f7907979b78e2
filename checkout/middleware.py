"""Middleware of the app: security headers on the card pages, and form bodies in UTF-8.

``FormCharsetMiddleware`` answers 400 to a form body that declares any charset but UTF-8,
before ``CsrfViewMiddleware`` (or anything else) reads ``request.POST``: Django refuses
such bodies with ``BadRequest`` from inside the CSRF check and again inside its own error
handlers, which a WSGI server then turns into a bare 500. Put it before CsrfViewMiddleware.

``SecurityHeadersMiddleware`` gives every page of the checkout (views in the ``checkout``
URL namespace) a Content-Security-Policy that runs only the shop's own scripts,
``Referrer-Policy: same-origin`` and ``Cache-Control: no-store``. Other views opt in
with ``@secure_page``. Add it to MIDDLEWARE after SecurityMiddleware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.cache import patch_cache_control

__all__ = [
    "FORM_CONTENT_TYPES",
    "NAMESPACE",
    "FormCharsetMiddleware",
    "SecurityHeadersMiddleware",
    "ViewT",
    "content_security_policy",
    "secure_page",
]

ViewT = TypeVar("ViewT", bound=Callable[..., Any])

#: URL namespace of the checkout's own pages.
NAMESPACE = "jcc_checkout"
_MARK = "checkout_secure_page"


def secure_page(view: ViewT) -> ViewT:
    """Give a view outside the checkout the same CSP and Referrer-Policy (not no-store)."""
    setattr(view, _MARK, True)
    return view


def _static_origin() -> str:
    """The origin of STATIC_URL when static files are served from another host (a CDN)."""
    parts = urlsplit(str(settings.STATIC_URL or ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    own = " ".join(filter(None, ["'self'", _static_origin()]))
    directives = [
        "default-src 'self'",
        # No inline script and no eval: an injected <script> cannot read the card fields.
        f"script-src {own}",
        f"style-src {own}",
        f"img-src {own} data:",
        f"font-src {own}",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        # No form-action: Chromium applies it to every redirect after a form post, and
        # 3-D Secure sends the shopper from the gateway to whichever bank issued the card.
    ]
    return "; ".join(directives)


class SecurityHeadersMiddleware:
    """CSP, Referrer-Policy and no-store on the checkout's pages (see the module doc)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is None:
            return response
        in_checkout = NAMESPACE in match.app_names
        if not (in_checkout or getattr(match.func, _MARK, False)):
            return response
        # A view that sets its own policy knows better.
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
        response["Referrer-Policy"] = "same-origin"
        if in_checkout:
            # Card pages must not be kept by the browser's cache or any proxy: the Back
            # button then asks the server again instead of showing a stale form.
            patch_cache_control(response, no_store=True, no_cache=True, private=True)
        return response


#: Content types whose body Django decodes into request.POST.
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class FormCharsetMiddleware:
    """400 for a form body in any charset but UTF-8, before anything reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.content_type in FORM_CONTENT_TYPES:
            charset = (request.content_params or {}).get("charset")
            if charset is not None and charset.strip().strip('"').lower() != "utf-8":
                return HttpResponseBadRequest(
                    "Form data must be sent in UTF-8.", content_type="text/plain; charset=utf-8"
                )
        return self.get_response(request)
