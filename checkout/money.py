"""Money in integer minor units, with ISO 4217 data from the ``iso4217`` package."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import iso4217

__all__ = ["CurrencyInfo", "currency", "format_amount", "parse_amount"]

#: A whole part with thousands separators, as format_amount() writes it ("1,000").
_GROUPED = re.compile(r"\d{1,3}(,\d{3})+")


@dataclass(frozen=True)
class CurrencyInfo:
    """An ISO 4217 currency: alphabetic code, numeric code and minor-unit exponent."""

    code: str
    numeric: str
    exponent: int


@cache
def currency(code: str) -> CurrencyInfo:
    """Look a currency up by its alphabetic (``"EUR"``) or numeric (``"978"``) code."""
    text = str(code).strip().upper()
    cur = _by_number().get(int(text)) if text.isdigit() else _by_code().get(text)
    if cur is None or cur.number is None:
        raise ValueError(f"Unknown ISO 4217 currency {code!r}.")
    return CurrencyInfo(code=cur.code, numeric=f"{cur.number:03d}", exponent=cur.exponent or 0)


@lru_cache(maxsize=1)
def _by_code() -> dict[str, iso4217.Currency]:
    return {cur.code: cur for cur in iso4217.Currency}


@lru_cache(maxsize=1)
def _by_number() -> dict[int, iso4217.Currency]:
    return {cur.number: cur for cur in iso4217.Currency if cur.number is not None}


def format_amount(minor: int, code: str) -> str:
    """``format_amount(1999, "EUR") == "19.99 EUR"``, without floats."""
    exp = currency(code).exponent
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(int(minor)), 10**exp)
    body = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    return f"{sign}{body} {currency(code).code}"


def parse_amount(text: str, code: str) -> int:
    """Parse a decimal string ("12.50") into minor units, refusing extra precision."""
    exp = currency(code).exponent
    text = text.strip()
    whole, _, frac = text.partition(".")
    if "," in text and ("," in frac or not _GROUPED.fullmatch(whole)):
        # "1,50" is a decimal comma: dropped as a separator it would mean 100 times as much.
        raise ValueError(f"Not an amount: {text!r} (use a point for decimals).")
    text = text.replace(",", "")
    if not text or text.count(".") > 1 or not text.replace(".", "").isdigit():
        raise ValueError(f"Not an amount: {text!r}.")
    whole, _, frac = text.partition(".")
    if len(frac) > exp:
        raise ValueError(f"{code} has {exp} decimal places.")
    minor: int = int(whole or "0") * 10**exp + int((frac or "0").ljust(exp, "0") or "0")
    return minor
