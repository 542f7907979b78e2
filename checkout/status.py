"""The status vocabulary: our payment statuses, their transitions and the gateway's codes.

Every named set of statuses, the transition table, the gateway's ``orderStatus`` codes and
the mapping from a gateway answer to our status live here and nowhere else. The module
imports nothing else from the app, so models, services, views and the admin can all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ACTIVE_STATUSES",
    "BLOCKING_STATUSES",
    "CHANGEABLE_STATUSES",
    "DEPOSITED_ORDER_STATUSES",
    "FINAL_STATUSES",
    "FULFILMENT_STATUSES",
    "REFUNDABLE_STATUSES",
    "SECURED_STATUSES",
    "SESSION_EXPIRED",
    "TRANSITIONS",
    "UNCONFIRMED_STATUSES",
    "UNKNOWN_ORDER",
    "UNSUCCESSFUL_STATUSES",
    "GatewayOrderStatus",
    "PaymentStatus",
    "Source",
    "is_final",
    "status_from_gateway",
]


class PaymentStatus(models.TextChoices):
    """Where one attempt at the gateway stands."""

    CREATED = "created", _("Created")
    # Claimed: instantPayment.do is being called for this attempt right now.
    PROCESSING = "processing", _("Processing")
    AWAITING_3DS = "awaiting_3ds", _("Awaiting 3-D Secure")
    HELD = "held", _("Held (authorised, not captured)")
    PAID = "paid", _("Paid")
    DECLINED = "declined", _("Declined")
    # The gateway refused the request itself (bad data, access denied): no money moved.
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")
    VOIDED = "voided", _("Voided")
    PARTLY_REFUNDED = "partly_refunded", _("Partly refunded")
    REFUNDED = "refunded", _("Refunded")
    # A money-moving call failed after it may have reached the gateway.
    OUTCOME_UNKNOWN = "outcome_unknown", _("Outcome unknown")
    # The gateway's answer does not match this attempt (number, amount or currency).
    NEEDS_REVIEW = "needs_review", _("Needs review")


class Source(models.TextChoices):
    """What caused a status change."""

    CARD_ENTRY = "card_entry", _("Card entry")
    THREEDS_RETURN = "threeds_return", _("3-D Secure return")
    CALLBACK = "callback", _("Callback")
    RECONCILIATION = "reconciliation", _("Reconciliation")
    ADMIN = "admin", _("Admin")
    # A payment the shop started without the shopper, on a saved card.
    MERCHANT = "merchant", _("Merchant-initiated")
    SYSTEM = "system", _("System")


S = PaymentStatus

#: Allowed changes. A status mapping to nothing is final.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PROCESSING, S.EXPIRED, S.FAILED}),
    S.PROCESSING: frozenset(
        {
            S.AWAITING_3DS,
            S.HELD,
            S.PAID,
            S.DECLINED,
            S.FAILED,
            S.EXPIRED,
            S.OUTCOME_UNKNOWN,
            S.NEEDS_REVIEW,
        }
    ),
    S.AWAITING_3DS: frozenset({S.HELD, S.PAID, S.DECLINED, S.EXPIRED, S.NEEDS_REVIEW}),
    S.OUTCOME_UNKNOWN: frozenset(
        {S.AWAITING_3DS, S.HELD, S.PAID, S.DECLINED, S.FAILED, S.EXPIRED, S.NEEDS_REVIEW}
    ),
    S.HELD: frozenset({S.PAID, S.VOIDED, S.PARTLY_REFUNDED, S.REFUNDED, S.NEEDS_REVIEW}),
    S.PAID: frozenset({S.PARTLY_REFUNDED, S.REFUNDED, S.VOIDED, S.NEEDS_REVIEW}),
    # A further partial refund is a real event: it moves money and gets its own row.
    S.PARTLY_REFUNDED: frozenset({S.PARTLY_REFUNDED, S.REFUNDED, S.NEEDS_REVIEW}),
    S.REFUNDED: frozenset(),
    S.DECLINED: frozenset(),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
    S.VOIDED: frozenset(),
    S.NEEDS_REVIEW: frozenset(),
}

#: Attempts that can change no more.
FINAL_STATUSES = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
#: Attempts whose money is secured (held or captured), now or before a refund.
SECURED_STATUSES = frozenset({S.HELD, S.PAID, S.PARTLY_REFUNDED, S.REFUNDED})
#: Attempts that are still being worked on: no second attempt may start meanwhile. They
#: wait for news from the gateway, so checkout_sync settles them when they linger.
ACTIVE_STATUSES = frozenset({S.PROCESSING, S.AWAITING_3DS, S.OUTCOME_UNKNOWN})
#: Active attempts whose gateway answer has not been confirmed yet ("we are confirming").
UNCONFIRMED_STATUSES = frozenset({S.PROCESSING, S.OUTCOME_UNKNOWN})
#: Attempts that ended without money moving: the shopper may try again.
UNSUCCESSFUL_STATUSES = frozenset({S.DECLINED, S.FAILED, S.EXPIRED})
#: Attempts that stop a new attempt for the same order from starting.
BLOCKING_STATUSES = frozenset({*SECURED_STATUSES, *ACTIVE_STATUSES, S.NEEDS_REVIEW})
#: Paid attempts whose order the shop should deliver (order_paid is re-sent until then).
FULFILMENT_STATUSES = frozenset({S.HELD, S.PAID, S.PARTLY_REFUNDED})
#: Attempts with money left to give back (a hold is reversed instead).
REFUNDABLE_STATUSES = SECURED_STATUSES - {S.REFUNDED}
#: Attempts a status query may still change (a fresh, unclaimed one has nothing to ask).
CHANGEABLE_STATUSES = frozenset(TRANSITIONS) - FINAL_STATUSES - {S.CREATED}


def is_final(status: str) -> bool:
    """True for a status that no transition leaves."""
    return status in FINAL_STATUSES


class GatewayOrderStatus(IntEnum):
    """The gateway's ``orderStatus`` of an order (``getOrderStatusExtended.do``)."""

    DECLINED_GENERIC = -1
    REGISTERED = 0
    APPROVED = 1  # authorised and held, not captured
    DEPOSITED = 2  # authorised and captured
    REVERSED = 3
    REFUNDED = 4  # in part or in full: the amounts tell
    ACS_STARTED = 5  # the issuer's 3-D Secure authentication is under way
    DECLINED = 6  # also an expired session (actionCode -2007)
    PENDING = 7
    PARTLY_DEPOSITED = 8  # captured in several parts

    @property
    def label(self) -> str:
        """The state in words, for people ("deposited")."""
        return str(_GATEWAY_LABELS[self])


G = GatewayOrderStatus

_GATEWAY_LABELS: Mapping[GatewayOrderStatus, Promise] = {
    G.DECLINED_GENERIC: _("declined (generic)"),
    G.REGISTERED: _("registered, not paid yet"),
    G.APPROVED: _("approved (held)"),
    G.DEPOSITED: _("deposited"),
    G.REVERSED: _("reversed"),
    G.REFUNDED: _("refunded"),
    G.ACS_STARTED: _("3-D Secure under way"),
    G.DECLINED: _("declined"),
    G.PENDING: _("pending"),
    G.PARTLY_DEPOSITED: _("partly deposited"),
}

#: Gateway states of an order whose money was captured (refunds leave it in this group).
DEPOSITED_ORDER_STATUSES = frozenset({G.DEPOSITED, G.REFUNDED, G.PARTLY_DEPOSITED})
#: Gateway states that say nothing yet about the money.
_NO_NEWS = frozenset({G.REGISTERED, G.ACS_STARTED, G.PENDING})
#: Gateway states of an order registered and waiting for the shopper's 3-D Secure step,
#: which acsRedirect.do can still start with the gateway's order id alone.
AWAITING_AUTHENTICATION = frozenset({G.REGISTERED, G.ACS_STARTED})

#: actionCode of an order whose session timed out before it was paid.
SESSION_EXPIRED = -2007
#: errorCode of a status query for an order the gateway does not know.
UNKNOWN_ORDER = 6


def status_from_gateway(
    order_status: int | None,
    action_code: int | None,
    *,
    approved: int = 0,
    deposited: int = 0,
    refunded: int = 0,
) -> str | None:
    """Our status for a gateway ``orderStatus`` and its amounts; None means "no news yet"."""
    if order_status is None or order_status in _NO_NEWS:
        return None
    if order_status == G.APPROVED:
        return S.HELD
    if order_status in DEPOSITED_ORDER_STATUSES:
        if refunded and deposited and refunded >= deposited:
            return S.REFUNDED
        if refunded:
            return S.PARTLY_REFUNDED
        return S.REFUNDED if order_status == G.REFUNDED else S.PAID
    if order_status == G.REVERSED:
        return S.VOIDED
    if order_status == G.DECLINED:
        return S.EXPIRED if action_code == SESSION_EXPIRED else S.DECLINED
    return S.DECLINED
