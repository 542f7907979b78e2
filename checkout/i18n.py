"""Languages: the order's, the one sent to the gateway, and the card script's messages.

The checkout's pages follow Django's active language (``LocaleMiddleware``: the language
cookie, then ``Accept-Language``). Where a request names no language the site offers, a
page about an order uses the order's language instead of the site's default, so that a
shopper coming back from the bank sees the language they paid in.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _

from checkout.conf import checkout_settings

__all__ = [
    "card_script_messages",
    "gateway_language",
    "order_language",
    "page_language",
    "request_names_language",
]


def _two_letters(language: str) -> str:
    return str(language or "").strip()[:2].lower()


def order_language(language: str | None = None) -> str:
    """The two-letter language to store on a new order.

    ``language`` when given, else the active language (the shopper's, in a request), else
    ``CHECKOUT["LANGUAGE"]``.
    """
    return (
        _two_letters(language or "")
        or _two_letters(translation.get_language() or "")
        or _two_letters(checkout_settings.LANGUAGE)
        or "en"
    )


def gateway_language(language: str) -> str:
    """The ``language`` parameter for the gateway: ``language`` if the gateway offers it
    (``CHECKOUT["GATEWAY_LANGUAGES"]``), else ``CHECKOUT["LANGUAGE"]``, else English."""
    configured = checkout_settings.GATEWAY_LANGUAGES
    if isinstance(configured, str):
        configured = configured.split(",")
    offered = [_two_letters(code) for code in configured]
    for candidate in (_two_letters(language), _two_letters(checkout_settings.LANGUAGE)):
        if candidate in offered:
            return candidate
    return "en"


def _site_language(code: str) -> str | None:
    """The site's own language (settings.LANGUAGES) for ``code``, or None."""
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def request_names_language(request: HttpRequest) -> bool:
    """Whether the request itself asks for a language the site offers: the language
    cookie (set by Django's ``set_language`` view) or ``Accept-Language``."""
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if cookie and _site_language(cookie):
        return True
    for part in str(request.META.get("HTTP_ACCEPT_LANGUAGE", "")).split(","):
        tag, _sep, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = params.strip().removeprefix("q=").strip() if params else "1"
        if quality.replace(".", "", 1).isdigit() and float(quality) == 0:
            continue
        if _site_language(tag):
            return True
    return False


def page_language(request: HttpRequest, language: str) -> str | None:
    """The language a page about an order in ``language`` should be shown in, when that
    differs from the active one: the order's, if the request names none and the site
    offers it; None to keep the active language."""
    if not settings.USE_I18N or request_names_language(request):
        return None
    wanted = _site_language(_two_letters(language)) if language else None
    if wanted is None or wanted == translation.get_language():
        return None
    return wanted


def card_script_messages() -> dict[str, str]:
    """What card.js says to the shopper, in the active language (the keys card.js asks for)."""
    return {
        "name_required": _("Enter the name as printed on the card."),
        "name_letters": _("Enter the name in Latin or Greek letters, as on the card."),
        "name_length": _("The name must be 2 to 45 characters long."),
        "pan_required": _("Enter the card number."),
        "pan_invalid": _("This card number is not valid. Check it and try again."),
        "expiry_required": _("Enter the expiry date (MM/YY)."),
        "expiry_invalid": _("Enter the expiry date as MM/YY."),
        "expiry_past": _("This card has expired."),
        "expiry_year": _("Check the expiry year."),
        "cvc_required": _("Enter the security code (CVC)."),
        "cvc_length_3": _("The security code has 3 digits."),
        "cvc_length_4": _("The security code has 4 digits."),
        "processing": _("Processing…"),
        "encrypt_failed": _(
            "Your card details could not be encrypted. Please reload the page and try again."
        ),
        "module_failed": _(
            "The secure payment module could not be loaded. Please reload the page and try again."
        ),
    }
