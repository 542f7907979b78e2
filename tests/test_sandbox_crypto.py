"""The sandbox bank's cryptography: public vectors, its key, seToken decryption."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.core.exceptions import ImproperlyConfigured

from checkout.sandbox import crypto
from checkout.sandbox.cards import CARDS, luhn_valid, mask_pan
from checkout.sandbox.conf import sandbox_settings
from checkout.sandbox.models import SigningKey


def test_hmac_public_vector():
    params = {
        "mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b",
        "operation": "approved",
        "orderNumber": "2003",
        "status": "1",
    }
    assert crypto.checksum_string(params) == (
        "mdOrder;06cf5599-3f17-7c86-bdbc-bd7d00a8b38b;operation;approved;orderNumber;2003;status;1;"
    )
    assert crypto.hmac_checksum(params, "ooc7slpvc61k7sf7ma7p4hrefr") == (
        "EAF2FB72CAB99FD5067F4BA493DD84F4D79C1589FDE8ED29622F0F07215AA972"
    )


def test_checksum_string_sorts_by_name_and_skips_checksum_fields():
    params = {"status": "1", "amount": "123456", "checksum": "X", "sign_alias": "Y", "mdOrder": "m"}
    assert crypto.checksum_string(params) == "amount;123456;mdOrder;m;status;1;"


@pytest.mark.django_db
def test_key_is_generated_once_and_signs_with_sha512():
    key = crypto.current_key()
    assert crypto.current_key().pk == key.pk
    assert SigningKey.objects.count() == 1
    params = {"mdOrder": "m", "operation": "deposited", "orderNumber": "1", "status": "1"}
    signature = bytes.fromhex(crypto.rsa_checksum(params))
    public = serialization.load_pem_public_key(key.public_pem.encode())
    public.verify(
        signature,
        b"mdOrder;m;operation;deposited;orderNumber;1;status;1;",
        padding.PKCS1v15(),
        hashes.SHA512(),
    )


def _encrypt(plain: str) -> str:
    public = serialization.load_pem_public_key(crypto.current_key().public_pem.encode())
    return base64.b64encode(public.encrypt(plain.encode(), padding.PKCS1v15())).decode()


@pytest.mark.django_db
def test_setoken_round_trip_keeps_card_data_out_of_repr():
    now = datetime.now(UTC)
    token = _encrypt(
        f"{now.isoformat(timespec='seconds')}/{uuid.uuid4()}/"
        "4444555511113333/123/203012///JOHN DOE/MSDK_CORE"
    )
    card = crypto.decrypt_setoken(token, now=now)
    assert (card.pan, card.cvc, card.expiry, card.cardholder_name) == (
        "4444555511113333",
        "123",
        "203012",
        "JOHN DOE",
    )
    assert "4444555511113333" not in repr(card) and "123" not in repr(card).split()[-1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("plain", "reason"),
    [
        ("{now}/u/4444555511113333/123/203012", "6 or 9 fields"),
        ("yesterday/u/4444555511113333/123/203012/", "ISO 8601"),
        ("2030-01-01T00:00:00/u/4444555511113333/123/203012/", "UTC offset"),
        ("{old}/u/4444555511113333/123/203012/", "too old"),
        ("{now}//4444555511113333/123/203012/", "UUID"),
        ("{now}/u/4444555511113333/123/203012/md-order", "must not name an order"),
        ("{now}/u//123/203012/", "no card number"),
        ("{now}/u//123/203012//binding-1//", "bindingId"),
    ],
)
def test_setoken_errors_name_the_problem_not_the_card(plain, reason):
    now = datetime.now(UTC)
    text = plain.format(
        now=now.isoformat(timespec="seconds"),
        old=(now - timedelta(minutes=31)).isoformat(timespec="seconds"),
    )
    with pytest.raises(crypto.SeTokenError, match=reason) as err:
        crypto.decrypt_setoken(_encrypt(text), now=now)
    assert "4444555511113333" not in str(err.value)


def test_cards_are_valid_and_distinct():
    pans = [card.pan for card in CARDS]
    assert len(set(pans)) == len(pans)
    assert all(luhn_valid(pan) for pan in pans)
    masked = [mask_pan(pan) for pan in pans]
    assert len(set(masked)) == len(masked)


def test_sandbox_settings_are_checked(settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "carrier-pigeon"}
    with pytest.raises(ImproperlyConfigured, match="CALLBACK_DELIVERY"):
        sandbox_settings.CALLBACK_DELIVERY
    settings.CHECKOUT_SANDBOX = {"CALLBACK_RETRIES": 3}
    with pytest.raises(ImproperlyConfigured, match="CALLBACK_RETRIES"):
        sandbox_settings.CALLBACK_ATTEMPTS
    settings.CHECKOUT_SANDBOX = {"CALLBACK_ATTEMPTS": 7}
    assert sandbox_settings.CALLBACK_ATTEMPTS == 7
    assert sandbox_settings.CALLBACK_RETRY_INTERVAL == 30
