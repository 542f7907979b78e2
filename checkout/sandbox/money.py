"""Amounts for the sandbox's pages, from ISO 4217 numeric codes (the gateway's form)."""

from __future__ import annotations

from functools import cache

import iso4217

__all__ = ["currency_by_number", "format_minor"]


@cache
def currency_by_number(numeric: str) -> tuple[str, int] | None:
    """(alphabetic code, exponent) of a numeric code such as "978", None if unknown."""
    if not (numeric.isascii() and numeric.isdigit() and len(numeric) == 3):
        return None
    number = int(numeric)
    for cur in iso4217.Currency:
        if cur.number == number:
            return cur.code, cur.exponent or 0
    return None


def format_minor(amount: int, numeric: str) -> str:
    """``format_minor(1999, "978") == "19.99 EUR"``, without floats."""
    known = currency_by_number(numeric)
    if known is None:
        return f"{amount} ({numeric})"
    code, exponent = known
    whole, fraction = divmod(amount, 10**exponent)
    text = f"{whole:,}" + (f".{fraction:0{exponent}d}" if exponent else "")
    return f"{text} {code}"
