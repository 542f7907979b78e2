"""Who may see an order's checkout pages.

The browser session that created an order holds its public id (nothing else about it);
anyone else needs a signed, expiring link that the shop sends, or the admin's view
permission. Public ids are UUIDs, but knowing one is never enough on its own.
"""

from __future__ import annotations

import time
from typing import Any

from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from checkout.models import Order

__all__ = [
    "LINK_MAX_AGE",
    "MAX_SESSION_ORDERS",
    "SESSION_KEY",
    "TOKEN_PARAM",
    "can_view",
    "grant",
    "make_token",
    "owns",
    "signed_url",
    "token_grants",
]

SESSION_KEY = "checkout_orders"
#: Orders remembered per session; the oldest fall out first.
MAX_SESSION_ORDERS = 20
#: Query parameter carrying a signed access token.
TOKEN_PARAM = "access"
#: Default lifetime of a signed link, in seconds.
LINK_MAX_AGE = 7 * 24 * 60 * 60

_SALT = "checkout.access.order"


def grant(request: HttpRequest, order: Order) -> None:
    """Let this browser session see ``order``'s pages (call it where the order is made)."""
    key = str(order.public_id)
    owned = [value for value in request.session.get(SESSION_KEY, []) if value != key]
    owned.append(key)
    request.session[SESSION_KEY] = owned[-MAX_SESSION_ORDERS:]


def owns(request: HttpRequest, order: Order) -> bool:
    """True when this browser session created (or was granted) the order."""
    session = getattr(request, "session", None)
    return session is not None and str(order.public_id) in session.get(SESSION_KEY, [])


def make_token(order: Order, *, max_age: int = LINK_MAX_AGE, now: float | None = None) -> str:
    """A signed token granting access to ``order`` for ``max_age`` seconds."""
    expires = int((now if now is not None else time.time()) + max_age)
    return signing.dumps({"o": str(order.public_id), "e": expires}, salt=_SALT)


def token_grants(token: str, order: Order, *, now: float | None = None) -> bool:
    """True when ``token`` is a valid, unexpired token for ``order``."""
    if not token or len(token) > 500:
        return False
    try:
        payload: Any = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return False
    if not isinstance(payload, dict):
        return False
    expires = payload.get("e")
    current = now if now is not None else time.time()
    return (
        payload.get("o") == str(order.public_id) and isinstance(expires, int) and expires > current
    )


def signed_url(
    order: Order, *, max_age: int = LINK_MAX_AGE, request: HttpRequest | None = None
) -> str:
    """A link to the order's checkout page that works in any browser until it expires.

    Absolute when ``request`` is given; the shop sends it by e-mail, for instance.
    """
    url = reverse("jcc_checkout:card", args=[order.public_id])
    url += "?" + urlencode({TOKEN_PARAM: make_token(order, max_age=max_age)})
    return request.build_absolute_uri(url) if request is not None else url


def can_view(request: HttpRequest, order: Order) -> bool:
    """Whether this request may see ``order``'s pages; a valid link joins the session."""
    if owns(request, order):
        return True
    if token_grants(request.GET.get(TOKEN_PARAM, ""), order):
        # Without a session (no SessionMiddleware on this path) the link works on its own.
        if getattr(request, "session", None) is not None:
            grant(request, order)
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.has_perm("jcc_checkout.view_order"))
