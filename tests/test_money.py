"""ISO 4217 data and minor-unit arithmetic without floats."""

from __future__ import annotations

import pytest

from checkout.money import CurrencyInfo, currency, format_amount, parse_amount


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
