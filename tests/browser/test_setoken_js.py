"""rsa.js: the seToken built by Chromium decrypts, with `cryptography`, to the right fields."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.browser.pages import blank_page

pytestmark = pytest.mark.browser

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
CARD = {
    "pan": "4111111111111111",
    "cvc": "123",
    "expiry": "203012",
    "cardholderName": "Test Holder",
}


@pytest.fixture(scope="module")
def key_2048():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def spki_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def decrypt(private_key, token: str) -> str:
    return private_key.decrypt(base64.b64decode(token, validate=True), padding.PKCS1v15()).decode()


def build(page, pem: str, card=CARD) -> str:
    return page.evaluate("([card, pem]) => checkoutSeToken.build(card, pem)", [card, pem])


@pytest.mark.parametrize(
    ("timezone_id", "offset"),
    [("Asia/Nicosia", None), ("America/St_Johns", None), ("UTC", "+00:00")],
)
def test_token_holds_the_nine_fields(chromium, key_2048, timezone_id, offset):
    context = chromium.new_context(timezone_id=timezone_id)
    try:
        page = context.new_page()
        blank_page(page)
        before = datetime.now(UTC).replace(microsecond=0)
        token = build(page, spki_pem(key_2048))
        after = datetime.now(UTC)
    finally:
        context.close()

    assert "\n" not in token and len(base64.b64decode(token)) == 256
    fields = decrypt(key_2048, token).split("/")
    assert len(fields) == 9
    stamp, token_uuid, pan, cvc, expiry, md_order, binding_id, holder, registered_from = fields
    assert TIMESTAMP.match(stamp), stamp
    if offset:
        assert stamp.endswith(offset)
    moment = datetime.fromisoformat(stamp)
    assert before - timedelta(seconds=1) <= moment <= after
    # Local wall-clock time of the browser's zone, with that zone's real offset.
    assert moment.utcoffset() == moment.astimezone(_zone(timezone_id)).utcoffset()
    assert uuid.UUID(token_uuid).version == 4 and len(token_uuid) == 36
    assert (pan, cvc, expiry) == ("4111111111111111", "123", "203012")
    assert (md_order, binding_id) == ("", "")
    assert holder == "Test Holder"
    assert registered_from == ""


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_padding_is_fresh_random_and_non_zero(page, key_2048):
    blank_page(page)
    pem = spki_pem(key_2048)
    tokens = page.evaluate(
        "(pem) => Array.from({length: 40}, () => checkoutSeToken.encrypt(pem, 'same text'))", pem
    )
    assert len(set(tokens)) == 40
    numbers = key_2048.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    for token in tokens:
        # Undo RSA by hand to look at the encoded block itself, not only the message.
        block = pow(int.from_bytes(base64.b64decode(token), "big"), d, n).to_bytes(256, "big")
        assert block[:2] == b"\x00\x02"
        separator = block.index(0, 2)
        assert separator >= 10, "at least eight bytes of padding"
        assert 0 not in block[2:separator]
        assert block[separator + 1 :] == b"same text"


def test_key_formats_as_the_gateway_serves_them(page):
    """se/keys.do sends PEM without line breaks; some keys are 4096 bits; PKCS#1 also works."""
    blank_page(page)
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    one_line = "".join(spki_pem(key).splitlines())
    token = build(page, one_line)
    assert len(base64.b64decode(token)) == 512
    assert decrypt(key, token).split("/")[2] == "4111111111111111"

    pkcs1 = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    assert decrypt(key, build(page, pkcs1)).split("/")[3] == "123"


def test_bad_keys_and_oversized_messages_are_refused(page, key_2048):
    blank_page(page)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    errors = page.evaluate(
        """([rsaPem, ecPem]) => {
            const attempt = (fn) => { try { fn(); return ""; } catch (e) { return e.message; } };
            return {
                ec: attempt(() => checkoutSeToken.encrypt(ecPem, "x")),
                garbage: attempt(() => checkoutSeToken.encrypt(
                    "-----BEGIN PUBLIC KEY-----AAAA-----END PUBLIC KEY-----", "x")),
                empty: attempt(() => checkoutSeToken.encrypt("", "x")),
                fits: attempt(() => checkoutSeToken.encrypt(rsaPem, "a".repeat(245))),
                tooLong: attempt(() => checkoutSeToken.encrypt(rsaPem, "a".repeat(246))),
                badPan: attempt(() => checkoutSeToken.plaintext({pan: "12", expiry: "203012"})),
                badExpiry: attempt(() => checkoutSeToken.plaintext(
                    {pan: "4111111111111111", expiry: "203013"})),
            };
        }""",
        [spki_pem(key_2048), spki_pem(ec_key)],
    )
    assert errors["ec"] == "not an RSA public key"
    assert errors["garbage"] and errors["empty"] == "no public key"
    assert errors["fits"] == ""
    assert errors["tooLong"] == "message too long for the key"
    assert "13 to 19 digits" in errors["badPan"]
    assert errors["badExpiry"] == "expiry must be YYYYMM"


def test_cardholder_name_cannot_shift_the_slots(page, key_2048):
    blank_page(page)
    card = {**CARD, "cardholderName": "Ann/Marie Ö'Neil"}
    fields = decrypt(key_2048, build(page, spki_pem(key_2048), card)).split("/")
    assert len(fields) == 9
    assert fields[7] == "AnnMarie 'Neil"


def test_uuid_without_random_uuid(page, key_2048):
    """Plain-HTTP pages have no crypto.randomUUID; the token still gets a version-4 UUID."""
    blank_page(page)
    page.evaluate("delete Crypto.prototype.randomUUID")
    assert page.evaluate("typeof crypto.randomUUID") == "undefined"
    values = {decrypt(key_2048, build(page, spki_pem(key_2048))).split("/")[1] for _ in range(5)}
    assert len(values) == 5
    assert all(uuid.UUID(v).version == 4 and uuid.UUID(v).variant == uuid.RFC_4122 for v in values)


def test_a_saved_cards_token_holds_its_binding_and_cvc_only(page, key_2048):
    blank_page(page)
    binding = str(uuid.uuid4())
    token = page.evaluate(
        "([id, pem]) => checkoutSeToken.buildForBinding(id, ' 7 3 9', pem)",
        [binding, spki_pem(key_2048)],
    )
    stamp, token_uuid, pan, cvc, expiry, md_order, binding_id, holder, source = decrypt(
        key_2048, token
    ).split("/")
    assert TIMESTAMP.match(stamp) and uuid.UUID(token_uuid).version == 4
    assert (pan, cvc, expiry, md_order, binding_id, holder, source) == (
        "",
        "739",
        "",
        "",
        binding,
        "",
        "",
    )
    errors = page.evaluate(
        """() => {
            const attempt = (fn) => { try { fn(); return ""; } catch (e) { return e.message; } };
            return {
                noId: attempt(() => checkoutSeToken.plaintextForBinding("", "123")),
                slash: attempt(() => checkoutSeToken.plaintextForBinding("a/b", "123")),
                longCvc: attempt(() => checkoutSeToken.plaintextForBinding("b-1", "12345")),
                noCvc: attempt(() => checkoutSeToken.plaintextForBinding("b-1", "")),
            };
        }"""
    )
    assert errors["noId"] == errors["slash"] == "a bindingId without '/' is needed"
    assert errors["longCvc"] == "the CVC must have 3 or 4 digits"
    assert errors["noCvc"] == ""  # a merchant allowed to pay without CVC
