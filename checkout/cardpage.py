"""What the card page shows besides the form: the accepted card schemes, the cart link.

Each scheme has a mark under ``checkout/static/checkout/brands/<key>.svg``: a coloured
rounded rectangle with the scheme's name, drawn for this app (no scheme's artwork, no
request to anyone else's server). ``CHECKOUT["CARD_BRANDS"]`` names the accepted ones,
``CHECKOUT["CART_URL"]`` the shop's cart.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch

from checkout.conf import checkout_settings

__all__ = ["BRANDS", "CardBrand", "accepted_brands", "cart_url"]


@dataclass(frozen=True)
class CardBrand:
    """One card scheme: its key in settings, its code as ``card_brand()`` and card.js
    name it, and the name a shopper reads."""

    key: str
    code: str
    label: str

    @property
    def mark(self) -> str:
        """The path of its mark among the static files."""
        return f"checkout/brands/{self.key}.svg"


#: Every scheme with a mark, by the key CHECKOUT["CARD_BRANDS"] uses.
BRANDS: dict[str, CardBrand] = {
    brand.key: brand
    for brand in (
        CardBrand("visa", "VISA", "Visa"),
        CardBrand("mastercard", "MASTERCARD", "Mastercard"),
        CardBrand("maestro", "MAESTRO", "Maestro"),
        CardBrand("amex", "AMEX", "American Express"),
        CardBrand("diners", "DINERS", "Diners Club"),
        CardBrand("discover", "DISCOVER", "Discover"),
        CardBrand("jcb", "JCB", "JCB"),
        CardBrand("unionpay", "CUP", "UnionPay"),
    )
}


def accepted_brands() -> list[CardBrand]:
    """The schemes of CHECKOUT["CARD_BRANDS"], in its order; ImproperlyConfigured for a
    name that is not in BRANDS."""
    keys = checkout_settings.CARD_BRANDS
    unknown = [key for key in keys if key not in BRANDS]
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown CHECKOUT['CARD_BRANDS'] names: {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(BRANDS)}."
        )
    return [BRANDS[key] for key in dict.fromkeys(keys)]


def cart_url() -> str:
    """CHECKOUT["CART_URL"] as a URL (a URL name is reversed); "" for none.

    ImproperlyConfigured for a name that does not reverse.
    """
    value = str(checkout_settings.CART_URL or "").strip()
    if not value:
        return ""
    try:
        return str(resolve_url(value))
    except NoReverseMatch:
        raise ImproperlyConfigured(
            f"settings.CHECKOUT['CART_URL'] is {value!r}: neither a URL nor a URL name."
        ) from None
