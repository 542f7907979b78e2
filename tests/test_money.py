"""ISO 4217 data and minor-unit arithmetic without floats."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from checkout.money import CurrencyInfo, currency, format_amount, format_money, parse_amount
from checkout.templatetags.checkout_tags import money


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("EUR", CurrencyInfo("EUR", "978", 2)),
        ("eur", CurrencyInfo("EUR", "978", 2)),
        (" 978 ", CurrencyInfo("EUR", "978", 2)),
        ("USD", CurrencyInfo("USD", "840", 2)),
        ("JPY", CurrencyInfo("JPY", "392", 0)),
        ("BHD", CurrencyInfo("BHD", "048", 3)),
        ("48", CurrencyInfo("BHD", "048", 3)),
        ("008", CurrencyInfo("ALL", "008", 2)),
    ],
)
def test_currency_by_alphabetic_or_numeric_code(code, expected):
    assert currency(code) == expected


@pytest.mark.parametrize("code", ["", "ZZZ", "EURO", "000", "1000", "€"])
def test_unknown_currency_is_a_value_error(code):
    with pytest.raises(ValueError, match="Unknown ISO 4217"):
        currency(code)


@pytest.mark.parametrize(
    ("minor", "code", "text"),
    [
        (1999, "EUR", "19.99 EUR"),
        (5, "EUR", "0.05 EUR"),
        (0, "EUR", "0.00 EUR"),
        (123456789, "EUR", "1,234,567.89 EUR"),
        (-1999, "EUR", "-19.99 EUR"),
        (500, "JPY", "500 JPY"),
        (1005, "BHD", "1.005 BHD"),
        (1999, "978", "19.99 EUR"),
    ],
)
def test_format_amount(minor, code, text):
    assert format_amount(minor, code) == text


@pytest.mark.parametrize(
    ("text", "code", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0.29", "EUR", 29),
        ("1.15", "EUR", 115),
        ("4.35", "EUR", 435),
        (".5", "EUR", 50),
        ("5.", "EUR", 500),
        (" 1,000.00 ", "EUR", 100000),
        ("500", "JPY", 500),
        ("1.005", "BHD", 1005),
        ("99999999999.99", "EUR", 9999999999999),
    ],
)
def test_parse_amount_is_exact(text, code, minor):
    # 0.29, 1.15 and 4.35 are the classic float traps (28.999..., 114.999..., 434.999...).
    assert parse_amount(text, code) == minor
    assert isinstance(parse_amount(text, code), int)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("12.505", "EUR"),
        ("1.5", "JPY"),
        ("", "EUR"),
        (" ", "EUR"),
        (".", "EUR"),
        ("abc", "EUR"),
        ("1.2.3", "EUR"),
        ("-1", "EUR"),
        ("1e3", "EUR"),
        ("12.5", "ZZZ"),
        # A decimal comma: read as a thousands separator it would mean 100 times the amount.
        ("1,50", "EUR"),
        ("12,5", "EUR"),
        ("1,0000.00", "EUR"),
        ("1.000,00", "EUR"),
    ],
)
def test_parse_amount_refuses_bad_text(text, code):
    with pytest.raises(ValueError):
        parse_amount(text, code)


@pytest.mark.parametrize("minor", [0, 1, 99, 100, 1999, 123456789])
def test_format_then_parse_round_trips(minor):
    text = format_amount(minor, "EUR").removesuffix(" EUR")
    assert parse_amount(text, "EUR") == minor


# --- amounts for people (CLDR through Babel) ---------------------------------------------

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("minor", "code", "locale", "text"),
    [
        (1450, "EUR", "el", f"14,50{NBSP}€"),
        (1450, "EUR", "en", "€14.50"),
        (1450, "978", "en-gb", "€14.50"),
        (1450, "EUR", "el_CY", f"14,50{NBSP}€"),
        (123456789, "EUR", "el", f"1.234.567,89{NBSP}€"),
        (123456789, "EUR", "en", "€1,234,567.89"),
        (-305, "EUR", "en", "-€3.05"),
        (5, "EUR", "el", f"0,05{NBSP}€"),
        (1000, "JPY", "en", "¥1,000"),
        # ISO 4217 gives IQD three decimals where CLDR rounds to none: ISO decides.
        (1235, "IQD", "en", "IQD1.235"),
        (1000, "BHD", "el", f"1,000{NBSP}BHD"),
        # A language CLDR does not know is written as English.
        (1450, "EUR", "xx", "€14.50"),
    ],
)
def test_format_money(minor, code, locale, text):
    assert format_money(minor, code, locale) == text


def test_format_money_follows_the_active_language():
    with translation.override("el"):
        assert format_money(1999, "EUR") == f"19,99{NBSP}€"
    with translation.override("en"):
        assert format_money(1999, "EUR") == "€19.99"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_money_is_exact_for_any_amount(minor):
    """No float in between: the digits are the minor units' digits."""
    text = format_money(minor, "EUR", "en")
    digits = "".join(ch for ch in text if ch.isdigit())
    assert int(digits) == abs(minor)
    assert text.startswith("-") == (minor < 0)


def test_format_money_refuses_an_unknown_currency():
    with pytest.raises(ValueError, match="Unknown ISO 4217"):
        format_money(100, "ZZZ", "en")


def test_the_money_filter_writes_for_the_active_language():
    with translation.override("el"):
        assert money(1450, "EUR") == f"14,50{NBSP}€"
        assert money(None, "EUR") == "" and money(1450, "ZZZ") == ""
