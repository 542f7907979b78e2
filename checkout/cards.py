"""Card data and the rules about it: brand, Luhn, expiry, name, and the one masking rule.

``CardData`` holds a card for the length of one payment call, in memory only: it cannot be
pickled (so it never reaches a cache or a session) and never shows the number in full.
What may be kept of a card is what ``masked_pan()`` lets through: the first six and last
four digits, as the gateway masks numbers.

The rules for what a shopper types (``parse_pan``, ``parse_expiry``,
``parse_cardholder_name``) are the same as card.js's: both are tested against one table,
tests/fixtures/card_inputs.json. Their ``ValueError`` says which rule failed, in one word
(the codes of the card form's errors), never the value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

__all__ = [
    "CARD_NUMBER_LENGTHS",
    "MAX_CARD_YEARS",
    "MAX_NAME_LENGTH",
    "CardData",
    "card_brand",
    "card_expiry",
    "latin_name",
    "luhn_valid",
    "masked_pan",
    "parse_cardholder_name",
    "parse_expiry",
    "parse_pan",
]

#: Longest expiry accepted, in years from now (issuers use at most about 10).
MAX_CARD_YEARS = 20

#: Longest cardholder name the gateway takes, in Latin letters.
MAX_NAME_LENGTH = 45

#: How many digits a card number of each scheme has (card.js knows the same lengths).
CARD_NUMBER_LENGTHS: dict[str, tuple[int, ...]] = {
    "AMEX": (15,),
    "DINERS": (14, 16, 19),
    "JCB": (16, 17, 18, 19),
    "MAESTRO": (13, 14, 15, 16, 17, 18, 19),
    "MASTERCARD": (16,),
    "VISA": (13, 16, 19),
    "DISCOVER": (16, 17, 18, 19),
    "CUP": (16, 17, 18, 19),
    # The seToken and the gateway take 13 to 19 digits.
    "": (13, 14, 15, 16, 17, 18, 19),
}

# Between the month and the year: any run of spaces, "/", "-" or ".".
_EXPIRY_SEPARATORS = re.compile(r"[\s/.\-]+")
_DIGITS = re.compile(r"[0-9]+")
_PAN = re.compile(r"[0-9]+(?:[\s\-]+[0-9]+)*")
# Latin letters, spaces and the punctuation found in names; "/" would break a seToken.
_LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z .'\-]*")
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
    if two in {"36", "38", "39"} or "300" <= pan[:3] <= "305":
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


def parse_pan(value: str) -> str:
    """A card number as typed (spaces and dashes between digits allowed) as its digits.

    ValueError("invalid") unless it has 13 to 19 digits, as many as its scheme issues,
    and passes the Luhn check.
    """
    text = value.strip()
    if not _PAN.fullmatch(text):
        raise ValueError("invalid")
    pan = "".join(_DIGITS.findall(text))
    if len(pan) not in CARD_NUMBER_LENGTHS.get(card_brand(pan), ()) or not luhn_valid(pan):
        raise ValueError("invalid")
    return pan


def _expiry_parts(value: str) -> tuple[int, int] | None:
    """(month, year) of an expiry written in any of the accepted ways, or None."""
    text = value.strip()
    groups = [group for group in _EXPIRY_SEPARATORS.split(text) if group]
    if not all(group.isascii() and group.isdigit() for group in groups):
        return None
    if len(groups) == 2:
        month, year = groups
        if len(month) > 2 or len(year) not in (2, 4):
            return None
    elif len(groups) == 1:
        digits = groups[0]
        # Without a separator the length tells where the year starts. Three or five digits
        # are a one-digit month only when the first two cannot be a month ("130" = 1/30);
        # "123" could be 1/23 or the start of 12/3x, so it is refused, as card.js shows it.
        if len(digits) in (4, 6):
            month, year = digits[:2], digits[2:]
        elif len(digits) in (3, 5) and not 1 <= int(digits[:2]) <= 12:
            month, year = digits[:1], digits[1:]
        else:
            return None
    else:
        return None
    number = int(year)
    return int(month), number + 2000 if len(year) == 2 else number


def parse_expiry(value: str, *, today: date | None = None) -> str:
    """An expiry as typed, as ``"YYYYMM"``; ValueError if malformed, expired or too far.

    Accepted: MM/YY, MM/YYYY, M/YY, M/YYYY, with or without spaces, and with "/", "-",
    "." or a space between month and year, or nothing ("1230", "122030"). The error's text
    is ``"format"``, ``"expired"`` or ``"year"`` (more than MAX_CARD_YEARS ahead), never
    the value.
    """
    parts = _expiry_parts(value)
    if parts is None:
        raise ValueError("format")
    month, year = parts
    if not 1 <= month <= 12:
        raise ValueError("format")
    today = today or timezone.localdate()
    # A card is valid until the last day of its expiry month.
    if (year, month) < (today.year, today.month):
        raise ValueError("expired")
    if year > today.year + MAX_CARD_YEARS:
        raise ValueError("year")
    return f"{year:04d}{month:02d}"


# ELOT 743 / ISO 843 (the Greek passport transcription), on lower-case letters.
_GREEK_LETTERS = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
    "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
    "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps",
    "ω": "o",
}  # fmt: skip
# αυ, ευ, ηυ are av, ev, iv before a vowel or a voiced consonant; af, ef, if otherwise.
_GREEK_VOICED = frozenset("αεηιουωβγδζλμνρ")
_ACCENTS = frozenset("\u0301\u0300\u0342")  # acute (tonos), grave, circumflex
_DIAERESIS = "\u0308"
_APOSTROPHES = frozenset("\u2019\u2018\u02bc`\u00b4")
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014")


def _after_letter(letters: list[tuple[str, str]], index: int) -> bool:
    if index == 0:
        return False
    base = letters[index - 1][0]
    return base in _GREEK_LETTERS or (base.isascii() and base.isalpha())


def latin_name(value: str) -> str:
    """A cardholder name in Latin letters, for the gateway.

    Greek letters are transcribed by ELOT 743 (ISO 843), and then the whole name is in
    capitals, as on Greek cards: "Ελένη Γεωργίου" becomes "ELENI GEORGIOU". A Latin name
    keeps the shopper's spelling, without accents ("José" becomes "Jose"). Curly
    apostrophes and dashes become plain ones and spaces are collapsed; anything else is
    left as it is, for ``parse_cardholder_name`` to refuse.
    """
    # Each letter with the marks above it: accents decide the Greek digraphs.
    letters: list[tuple[str, str]] = []
    for char in unicodedata.normalize("NFD", value):
        if unicodedata.category(char) == "Mn":
            if letters:
                base, marks = letters[-1]
                letters[-1] = (base, marks + char)
        elif char != "\u0384":  # a Greek tonos on its own
            letters.append((char.lower() if char.lower() in _GREEK_LETTERS else char, ""))
    out: list[str] = []
    greek = False
    index = 0
    while index < len(letters):
        base, marks = letters[index]
        following = letters[index + 1] if index + 1 < len(letters) else ("", "")
        after = letters[index + 2][0] if index + 2 < len(letters) else ""
        if base not in _GREEK_LETTERS:
            if base in _APOSTROPHES:
                base = "'"
            elif base in _DASHES:
                base = "-"
            elif base.isspace():
                base = " "
            out.append(base)
            index += 1
            continue
        greek = True
        # A diphthong unless its first vowel is accented or its υ carries a diaeresis.
        diphthong = (
            following[0] == "υ" and not _ACCENTS & set(marks) and _DIAERESIS not in following[1]
        )
        if diphthong and base in "αεη":
            out.append(_GREEK_LETTERS[base] + ("v" if after in _GREEK_VOICED else "f"))
            index += 2
        elif diphthong and base == "ο":
            out.append("ou")
            index += 2
        elif base == "μ" and following[0] == "π" and not _after_letter(letters, index):
            # μπ is b at the start of a word, mp inside it.
            out.append("b")
            index += 2
        elif base == "γ" and following[0] in ("γ", "ξ", "χ"):
            out.append("n")
            index += 1
        else:
            out.append(_GREEK_LETTERS[base])
            index += 1
    name = " ".join("".join(out).split())
    return name.upper() if greek else name


def parse_cardholder_name(value: str) -> str:
    """The name on the card as the gateway takes it (``latin_name``).

    ValueError("letters") for characters no name on a card has (digits, other scripts),
    ValueError("length") unless it is 2 to MAX_NAME_LENGTH characters long.
    """
    name = latin_name(value)
    if not _LATIN_NAME.fullmatch(name):
        raise ValueError("letters")
    if not 2 <= len(name) <= MAX_NAME_LENGTH:
        raise ValueError("length")
    return name


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
        # The gateway takes Latin letters: a Greek name is transcribed (latin_name).
        object.__setattr__(self, "cardholder_name", latin_name(self.cardholder_name))
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
