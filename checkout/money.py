"""Money in integer minor units, with ISO 4217 data from the ``iso4217`` package.

``format_money`` writes an amount for people in their language (CLDR data through Babel:
symbol, separators, where the symbol goes); ``format_amount`` writes the one plain form
that logs, notes in the history and exports use whatever the language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache

import iso4217
from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, parse_pattern
from django.conf import settings
from django.utils import translation

__all__ = ["CurrencyInfo", "currency", "format_amount", "format_money", "parse_amount"]

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


def format_money(minor: int, code: str, locale: str | None = None) -> str:
    """An amount in minor units as the shopper's language writes it, without floats.

    ``format_money(1450, "EUR", "el") == "14,50\u00a0€"`` (a no-break space before the
    sign, as CLDR has it) and ``format_money(1450, "EUR", "en") == "€14.50"``. ``locale``
    is a Django language code ("el", "en-gb") or a CLDR one ("el_CY"); by default the
    active language. The number of decimals is the currency's ISO 4217 exponent, also
    where CLDR rounds cash amounts differently. Raises ValueError for an unknown currency.
    """
    info = currency(code)
    value = Decimal(int(minor)).scaleb(-info.exponent)
    cldr = _locale(locale or translation.get_language() or settings.LANGUAGE_CODE)
    return str(
        _pattern(cldr, info.exponent).apply(value, cldr, currency=info.code, currency_digits=False)
    )


@lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    """The CLDR locale of a Django language code; English when CLDR has none."""
    try:
        return Locale.parse(translation.to_locale(language))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


@lru_cache(maxsize=64)
def _pattern(cldr: Locale, exponent: int) -> NumberPattern:
    """The locale's currency pattern with exactly ``exponent`` decimals."""
    standard = cldr.currency_formats["standard"]
    pattern = parse_pattern(standard.pattern)
    pattern.frac_prec = (exponent, exponent)
    return pattern


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
