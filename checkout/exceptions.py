"""One exception hierarchy for the app.

Configuration problems raise ``ImproperlyConfigured`` and stay outside it; a forged or
malformed callback raises a ``SuspiciousOperation`` subclass so Django answers 400.
"""

from __future__ import annotations

from django.core.exceptions import SuspiciousOperation

__all__ = [
    "CallbackError",
    "CheckoutError",
    "GatewayError",
    "GatewayRefused",
    "GatewayUnavailable",
    "InvalidTransition",
    "OperationNotAllowed",
    "OrderNotPayable",
    "OutcomeUnknown",
    "PaymentDeclined",
]


class CheckoutError(Exception):
    """Base class of the app's errors."""


class GatewayError(CheckoutError):
    """A call to the gateway did not produce a usable answer."""

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        self.operation = operation


class GatewayRefused(GatewayError):
    """A well-formed answer with errorCode != 0: the gateway refused the request."""

    def __init__(self, code: int, message: str, *, operation: str = "") -> None:
        super().__init__(
            f"{operation or 'gateway'} refused: errorCode {code}: {message}", operation=operation
        )
        self.code = code
        self.gateway_message = message


class GatewayUnavailable(GatewayError):
    """Transport failure where the request certainly had no effect (no connection, 429,
    or any failure of a read-only call)."""


class OutcomeUnknown(GatewayUnavailable):
    """A money-moving call failed after the request may have reached the gateway.

    The money may have moved: resolve with a status query, never by retrying.
    """


class PaymentDeclined(CheckoutError):
    """The card was declined. Its message is safe to show the shopper."""

    def __init__(self, message: str, *, action_code: int | None = None) -> None:
        super().__init__(message)
        self.action_code = action_code


class OrderNotPayable(CheckoutError):
    """A new payment attempt cannot start for this order (``reason`` says why)."""

    PAID = "paid"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    EXPIRED = "expired"

    def __init__(self, reason: str, *, payment: object = None) -> None:
        super().__init__(f"order not payable: {reason}")
        self.reason = reason
        self.payment = payment


class InvalidTransition(CheckoutError):
    """A status change that the transition table does not allow."""


class OperationNotAllowed(CheckoutError):
    """A back-office operation that the payment's state or amounts do not allow."""


class CallbackError(SuspiciousOperation):
    """A callback notification that cannot be trusted (missing or wrong checksum)."""
