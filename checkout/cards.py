"""Card data and the rules about it: brand, Luhn, expiry, and the one masking rule.

``CardData`` holds a card for the length of one payment call, in memory only: it cannot be
pickled (so it never reaches a cache or a session) and never shows the number in full.
What may be kept of a card is what ``masked_pan()`` lets through: the first six and last
four digits, as the gateway masks numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

__all__ = [
    "MAX_CARD_YEARS",
    "CardData",
    "card_brand",
    "card_expiry",
    "luhn_valid",
    "masked_pan",
    "parse_expiry",
]

#: Longest expiry accepted, in years from now (issuers use at most about 10).
MAX_CARD_YEARS = 20

_EXPIRY = re.compile(r"(\d{1,2})\s*/\s*(\d{2}|\d{4})")
#: First six, two to nine mask characters, last four: 12 to 19 characters in all.
_MASKED_PAN = re.compile(r"\d{6}[*Xx•]{2,9}\d{4}")
_YYYYMM = re.compile(r"\d{4}(0[1-9]|1[0-2])")


def card_brand(pan: str) -> str:
    """The card scheme guessed from the number's prefix ("" if unknown)."""
    two, four = pan[:2], pan[:4]
    if pan.startswith("4"):
        return "VISA"
    if two in {"34", "37"}:
        return "AMEX"
    if "51" <= two <= "55" or "2221" <= four <= "2720":
        return "MASTERCARD"
    if four == "6011" or two == "65" or "644" <= pan[:3] <= "649":
        return "DISCOVER"
    if two == "62":
        return "CUP"
    if "3528" <= four <= "3589":
        return "JCB"
    if two in {"36", "38"} or "300" <= pan[:3] <= "305":
        return "DINERS"
    if two == "50" or "56" <= two <= "69":
        return "MAESTRO"
    return ""


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every real card number passes."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return bool(number) and total % 10 == 0


def parse_expiry(value: str, *, today: date | None = None) -> str:
    """``"MM/YY"`` (or ``"MM/YYYY"``) as ``"YYYYMM"``; ValueError if malformed or expired.

    The error's text is ``"format"`` or ``"expired"``, never the value.
    """
    match = _EXPIRY.fullmatch(value.strip())
    if not match:
        raise ValueError("format")
    month, year = int(match.group(1)), int(match.group(2))
    if len(match.group(2)) == 2:
        year += 2000
    if not 1 <= month <= 12:
        raise ValueError("format")
    today = today or timezone.localdate()
    # A card is valid until the last day of its expiry month.
    if (year, month) < (today.year, today.month):
        raise ValueError("expired")
    if year > today.year + MAX_CARD_YEARS:
        raise ValueError("format")
    return f"{year:04d}{month:02d}"


def masked_pan(value: Any) -> str:
    """``value`` if it is a masked card number (first six, last four); else ""."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    return value if _MASKED_PAN.fullmatch(value) else ""


def card_expiry(value: Any) -> str:
    """A gateway's expiry if it is ``YYYYMM``; else ""."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    return value if _YYYYMM.fullmatch(value) else ""


@dataclass(frozen=True, repr=False)
class CardData:
    """Card details for one payment call; kept in memory only and never shown in full."""

    pan: str
    cvc: str
    expiry: str
    cardholder_name: str = ""

    @sensitive_variables()
    def __post_init__(self) -> None:
        pan = "".join(self.pan.split()).replace("-", "")
        object.__setattr__(self, "pan", pan)
        object.__setattr__(self, "cvc", self.cvc.strip())
        object.__setattr__(self, "expiry", self.expiry.strip())
        object.__setattr__(self, "cardholder_name", " ".join(self.cardholder_name.split()))
        # Error messages name the field only: they may end up in logs.
        if not (pan.isascii() and pan.isdigit() and 12 <= len(pan) <= 19):
            raise ValueError("The card number must be 12 to 19 digits.")
        if self.cvc and not (self.cvc.isascii() and self.cvc.isdigit() and len(self.cvc) in (3, 4)):
            raise ValueError("The security code must be 3 or 4 digits.")
        exp = self.expiry
        if not (len(exp) == 6 and exp.isascii() and exp.isdigit() and 1 <= int(exp[4:]) <= 12):
            raise ValueError("The expiry must be YYYYMM.")

    @property
    def brand(self) -> str:
        return card_brand(self.pan)

    @property
    def masked_pan(self) -> str:
        """First six and last four digits, as the gateway masks numbers."""
        pan = self.pan
        if len(pan) < 13:
            return "*" * (len(pan) - 4) + pan[-4:]
        return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]

    def __repr__(self) -> str:
        return f"<CardData {self.brand or 'card'} {self.masked_pan}>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickling is how objects reach caches and sessions: card data must not.
        raise TypeError("CardData cannot be pickled.")
