"""Structural redaction of gateway requests and responses before they are stored.

Redaction walks the parameter structure and decides by key name. It never searches
serialised text: a pattern over a JSON dump misses what it was not written for and
mangles what it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from checkout.cards import masked_pan

__all__ = [
    "ANONYMISED",
    "MASKED_PAN_KEYS",
    "PERSONAL_KEYS",
    "REDACTED",
    "SECRET_KEYS",
    "redact",
    "scrub_personal",
]

REDACTED = "[redacted]"

#: Keys (compared case-insensitively) whose values are never stored.
SECRET_KEYS = frozenset(
    {
        "password",
        "token",
        "pan",
        "cvc",
        "cvc2",
        "cvv",
        "cvv2",
        "expiry",
        "setoken",
        "$pan",
        "$cvc",
        "$expiry",
    }
)

#: Keys holding a card number that the gateway itself returns masked; kept only if masked.
MASKED_PAN_KEYS = frozenset({"pan", "maskedpan"})


#: Keys (compared case-insensitively) naming a shopper, their contact or their location:
#: stored in the exchange log while the order keeps its personal data, cleared with it.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "ip",
        "phone",
        "cardholder",
        "cardholdername",
        "clientid",
        "payeremail",
        "payerphone",
    }
)

ANONYMISED = ""


def redact(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, scalars) with secrets replaced by "[redacted]"."""
    if isinstance(value, Mapping):
        return {str(key): _redact_item(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return _redact_embedded_json(value)
    return value


def _redact_item(key: str, value: Any) -> Any:
    name = key.lower()
    if name in MASKED_PAN_KEYS and masked_pan(value):
        return value
    if name in SECRET_KEYS or name in MASKED_PAN_KEYS:
        return REDACTED if value not in (None, "") else value
    return redact(value)


def _redact_embedded_json(text: str) -> Any:
    # Nested objects (jsonParams, orderBundle, ...) travel as JSON inside one form field.
    parsed = _embedded_json(text)
    if parsed is None:
        return text
    return json.dumps(redact(parsed), ensure_ascii=False, separators=(",", ":"))


def scrub_personal(value: Any) -> Any:
    """A copy of ``value`` with the values of PERSONAL_KEYS cleared, wherever they are.

    Walks dicts, lists and JSON embedded in strings (jsonParams) as ``redact`` does; a
    scrubbed value is scrubbed again to itself.
    """
    if isinstance(value, Mapping):
        return {
            str(key): ANONYMISED
            if str(key).lower() in PERSONAL_KEYS and item not in (None, "")
            else scrub_personal(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_personal(item) for item in value]
    if isinstance(value, str):
        parsed = _embedded_json(value)
        if parsed is None:
            return value
        return json.dumps(scrub_personal(parsed), ensure_ascii=False, separators=(",", ":"))
    return value


def _embedded_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None
