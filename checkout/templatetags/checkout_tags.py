"""Template filters and tags of the checkout pages."""

from __future__ import annotations

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString

from checkout.i18n import card_script_messages
from checkout.money import format_money

__all__ = ["card_messages", "money", "register"]

register = template.Library()


@register.filter
def money(minor: int | None, currency: str) -> str:
    """``{{ order.amount|money:order.currency }}``: "€19.99" in English, "19,99 €" in Greek.

    The amount in minor units, written for the active language (``format_money``); empty
    for no amount or an unknown currency.
    """
    if minor is None:
        return ""
    try:
        return format_money(int(minor), currency)
    except (TypeError, ValueError):
        return ""


@register.simple_tag
def card_messages() -> SafeString:
    """``{% card_messages %}``: card.js's messages in the active language, as JSON data.

    A ``<script type="application/json" id="card-messages">``: data, not code, so the
    Content-Security-Policy of the card page lets it be.
    """
    return json_script(card_script_messages(), "card-messages")
