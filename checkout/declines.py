"""What the shopper is told about an attempt, in plain words, and what an actionCode means.

Decline reasons are named only where they help the shopper act (not enough money, an
expired card, a mistyped security code). Fraud-related codes share the generic text with
every unknown code, so the page cannot be used to sort stolen cards. Operators (the
admin) get the meaning of each group of codes, fraud included: ``action_code_meaning``.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from checkout.models import Payment
from checkout.status import PaymentStatus

__all__ = [
    "EXPIRED_CARD",
    "FRAUD",
    "GENERIC_DECLINE",
    "INSUFFICIENT_FUNDS",
    "NO_ATTEMPT",
    "THREEDS_FAILED",
    "TIMED_OUT",
    "WRONG_CVC",
    "action_code_meaning",
    "decline_message",
    "payment_message",
]

S = PaymentStatus

# actionCode groups from API-NOTES §4.5.
INSUFFICIENT_FUNDS = frozenset({20, 100, 116, 121, 123, 902, 903, 915, -20010})
EXPIRED_CARD = frozenset({73, 101, 906})
WRONG_CVC = frozenset({82, 88, 871})
#: Lost, stolen, pick-up, security violation, suspected fraud, black-listed.
FRAUD = frozenset({4, 43, 41, 62, 63, 151, 203, 204, 208, 823, 999, -2000, -2001})
THREEDS_FAILED = frozenset(
    {
        -2005,
        -2006,
        -2010,
        -2011,
        -2015,
        -2016,
        -2017,
        -2018,
        -2019,
        -2020,
        -2022,
        -2023,
        -2024,
        -2025,
        2005,
        4032,
        151017,
        341016,
        341017,
        341018,
        341019,
        341020,
    }
)
TIMED_OUT = frozenset({-2007, -2009, -2014})
#: actionCode of an order nobody has tried to pay yet.
NO_ATTEMPT = -100

GENERIC_DECLINE = _("Your card was declined. Please contact your bank, or pay with another card.")

_DECLINES: tuple[tuple[frozenset[int], Promise], ...] = (
    (
        INSUFFICIENT_FUNDS,
        _(
            "Your card was declined: not enough funds, or a card limit was reached. "
            "Try another card or contact your bank."
        ),
    ),
    (
        EXPIRED_CARD,
        _(
            "Your card has expired, or its expiry date was wrong. "
            "Check the date or use another card."
        ),
    ),
    (
        WRONG_CVC,
        _("The security code (CVC) was wrong. Check the digits on the back of your card."),
    ),
    (
        THREEDS_FAILED,
        _("Your bank could not confirm that it is you (3-D Secure). No money was taken."),
    ),
    (TIMED_OUT, _("The payment was not completed in time. No money was taken.")),
    (FRAUD, GENERIC_DECLINE),
)


def decline_message(action_code: int | None) -> Promise:
    """The shopper-facing reason for a decline with this actionCode."""
    if action_code is not None:
        for codes, message in _DECLINES:
            if action_code in codes:
                return message
    return GENERIC_DECLINE


_BY_STATUS: dict[str, Promise] = {
    S.PAID: _("Thank you: your payment was received."),
    S.HELD: _("Thank you: your payment is authorised. Your card is charged when the order ships."),
    S.FAILED: _("The payment could not be processed and no money was taken. Please try again."),
    S.EXPIRED: _("The payment was not completed in time. No money was taken."),
    S.VOIDED: _("This payment was cancelled by the shop. No money was taken."),
    S.PARTLY_REFUNDED: _("This payment was refunded in part."),
    S.REFUNDED: _("This payment was refunded."),
    S.AWAITING_3DS: _("Your bank still needs to confirm this payment (3-D Secure)."),
    S.NEEDS_REVIEW: _(
        "We are checking this payment with the bank. Please do not pay again: the shop will "
        "contact you."
    ),
    S.PROCESSING: _("We are confirming your payment with the bank."),
    S.OUTCOME_UNKNOWN: _("We are confirming your payment with the bank."),
    S.CREATED: _("This payment has not started yet."),
}


def payment_message(payment: Payment) -> Promise:
    """What the result page says about ``payment``."""
    if payment.status == S.DECLINED:
        return decline_message(payment.action_code)
    return _BY_STATUS.get(payment.status, GENERIC_DECLINE)


#: What each group of codes means, for operators; checked in this order.
_MEANINGS: tuple[tuple[frozenset[int], Promise], ...] = (
    (frozenset({0}), _("approved")),
    (frozenset({NO_ATTEMPT}), _("no attempt to pay yet")),
    (INSUFFICIENT_FUNDS, _("not enough funds, or a card limit reached")),
    (EXPIRED_CARD, _("card expired, or a wrong expiry date")),
    (WRONG_CVC, _("wrong security code (CVC)")),
    (THREEDS_FAILED, _("3-D Secure authentication failed")),
    (TIMED_OUT, _("not completed in time")),
    (FRAUD, _("lost or stolen card, or suspected fraud")),
)


def action_code_meaning(action_code: int) -> Promise:
    """What an actionCode means, in words for operators (not for the shopper)."""
    for codes, meaning in _MEANINGS:
        if action_code in codes:
            return meaning
    return _("declined (no details for this code)")
