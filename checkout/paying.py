"""Taking a card payment for a shopper's request: claim, count, call.

The card page (``checkout.views``) and the JSON API (``checkout.api``) both pay through
``pay()``, so that they share the attempt rules: one attempt at a time per order (the claim),
the attempt limits counted on the claimed attempt (``checkout.ratelimit``), the call to
the gateway outside any transaction, backUrl and failUrl at the app's return view. What
comes back is an ``Outcome``; each caller turns it into its own kind of answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables

from checkout.cards import CardData
from checkout.exceptions import GatewayError, GatewayUnavailable, OrderNotPayable
from checkout.gateway import InstantPaymentResult
from checkout.models import Order, Payment, SavedCard, Wallet
from checkout.ratelimit import check_payment_attempt, client_ip, client_key
from checkout.services import abandon_payment, refresh_payment, start_payment, submit_payment
from checkout.status import BLOCKING_STATUSES, PaymentStatus

__all__ = [
    "REFRESH_THROTTLE",
    "SAVING_TII",
    "Outcome",
    "blocking_payment",
    "pay",
    "return_url",
    "throttled_refresh",
]

logger = logging.getLogger(__name__)

#: Seconds between two status queries for the same payment triggered by page loads.
REFRESH_THROTTLE = 2

S = PaymentStatus

#: The initiator indicator of an attempt that saves the card, by the order's recurrence.
SAVING_TII: dict[str, str] = {
    Order.Recurrence.RECURRING: "RI",
    Order.Recurrence.INSTALMENTS: "II",
}


@dataclass(frozen=True)
class Outcome:
    """What ``pay()`` came to.

    ``kind`` is one of: ``SUBMITTED`` (the gateway was asked: ``payment`` and ``result``,
    None when no answer came), ``EXPIRED`` (the order can no longer be paid), ``BLOCKED``
    (another attempt is running, the order is paid or under review: ``payment`` is that
    attempt when known), ``LIMITED`` (over an attempt limit: ``message`` for the shopper),
    ``UNAVAILABLE`` (the gateway could not be reached; nothing was sent).
    """

    SUBMITTED = "submitted"
    EXPIRED = "expired"
    BLOCKED = "blocked"
    LIMITED = "limited"
    UNAVAILABLE = "unavailable"

    kind: str
    payment: Payment | None = None
    result: InstantPaymentResult | None = None
    message: str = ""
    #: OrderNotPayable's reason for BLOCKED.
    reason: str = ""

    @property
    def needs_3ds(self) -> bool:
        """The shopper must go to the bank's 3-D Secure page.

        Not for a payment that a status query moved to AWAITING_3DS while the call ran
        with an answer that did not ask for 3-D Secure: the result is asked again instead.
        """
        payment, result = self.payment, self.result
        return (
            self.kind == self.SUBMITTED
            and payment is not None
            and payment.status == S.AWAITING_3DS
            and (result is None or result.requires_3ds)
        )


def return_url(request: HttpRequest) -> str:
    """The gateway's backUrl for this request: the app's return view, absolute."""
    return request.build_absolute_uri(reverse("jcc_checkout:return"))


def blocking_payment(order: Order) -> Payment | None:
    """The attempt that stops a new one from starting (secured, active or under review)."""
    for payment in order.payments.all():
        if payment.status in BLOCKING_STATUSES:
            return payment
    return None


@sensitive_variables("card", "se_token")
def pay(
    request: HttpRequest,
    order: Order,
    *,
    se_token: str | None = None,
    card: CardData | None = None,
    cardholder_name: str = "",
    wallet: Wallet | None = None,
    saved_card: SavedCard | None = None,
    tii: str = "",
    claimed: Callable[[Payment], None] | None = None,
) -> Outcome:
    """Claim an attempt for ``order``, count it, and send it to the gateway.

    ``claimed`` is called with the attempt as soon as it is claimed, before anything is
    sent (the API records it under the request's Idempotency-Key there).
    """
    try:
        # The attempt carries the key of the address counter it is counted on below, so
        # that it can be given back once its money is secured (from any request or job).
        payment = start_payment(
            order, client_key=client_key(request), wallet=wallet, saved_card=saved_card, tii=tii
        )
    except OrderNotPayable as err:
        if err.reason == OrderNotPayable.EXPIRED:
            return Outcome(Outcome.EXPIRED)
        blocking = err.payment if isinstance(err.payment, Payment) else None
        return Outcome(Outcome.BLOCKED, payment=blocking, reason=err.reason)
    if claimed is not None:
        claimed(payment)
    # Counted once the attempt is ours: only an attempt that may reach the gateway counts,
    # and it stops counting if it secures the money (only failed attempts use the limits).
    refusal = check_payment_attempt(request, order)
    if refusal:
        payment = abandon_payment(payment, reason="attempt limit reached")
        return Outcome(Outcome.LIMITED, payment=payment, message=refusal)
    back_url = return_url(request)
    try:
        payment, result = submit_payment(
            payment,
            back_url=back_url,
            fail_url=back_url + "?failed=1",
            card=card,
            se_token=se_token,
            cardholder_name=cardholder_name,
            email=order.email,
            ip=str(order.ip_address or client_ip(request)),
        )
    except GatewayUnavailable:
        payment.refresh_from_db()
        return Outcome(Outcome.UNAVAILABLE, payment=payment)
    return Outcome(Outcome.SUBMITTED, payment=payment, result=result)


def throttled_refresh(
    payment: Payment, *, source: str, throttle: bool = True
) -> tuple[Payment, bool]:
    """Refresh ``payment``, at most once per REFRESH_THROTTLE seconds unless told otherwise.

    Returns the payment and whether the gateway could be asked (False when it could not
    be reached, or when the cache that throttles the queries is down).
    """
    try:
        fresh = cache.add(f"checkout:refresh:{payment.pk}", 1, timeout=REFRESH_THROTTLE)
    except Exception:
        logger.exception("payment %s: refresh throttle unavailable (cache)", payment.order_number)
        if throttle:
            # Unthrottled page loads could flood the gateway with status queries: answer
            # as if it could not be asked (503, retry); a callback or checkout_sync settles
            # the payment meanwhile.
            payment.refresh_from_db()
            return payment, False
        fresh = True
    if throttle and not fresh:
        payment.refresh_from_db()
        return payment, True
    try:
        payment, _ = refresh_payment(payment, source=source)
    except GatewayError as err:
        logger.warning("payment %s: status query failed: %s", payment.order_number, err)
        payment.refresh_from_db()
        return payment, False
    return payment, True
