"""Client secrets: what a shop's front end presents to pay one order through the API.

A secret is ``cs_<selector>_<validator>``: 64 random bits that find its row, then 256
random bits of which only the SHA-256 digest is stored and compared in constant time. The
secret is shown once, to the shop's own code (``issue_client_secret``), which hands it to
its front end; it opens that order and no other, until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.utils import timezone

from checkout.conf import checkout_settings
from checkout.models import ClientSecret, Order

__all__ = [
    "PREFIX",
    "SecretRefused",
    "authenticate",
    "extend_for_payment",
    "issue_client_secret",
]

PREFIX = "cs_"
_SHAPE = re.compile(r"cs_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
#: Kept beyond a gateway order's SESSION_TIMEOUT, for the 3-D Secure return and polling.
SESSION_MARGIN = 10 * 60


class SecretRefused(Exception):
    """The request's client secret does not open the order; ``code`` says why."""

    MISSING = "client_secret_required"
    INVALID = "client_secret_invalid"
    EXPIRED = "client_secret_expired"

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _digest(validator: str) -> str:
    return hashlib.sha256(validator.encode("ascii")).hexdigest()


def issue_client_secret(order: Order, *, lifetime: int | None = None) -> str:
    """A new client secret for ``order``, valid ``lifetime`` seconds (default
    ``API_CLIENT_SECRET_LIFETIME``, never less than ``SESSION_TIMEOUT``).

    Only its digest is kept: hand the value to the shopper's front end and forget it.
    """
    seconds = int(checkout_settings.API_CLIENT_SECRET_LIFETIME if lifetime is None else lifetime)
    seconds = max(seconds, int(checkout_settings.SESSION_TIMEOUT))
    selector = secrets.token_hex(8)
    validator = secrets.token_urlsafe(32)
    now = timezone.now()
    ClientSecret.objects.create(
        order=order,
        selector=selector,
        digest=_digest(validator),
        created_at=now,
        expires_at=now + timedelta(seconds=seconds),
    )
    return f"{PREFIX}{selector}_{validator}"


def authenticate(value: str, order: Order | None) -> ClientSecret:
    """The secret row that ``value`` is, if it opens ``order``; SecretRefused otherwise.

    An unknown secret, another order's secret and an order that does not exist (None) are
    refused alike (INVALID), so that a secret tells nothing about orders it does not open.
    """
    if not value:
        raise SecretRefused(SecretRefused.MISSING)
    match = _SHAPE.fullmatch(value)
    if match is None:
        raise SecretRefused(SecretRefused.INVALID)
    selector, validator = match.groups()
    row = ClientSecret.objects.filter(selector=selector).first()
    # The comparison runs whether or not a row was found, in constant time.
    stored = row.digest if row is not None else "0" * 64
    valid = hmac.compare_digest(stored, _digest(validator))
    if row is None or not valid or order is None or row.order_id != order.pk:
        raise SecretRefused(SecretRefused.INVALID)
    if row.expires_at <= timezone.now():
        raise SecretRefused(SecretRefused.EXPIRED)
    return row


def extend_for_payment(secret: ClientSecret) -> None:
    """Keep ``secret`` valid while a payment started now can still be settled: the
    gateway order lives SESSION_TIMEOUT seconds, and the shopper comes back after it."""
    until = timezone.now() + timedelta(
        seconds=int(checkout_settings.SESSION_TIMEOUT) + SESSION_MARGIN
    )
    if secret.expires_at < until:
        ClientSecret.objects.filter(pk=secret.pk, expires_at__lt=until).update(expires_at=until)
        secret.expires_at = until
