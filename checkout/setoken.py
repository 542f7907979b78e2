"""seToken: card data encrypted with the gateway's RSA public key (API-NOTES §6).

The plaintext is ``timestamp/uuid/PAN/CVV/YYYYMM/mdOrder/bindingId/cardholder/
registeredFrom`` with empty slots kept, encrypted with RSA PKCS#1 v1.5 and encoded as
standard Base64. Only the public key is ever cached; card data stays in memory.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import padding
from django.core.cache import cache
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from checkout.cards import CardData
from checkout.conf import checkout_settings
from checkout.exceptions import GatewayError
from checkout.gateway import GatewayClient, SeTokenKey, get_client
from checkout.keys import load_rsa_public_key, normalize_pem

__all__ = [
    "DEFAULT_KEY_LIFETIME",
    "build_binding_setoken",
    "build_setoken",
    "choose_key",
    "current_public_key",
    "public_key_expiry",
    "setoken_plaintext",
]

logger = logging.getLogger(__name__)

#: How long a key without keyExpiration is trusted before it is fetched again.
DEFAULT_KEY_LIFETIME = 60 * 60


def _timestamp(now: datetime | None) -> str:
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    # ISO 8601 with a colon in the offset and no fraction, in the shop's time zone.
    return timezone.localtime(moment).replace(microsecond=0).isoformat()


@sensitive_variables()
def setoken_plaintext(
    card: CardData,
    *,
    now: datetime | None = None,
    token_uuid: uuid.UUID | str | None = None,
    md_order: str = "",
    binding_id: str = "",
    registered_from: str = "",
) -> str:
    """The nine slash-separated fields of a seToken, empty slots kept."""
    fields = [
        _timestamp(now),
        str(token_uuid or uuid.uuid4()),
        card.pan,
        card.cvc,
        card.expiry,
        md_order,
        binding_id,
        card.cardholder_name,
        registered_from,
    ]
    if any("/" in value for value in fields[1:]):
        raise ValueError("seToken fields may not contain '/'.")
    return "/".join(fields)


@sensitive_variables()
def build_setoken(
    card: CardData,
    public_key_pem: str,
    *,
    now: datetime | None = None,
    token_uuid: uuid.UUID | str | None = None,
    md_order: str = "",
    binding_id: str = "",
    registered_from: str = "",
) -> str:
    """Encrypt the card's seToken plaintext with the gateway's key; standard Base64."""
    key = load_rsa_public_key(public_key_pem)
    plaintext = setoken_plaintext(
        card,
        now=now,
        token_uuid=token_uuid,
        md_order=md_order,
        binding_id=binding_id,
        registered_from=registered_from,
    ).encode()
    if len(plaintext) > key.key_size // 8 - 11:
        raise ValueError("The seToken data does not fit in one RSA block of this key.")
    return base64.b64encode(key.encrypt(plaintext, padding.PKCS1v15())).decode("ascii")


def _cache_key(client: GatewayClient) -> str:
    digest = hashlib.sha256(client.base_url.encode()).hexdigest()[:16]
    return f"checkout:setoken-key:{digest}"


def choose_key(keys: Iterable[SeTokenKey], *, now: datetime | None = None) -> SeTokenKey | None:
    """The listed key to encrypt with: the unexpired, loadable RSA key valid the longest.

    A key without an expiry counts as valid the longest. None when no key is usable.
    """
    moment = now or timezone.now()
    usable = []
    for key in keys:
        if not key.protocol_version.upper().startswith("RSA"):
            continue
        if key.expires_at is not None and key.expires_at <= moment:
            continue
        try:
            load_rsa_public_key(key.key_value)
        except ValueError:
            continue
        usable.append(key)
    if not usable:
        return None
    far_future = moment + timedelta(days=36500)
    return max(usable, key=lambda k: k.expires_at or far_future)


def current_public_key(client: GatewayClient | None = None) -> str | None:
    """The seToken public key: the setting, else a live key from se/keys.do (cached).

    None when no key can be had (gateway unreachable, no unexpired RSA key).
    """
    configured = checkout_settings.SETOKEN_PUBLIC_KEY
    if configured:
        return str(configured)
    if client is None:
        client = get_client()
    cache_key = _cache_key(client)
    try:
        cached = cache.get(cache_key)
    except Exception:
        logger.warning("seToken key cache unavailable", exc_info=True)
        cached = None
    if cached:
        return str(cached)
    try:
        keys = client.setoken_keys()
    except GatewayError as err:
        logger.warning("could not fetch seToken keys: %s", err)
        return None
    now = timezone.now()
    best = choose_key(keys, now=now)
    if best is None:
        logger.warning("se/keys.do listed no unexpired RSA key")
        return None
    pem = normalize_pem(best.key_value)
    lifetime = DEFAULT_KEY_LIFETIME
    if best.expires_at is not None:
        lifetime = max(1, int((best.expires_at - now).total_seconds()))
    try:
        # One round trip to the cache: the key, and its expiry for the JSON API's config.
        cache.set_many({cache_key: pem, cache_key + ":expires": best.expires_at}, timeout=lifetime)
    except Exception:
        logger.warning("could not cache the seToken key", exc_info=True)
    return pem


@sensitive_variables()
def build_binding_setoken(
    binding_id: str,
    cvc: str,
    public_key_pem: str,
    *,
    now: datetime | None = None,
    token_uuid: uuid.UUID | str | None = None,
) -> str:
    """A seToken for a saved card: the bindingId slot and the CVC, no card number."""
    cvc = cvc.strip()
    if cvc and not (cvc.isascii() and cvc.isdigit() and len(cvc) in (3, 4)):
        raise ValueError("The security code must be 3 or 4 digits.")
    fields = [_timestamp(now), str(token_uuid or uuid.uuid4()), "", cvc, "", "", binding_id, "", ""]
    if not binding_id or any("/" in value for value in fields[1:]):
        raise ValueError("A bindingId without '/' is needed.")
    key = load_rsa_public_key(public_key_pem)
    plaintext = "/".join(fields).encode()
    if len(plaintext) > key.key_size // 8 - 11:
        raise ValueError("The seToken data does not fit in one RSA block of this key.")
    return base64.b64encode(key.encrypt(plaintext, padding.PKCS1v15())).decode("ascii")


def public_key_expiry(client: GatewayClient | None = None) -> datetime | None:
    """When the key current_public_key() gave expires: None for a key from the settings,
    one without an expiry, or one no longer cached."""
    if checkout_settings.SETOKEN_PUBLIC_KEY:
        return None
    try:
        expires = cache.get(_cache_key(client or get_client()) + ":expires")
    except Exception:
        return None
    return expires if isinstance(expires, datetime) else None
