"""The sandbox's test cards. Behaviour depends on the card number alone.

Any expiry in the future and any CVC work, so tests never age out. ``CARDS`` is public:
other tests iterate it to run every card through the real client.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACTION_CODES",
    "CARDS",
    "ISO_CODES",
    "ONE_TIME_CODE",
    "UNKNOWN_CARD_ACTION_CODE",
    "TestCard",
    "ThreeDS",
    "card_for",
    "describe",
    "luhn_valid",
    "mask_pan",
    "payment_system",
]

#: The one-time code that passes every 3-D Secure challenge; anything else fails.
ONE_TIME_CODE = "123456"


class ThreeDS:
    """How a card goes through 3-D Secure."""

    NONE = "none"  # SSL payment: answered at once by instantPayment.do
    CHALLENGE = "challenge"  # the shopper types the one-time code on the ACS page
    FRICTIONLESS = "frictionless"  # acsRedirect.do finishes at once, authenticated
    FRICTIONLESS_FAIL = "frictionless_fail"  # acsRedirect.do fails at once, no challenge


@dataclass(frozen=True)
class TestCard:
    """One test card: its number, scheme and what the sandbox does with it."""

    __test__ = False  # a data class, not a pytest test class

    pan: str
    brand: str
    three_ds: str
    action_code: int  # result of the authorisation (0 = approved)
    description: str
    # A transport fault injected into the instantPayment.do answer (see faults.py).
    fault: str = ""

    @property
    def approves(self) -> bool:
        return self.action_code == 0 and self.three_ds != ThreeDS.FRICTIONLESS_FAIL

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    @property
    def display_pan(self) -> str:
        return " ".join(self.pan[i : i + 4] for i in range(0, len(self.pan), 4))


CARDS: tuple[TestCard, ...] = (
    TestCard("4444555511113333", "VISA", ThreeDS.NONE, 0, "Approved without 3-D Secure"),
    TestCard("5555555555555599", "MASTERCARD", ThreeDS.CHALLENGE, 0, "3-D Secure challenge"),
    TestCard("5000001111111115", "MASTERCARD", ThreeDS.CHALLENGE, 0, "3-D Secure challenge"),
    TestCard("4012001038166662", "VISA", ThreeDS.CHALLENGE, 0, "3-D Secure challenge"),
    TestCard("4111111111111111", "VISA", ThreeDS.FRICTIONLESS, 0, "3-D Secure frictionless"),
    TestCard("4000001111111118", "VISA", ThreeDS.FRICTIONLESS, 0, "3-D Secure attempt, approved"),
    TestCard(
        "5168494895055780",
        "MASTERCARD",
        ThreeDS.FRICTIONLESS_FAIL,
        341016,
        "3-D Secure fails without a challenge",
    ),
    TestCard("4000000000001166", "VISA", ThreeDS.NONE, 116, "Declined: insufficient funds"),
    TestCard("4000000000001018", "VISA", ThreeDS.NONE, 101, "Declined: expired card"),
    TestCard("4000000000000051", "VISA", ThreeDS.NONE, 5, "Declined: do not honour"),
    TestCard("4000000000002081", "VISA", ThreeDS.NONE, 208, "Declined: lost or stolen card"),
    TestCard("4000000000000820", "VISA", ThreeDS.NONE, 82, "Declined: invalid CVC"),
    TestCard(
        "5555550000001166",
        "MASTERCARD",
        ThreeDS.CHALLENGE,
        116,
        "3-D Secure challenge, then declined: insufficient funds",
    ),
    TestCard(
        "4000000000009003",
        "VISA",
        ThreeDS.NONE,
        0,
        "Approved after a delay (latency fault)",
        fault="latency",
    ),
    TestCard(
        "4000000000005001",
        "VISA",
        ThreeDS.NONE,
        0,
        "Approved, then the answer is HTTP 500",
        fault="http500_after",
    ),
    TestCard(
        "4000000000009995",
        "VISA",
        ThreeDS.NONE,
        0,
        "Approved, then the connection drops without an answer",
        fault="drop_after",
    ),
)

#: Authorisation result of a card number that is not in the table.
UNKNOWN_CARD_ACTION_CODE = 71015

_BY_PAN = {card.pan: card for card in CARDS}

#: Texts of the action codes the sandbox produces (the real gateway's are similar).
ACTION_CODES: dict[int, str] = {
    0: "Request processed successfully",
    -100: "No payment attempts",
    -2006: "Issuer declined 3-D Secure authentication",
    -2007: "Payment session expired: card data not entered in time",
    5: "Do not honour",
    82: "Incorrect CVC",
    101: "Card expired",
    116: "Insufficient funds",
    125: "Card not effective (closed by the issuer)",
    208: "Card lost or stolen",
    209: "Card stolen",
    341016: "3-D Secure 2: authentication declined (ARes)",
    341018: "3-D Secure 2: challenge cancelled by the cardholder",
    71015: "Invalid card data entered",
}

#: ISO 8583 response codes that go with the action codes (``originalActionCode``).
ISO_CODES: dict[int, str] = {
    0: "00",
    5: "05",
    82: "N7",
    101: "54",
    116: "51",
    125: "14",
    208: "41",
    209: "43",
}


def card_for(pan: str) -> TestCard | None:
    """The test card with this number, if any."""
    return _BY_PAN.get(pan)


def luhn_valid(pan: str) -> bool:
    """The Luhn check every real card number passes."""
    if not (pan.isascii() and pan.isdigit()):
        return False
    total = 0
    for index, char in enumerate(reversed(pan)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def mask_pan(pan: str) -> str:
    """First six and last four digits, the way the bank shows numbers to merchants."""
    return pan[:6] + "**" + pan[-4:]


def payment_system(pan: str) -> str:
    """The card scheme from the number's prefix, as ``paymentSystem`` names it."""
    if pan.startswith("4"):
        return "VISA"
    if pan[:2] in ("34", "37"):
        return "AMEX"
    if "3528" <= pan[:4] <= "3589":
        return "JCB"
    if pan.startswith("62"):
        return "CUP"
    if pan.startswith("5") or "2221" <= pan[:4] <= "2720":
        return "MASTERCARD"
    return "UNKNOWN"


def describe(action_code: int) -> str:
    return ACTION_CODES.get(action_code, "Declined")
