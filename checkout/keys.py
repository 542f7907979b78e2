"""RSA public keys from PEM text: the seToken key and the callback verification key.

One loader for both: a PEM public key or certificate, tolerant of the single line
without newlines that ``se/keys.do`` sends.
"""

from __future__ import annotations

import re
import textwrap

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["load_rsa_public_key", "normalize_pem"]

_PEM_RE = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


def normalize_pem(text: str) -> str:
    """A loadable PEM from what a gateway sends (often one line without newlines)."""
    match = _PEM_RE.search(text.strip())
    if not match:
        raise ValueError("Not a PEM key.")
    label, body = match.group(1), "".join(match.group(2).split())
    lines = "\n".join(textwrap.wrap(body, 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def load_rsa_public_key(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM public key (SubjectPublicKeyInfo) or certificate."""
    try:
        data = normalize_pem(pem).encode()
        if data.startswith(b"-----BEGIN CERTIFICATE-----"):
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as err:
        # UnsupportedAlgorithm: a well-formed key of a type the library does not know.
        raise ValueError("Not a usable PEM public key or certificate.") from err
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("Not an RSA key.")
    return key
