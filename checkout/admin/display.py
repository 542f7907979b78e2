"""How the admin shows times, gateway codes and cards: one way for each, on every page.

Times are shown in the current time zone (the shop's ``TIME_ZONE`` unless a middleware
activates another), to the minute, with the zone's abbreviation; gateway codes with their
meaning; card expiry dates as printed on the card; masked card numbers with their brand.
Amounts go through ``checkout.admin.base.format_money``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext

from checkout.cards import card_expiry
from checkout.declines import action_code_meaning
from checkout.status import GatewayOrderStatus

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = [
    "WHEN_FORMAT",
    "action_code_text",
    "card_expiry_text",
    "card_label",
    "format_when",
    "gateway_status_text",
    "when_column",
]

#: The one format of a moment on the admin's pages: "2030-12-31 18:05 EET".
WHEN_FORMAT = "%Y-%m-%d %H:%M %Z"


def format_when(moment: datetime | None) -> str | None:
    """A moment in the current time zone, to the minute; None (the admin's "-") for none."""
    if moment is None:
        return None
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime(WHEN_FORMAT).strip()


def when_column(
    field: str, description: StrOrPromise, *, ordering: str | None = None
) -> Callable[[object, object], str | None]:
    """A display method showing the datetime ``field`` through ``format_when``.

    Assign it in a ModelAdmin or inline class body and name it in ``list_display``,
    ``fields`` or ``readonly_fields``; the list sorts it by ``ordering`` (the field itself
    unless told).
    """

    def column(model_admin: object, obj: object) -> str | None:
        return format_when(getattr(obj, field))

    column.__name__ = column.__qualname__ = f"{field}_when"
    return admin.display(description=description, ordering=ordering or field)(column)


def gateway_status_text(code: int | None) -> str | None:
    """The gateway's ``orderStatus`` with its meaning: "2 — deposited"."""
    if code is None:
        return None
    try:
        label = GatewayOrderStatus(code).label
    except ValueError:
        label = gettext("unknown")
    return f"{code} — {label}"


def action_code_text(code: int | None) -> str | None:
    """An ``actionCode`` with its meaning: "116 — not enough funds, or a card limit reached"."""
    if code is None:
        return None
    return f"{code} — {action_code_meaning(code)}"


def card_expiry_text(value: str) -> str | None:
    """The gateway's ``YYYYMM`` expiry as printed on a card: "12/2030"."""
    expiry = card_expiry(value)
    if not expiry:
        return value or None
    return f"{expiry[4:]}/{expiry[:4]}"


def card_label(brand: str, masked_pan: str) -> str:
    """The card with its brand: "VISA 444455••3333" ("" when nothing is known)."""
    return " ".join(filter(None, [brand, masked_pan.replace("*", "•")]))
