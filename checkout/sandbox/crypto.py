"""The bank's cryptography: its RSA key, seToken decryption and callback checksums.

Written independently of the client's checksum and seToken code so that a mistake on
one side is caught by the other; API-NOTES' public vectors test both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.db import transaction
from django.utils import timezone

from checkout.sandbox.conf import sandbox_settings
from checkout.sandbox.models import SigningKey

__all__ = [
    "SIGN_ALIAS",
    "SeTokenCard",
    "SeTokenError",
    "checksum_string",
    "current_key",
    "decrypt_setoken",
    "hmac_checksum",
    "published_key_value",
    "rsa_checksum",
]

#: What asymmetric callbacks carry in ``sign_alias``. Like the published examples it names
#: SHA-256 although the signature is made with SHA-512.
SIGN_ALIAS = "SHA-256 with RSA"

_key_lock = threading.Lock()


# --- the bank's key ---------------------------------------------------------------------------


def current_key() -> SigningKey:
    """The newest unexpired key, generated (once) when there is none."""
    now = timezone.now()
    key = SigningKey.objects.filter(expires_at__gt=now).first()
    if key is not None:
        return key
    with _key_lock, transaction.atomic():
        key = SigningKey.objects.select_for_update().filter(expires_at__gt=now).first()
        if key is None:
            key = _generate_key(now)
    return key


def _generate_key(now: datetime) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=sandbox_settings.KEY_BITS)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return SigningKey.objects.create(
        private_pem=private_pem,
        public_pem=public_pem,
        created_at=now,
        expires_at=now + timedelta(days=sandbox_settings.KEY_LIFETIME_DAYS),
    )


def _private_key(key: SigningKey) -> rsa.RSAPrivateKey:
    return _load_private_key(key.private_pem)


@lru_cache(maxsize=8)
def _load_private_key(private_pem: str) -> rsa.RSAPrivateKey:
    # Loading validates the key, which costs tens of milliseconds: once per key is enough.
    loaded = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def published_key_value(key: SigningKey) -> str:
    """The public key as se/keys.do shows it: PEM armour around base64 without newlines."""
    body = "".join(
        line for line in key.public_pem.strip().splitlines() if not line.startswith("-----")
    )
    return f"-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----"


# --- seToken ----------------------------------------------------------------------------------


class SeTokenError(ValueError):
    """A seToken that cannot be used; the message never contains card data."""


@dataclass(frozen=True, repr=False)
class SeTokenCard:
    """Card data decrypted from a seToken; lives in memory for one request only."""

    pan: str
    cvc: str = field(repr=False)
    expiry: str
    token_uuid: str
    cardholder_name: str = ""
    binding_id: str = ""

    def __repr__(self) -> str:
        if not self.pan:
            return "<SeTokenCard binding>"
        return f"<SeTokenCard {self.pan[:6]}**{self.pan[-4:]}>"


def decrypt_setoken(token: str, *, now: datetime | None = None) -> SeTokenCard:
    """Decrypt and check a seToken made for instantPayment.do (empty mdOrder slot)."""
    try:
        ciphertext = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError) as err:
        raise SeTokenError("seToken is not base64") from err
    plain = None
    # Every unexpired key, and the newest expired one, so a token built just before a
    # key rotation still works.
    keys = list(SigningKey.objects.all()[:3]) or [current_key()]
    for key in keys:
        try:
            plain = _private_key(key).decrypt(ciphertext, padding.PKCS1v15())
            break
        except ValueError:
            continue
    if plain is None:
        raise SeTokenError("seToken cannot be decrypted")
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SeTokenError("seToken is not UTF-8 text") from err
    parts = text.split("/")
    if len(parts) not in (6, 9):
        raise SeTokenError("seToken must have 6 or 9 fields")
    parts += [""] * (9 - len(parts))
    stamp, token_uuid, pan, cvc, expiry, md_order, binding_id, holder, _source = parts
    try:
        issued = datetime.fromisoformat(stamp)
    except ValueError as err:
        raise SeTokenError("seToken timestamp is not ISO 8601") from err
    if issued.tzinfo is None:
        raise SeTokenError("seToken timestamp has no UTC offset")
    now = now or timezone.now()
    if abs((now - issued).total_seconds()) > sandbox_settings.SETOKEN_MAX_AGE:
        raise SeTokenError("seToken timestamp is too old or in the future")
    if not token_uuid:
        raise SeTokenError("seToken has no UUID")
    # It is stored (to refuse a replay): it must fit the column and hold no NUL.
    if len(token_uuid) > 64 or not token_uuid.isprintable():
        raise SeTokenError("seToken UUID is malformed")
    if md_order:
        raise SeTokenError("seToken for instantPayment.do must not name an order")
    # Slot 7 (bindingId) with an empty PAN slot pays with stored credentials.
    if not pan and not binding_id:
        raise SeTokenError("seToken has no card number")
    if binding_id and not _is_uuid(binding_id):
        # The sandbox's bindingIds are UUIDs, like JCC's.
        raise SeTokenError("seToken bindingId is not a bindingId of this gateway")
    return SeTokenCard(
        pan=pan,
        cvc=cvc,
        expiry=expiry,
        token_uuid=token_uuid,
        cardholder_name=holder,
        binding_id=binding_id,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


# --- callback checksums -----------------------------------------------------------------------


def checksum_string(params: Mapping[str, str]) -> str:
    """``name;value;`` for every parameter but checksum/sign_alias, sorted by name."""
    return "".join(
        f"{name};{params[name]};"
        for name in sorted(params)
        if name not in ("checksum", "sign_alias")
    )


def hmac_checksum(params: Mapping[str, str], secret: str) -> str:
    """Symmetric checksum: HMAC-SHA256 of the checksum string, upper-case hex."""
    digest = hmac.new(secret.encode(), checksum_string(params).encode(), hashlib.sha256)
    return digest.hexdigest().upper()


def rsa_checksum(params: Mapping[str, str], key: SigningKey | None = None) -> str:
    """Asymmetric checksum: RSA PKCS#1 v1.5 SHA-512 signature, upper-case hex."""
    signature = _private_key(key or current_key()).sign(
        checksum_string(params).encode(), padding.PKCS1v15(), hashes.SHA512()
    )
    return signature.hex().upper()
