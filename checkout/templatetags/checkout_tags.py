"""Template filters of the checkout pages."""

from __future__ import annotations

from django import template

from checkout.money import format_amount

__all__ = ["money", "register"]

register = template.Library()


@register.filter
def money(minor: int | None, currency: str) -> str:
    """``{{ order.amount|money:order.currency }}`` renders ``19.99 EUR``."""
    if minor is None:
        return ""
    try:
        return format_amount(int(minor), currency)
    except (TypeError, ValueError):
        return ""
