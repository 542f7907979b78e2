"""The demo site's header: cart size and, while the sandbox plays the bank, links to it."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from checkout.sandbox.conf import sandbox_active
from merchant_site.shop.cart import Cart

register = template.Library()

#: Sandbox pages worth a link from the shop, by URL name.
SANDBOX_PAGES = (
    ("checkout_sandbox:index", _("Test cards")),
    ("checkout_sandbox:orders", _("Gateway orders")),
    ("checkout_sandbox:callbacks", _("Callbacks")),
)


@register.simple_tag(takes_context=True)
def cart_count(context: dict[str, Any]) -> int:
    request = context.get("request")
    session = getattr(request, "session", None)
    return Cart(session).count if session is not None else 0


@register.simple_tag
def sandbox_links() -> list[dict[str, str]]:
    """Links to the bundled sandbox's pages; empty when the sandbox is not active."""
    if not sandbox_active():
        return []
    links = []
    for name, label in SANDBOX_PAGES:
        try:
            links.append({"url": reverse(name), "label": str(label)})
        except NoReverseMatch:
            continue
    return links
