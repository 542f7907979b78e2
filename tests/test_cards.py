"""checkout.cards: the one masking rule, used by storage and by the exchange log alike."""

from __future__ import annotations

import pytest

from checkout.cards import card_expiry, masked_pan
from checkout.redaction import REDACTED, redact


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("444455**3333", "444455**3333"),
        ("444455XXXXXX3333", "444455XXXXXX3333"),
        ("4444555511113333", ""),
        ("4444 5555 1111 3333", ""),
        ("", ""),
        ("4444 55** **** 3333", ""),
        ("****3333", ""),
        ("444455**333", ""),
        (None, ""),
    ],
)
def test_only_masked_card_numbers_are_kept(value, kept):
    assert masked_pan(value) == kept
    # The exchange log keeps exactly what the payment may keep.
    logged = redact({"maskedPan": value})["maskedPan"]
    assert logged == (kept or (REDACTED if value else value))


@pytest.mark.parametrize(
    ("value", "kept"),
    [("203012", "203012"), (" 203012 ", "203012"), ("203013", ""), ("12/30", ""), (None, "")],
)
def test_only_gateway_expiries_are_kept(value, kept):
    assert card_expiry(value) == kept
