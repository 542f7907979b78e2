"""Callback checksums (API-NOTES §5.3): HMAC-SHA256 or RSA PKCS#1 v1.5 with SHA-512.

The signed string is built from whatever parameters arrive, so extras that the gateway
adds later (``callbackCreationDate``...) are covered without a code change.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from checkout.exceptions import CallbackError
from checkout.keys import load_rsa_public_key

__all__ = ["UNSIGNED", "sign_hmac", "signed_string", "verify_checksum"]

#: Parameters that are not part of the signed string.
UNSIGNED = frozenset({"checksum", "sign_alias"})


def signed_string(params: Mapping[str, str]) -> str:
    """``name;value;`` for every parameter but checksum/sign_alias, sorted by name."""
    pairs = sorted((str(k), str(v)) for k, v in params.items() if k not in UNSIGNED)
    return "".join(f"{name};{value};" for name, value in pairs)


def sign_hmac(params: Mapping[str, str], key: str) -> str:
    """The symmetric checksum: HMAC-SHA256 of the signed string, upper-case hex."""
    digest = hmac.new(key.encode(), signed_string(params).encode(), hashlib.sha256)
    return digest.hexdigest().upper()


def _hash_named(alias: str) -> hashes.HashAlgorithm | None:
    name = alias.upper().replace("-", "").replace("_", "")
    for label, algorithm in (("SHA256", hashes.SHA256()), ("SHA1", hashes.SHA1())):  # noqa: S303
        if name.startswith(label) or f" {label} " in f" {name} ":
            return algorithm
    return None


def _rsa_valid(message: bytes, signature: bytes, key: rsa.RSAPublicKey, alias: str) -> bool:
    # The published examples verify with SHA-512 whatever sign_alias says; the hash
    # named in sign_alias is tried second in case a deployment really uses it.
    algorithms: list[hashes.HashAlgorithm] = [hashes.SHA512()]
    named = _hash_named(alias) if alias else None
    if named is not None:
        algorithms.append(named)
    for algorithm in algorithms:
        try:
            key.verify(signature, message, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            continue
        return True
    return False


def verify_checksum(
    params: Mapping[str, str], *, secrets: Sequence[str], public_key: str = ""
) -> None:
    """Raise CallbackError unless ``params`` carry a valid checksum.

    With ``sign_alias`` present the checksum must be an RSA signature by ``public_key``;
    otherwise any of ``secrets`` (several while a key is rotated) may have made the
    HMAC, and ``public_key``, when given, is tried as well.
    """
    received = str(params.get("checksum") or "").strip()
    if not received:
        raise CallbackError("Callback without checksum.")
    alias = str(params.get("sign_alias") or "").strip()
    hmac_keys = [s for s in secrets if s]
    if alias and not public_key:
        raise CallbackError("Asymmetric checksum, but no callback public key is configured.")
    if not hmac_keys and not public_key:
        raise CallbackError("No callback key is configured.")
    message = signed_string(params).encode()
    received_upper = received.upper().encode("ascii", "replace")
    if not alias:
        for secret in hmac_keys:
            expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().upper()
            if hmac.compare_digest(expected.encode(), received_upper):
                return
    if public_key:
        try:
            signature = bytes.fromhex(received)
        except ValueError:
            raise CallbackError("Callback checksum is not hexadecimal.") from None
        try:
            rsa_key = load_rsa_public_key(public_key)
        except ValueError as err:
            raise CallbackError(f"Callback public key unusable: {err}") from None
        if _rsa_valid(message, signature, rsa_key, alias):
            return
    raise CallbackError("Callback checksum does not match.")
