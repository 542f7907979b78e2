"""seToken plaintext, encryption (checked by decrypting) and the public key's source."""

from __future__ import annotations

import base64
import datetime as dt
import pickle
import re
import time
import uuid
import zoneinfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.core.cache import cache
from django.test import override_settings

from checkout.cards import CardData
from checkout.gateway import GatewayClient
from checkout.keys import load_rsa_public_key, normalize_pem
from checkout.setoken import build_setoken, current_public_key, setoken_plaintext
from tests.gateway_server import closed_port, reply, running_gateway

PAN = "5555555555555599"
NICOSIA = zoneinfo.ZoneInfo("Asia/Nicosia")
TOKEN_UUID = uuid.UUID("9bb1501a-0f3b-4c52-8a8a-0123456789ab")


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key, *, one_line: bool = False) -> str:
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return "".join(pem.split("\n")) if one_line else pem


def card(**overrides) -> CardData:
    fields = {"pan": PAN, "cvc": "123", "expiry": "203412", "cardholder_name": "JANE DOE"}
    fields.update(overrides)
    return CardData(**fields)


def decrypt(private_key, token: str) -> str:
    return private_key.decrypt(base64.b64decode(token, validate=True), padding.PKCS1v15()).decode()


def test_round_trip_checks_every_field(private_key):
    now = dt.datetime(2026, 7, 6, 7, 26, 20, 123456, tzinfo=NICOSIA)
    token = build_setoken(
        card(),
        pem_of(private_key),
        now=now,
        token_uuid=TOKEN_UUID,
        binding_id="b-1",
        registered_from="WSDK_CORE",
    )
    assert "\n" not in token and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", token)
    fields = decrypt(private_key, token).split("/")
    assert fields == [
        "2026-07-06T07:26:20+03:00",
        "9bb1501a-0f3b-4c52-8a8a-0123456789ab",
        PAN,
        "123",
        "203412",
        "",
        "b-1",
        "JANE DOE",
        "WSDK_CORE",
    ]


def test_instant_payment_token_keeps_empty_slots(private_key):
    token = build_setoken(card(cvc="", cardholder_name=""), pem_of(private_key))
    plain = decrypt(private_key, token)
    fields = plain.split("/")
    assert len(fields) == 9
    timestamp, token_uuid, pan, cvc, expiry, md_order, binding, holder, origin = fields
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", timestamp)
    moment = dt.datetime.fromisoformat(timestamp)
    assert abs((moment - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    parsed = uuid.UUID(token_uuid)
    assert parsed.version == 4 and str(parsed) == token_uuid and len(token_uuid) == 36
    assert (pan, cvc, expiry) == (PAN, "", "203412")
    assert md_order == binding == holder == origin == ""
    assert plain.endswith("/203412////")


def test_each_token_is_new(private_key):
    first = decrypt(private_key, build_setoken(card(), pem_of(private_key))).split("/")
    second = decrypt(private_key, build_setoken(card(), pem_of(private_key))).split("/")
    assert first[1] != second[1]


def test_plaintext_md_order_slot_and_naive_time():
    naive = dt.datetime(2026, 1, 15, 10, 0, 33)
    text = setoken_plaintext(card(), now=naive, token_uuid=TOKEN_UUID, md_order="b94eac90")
    # A naive time is taken in the project's time zone (Asia/Nicosia, +02:00 in winter).
    assert text == (
        "2026-01-15T10:00:33+02:00/9bb1501a-0f3b-4c52-8a8a-0123456789ab/"
        f"{PAN}/123/203412/b94eac90//JANE DOE/"
    )


def test_utc_time_is_shown_with_a_colon_offset():
    now = dt.datetime(2026, 1, 15, 8, 0, 33, 999999, tzinfo=dt.UTC)
    assert setoken_plaintext(card(), now=now).startswith("2026-01-15T10:00:33+02:00/")


def test_slash_in_a_field_is_refused():
    with pytest.raises(ValueError):
        setoken_plaintext(card(cardholder_name="A/B"))
    with pytest.raises(ValueError):
        setoken_plaintext(card(), binding_id="x/y")


def test_one_line_pem_from_se_keys_is_accepted(private_key):
    token = build_setoken(card(), pem_of(private_key, one_line=True))
    assert decrypt(private_key, token).split("/")[2] == PAN
    assert normalize_pem(pem_of(private_key, one_line=True)) == pem_of(private_key)


def test_data_too_long_for_the_key_is_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="does not fit"):
        build_setoken(card(cardholder_name="A" * 45), pem_of(small), registered_from="WSDK_CORE")


def test_non_rsa_or_broken_keys_are_refused():
    with pytest.raises(ValueError):
        load_rsa_public_key(pem_of(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ValueError):
        load_rsa_public_key("-----BEGIN PUBLIC KEY-----AAAA-----END PUBLIC KEY-----")
    with pytest.raises(ValueError):
        load_rsa_public_key("not a key")
    with pytest.raises(ValueError):
        load_rsa_public_key(UNKNOWN_ALGORITHM_PEM)


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body


#: A well-formed SubjectPublicKeyInfo of an algorithm (OID 1.3.6.1.4.1.99999.1) that the
#: cryptography library does not know.
UNKNOWN_ALGORITHM_PEM = (
    "-----BEGIN PUBLIC KEY-----"
    + base64.b64encode(
        _der(
            0x30,
            _der(0x30, _der(0x06, bytes.fromhex("2b06010401868d1f01")))
            + _der(0x03, b"\x00" + bytes(32)),
        )
    ).decode()
    + "-----END PUBLIC KEY-----"
)


# --- the public key's source ------------------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def gw():
    with running_gateway() as server:
        yield server


def ms(delta: dt.timedelta) -> int:
    return int((dt.datetime.now(dt.UTC) + delta).timestamp() * 1000)


def keys_answer(*keys) -> dict:
    return {"keys": [{"keyValue": k, "protocolVersion": p, "keyExpiration": e} for k, p, e in keys]}


def test_setting_comes_first(private_key):
    client = GatewayClient(f"http://127.0.0.1:{closed_port()}/payment/", "u", "p")
    with override_settings(CHECKOUT={"SETOKEN_PUBLIC_KEY": pem_of(private_key)}):
        assert current_public_key(client) == pem_of(private_key)


@pytest.mark.django_db
def test_fetched_key_is_an_unexpired_rsa_key_and_cached(gw, private_key):
    expired = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    gw.on(
        "se/keys.do",
        reply(
            keys_answer(
                (pem_of(expired, one_line=True), "RSA", ms(-dt.timedelta(hours=1))),
                (pem_of(ec_key, one_line=True), "EC", ms(dt.timedelta(days=30))),
                (pem_of(private_key, one_line=True), "RSA", ms(dt.timedelta(days=30))),
            )
        ),
        method="GET",
    )
    client = GatewayClient(gw.base_url, "u", "p")
    with override_settings(CHECKOUT={"SETOKEN_PUBLIC_KEY": ""}):
        assert current_public_key(client) == pem_of(private_key)
        assert current_public_key(client) == pem_of(private_key)
    assert len(gw.received) == 1
    # Only the public key itself is cached, with its expiry.
    cached = sorted(
        (pickle.loads(raw) for raw in cache._cache.values()),  # type: ignore[attr-defined]
        key=lambda value: isinstance(value, str),
    )
    assert len(cached) == 2 and cached[1] == pem_of(private_key)
    assert isinstance(cached[0], dt.datetime) and cached[0] > dt.datetime.now(dt.UTC)
    token = build_setoken(card(), current_public_key(client) or "")
    assert decrypt(private_key, token).split("/")[2] == PAN
    assert not any(PAN.encode() in raw for raw in cache._cache.values())  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_cached_key_is_fetched_again_when_it_expires(gw, private_key):
    newer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gw.on(
        "se/keys.do",
        reply(keys_answer((pem_of(private_key), "RSA", ms(dt.timedelta(seconds=1.5))))),
        reply(keys_answer((pem_of(newer), "RSA", ms(dt.timedelta(days=1))))),
        method="GET",
    )
    client = GatewayClient(gw.base_url, "u", "p")
    with override_settings(CHECKOUT={"SETOKEN_PUBLIC_KEY": ""}):
        assert current_public_key(client) == pem_of(private_key)
        time.sleep(1.6)
        assert current_public_key(client) == pem_of(newer)
    assert len(gw.received) == 2


@pytest.mark.django_db
def test_no_usable_key_gives_none(gw):
    gw.on("se/keys.do", reply(keys_answer(("garbage", "RSA", None))), method="GET")
    client = GatewayClient(gw.base_url, "u", "p")
    with override_settings(CHECKOUT={"SETOKEN_PUBLIC_KEY": ""}):
        assert current_public_key(client) is None


@pytest.mark.django_db
def test_key_of_an_unknown_algorithm_is_skipped(gw, private_key):
    gw.on(
        "se/keys.do",
        reply(
            keys_answer(
                (UNKNOWN_ALGORITHM_PEM, "RSA", ms(dt.timedelta(days=60))),
                (pem_of(private_key, one_line=True), "RSA", ms(dt.timedelta(days=30))),
            )
        ),
        method="GET",
    )
    client = GatewayClient(gw.base_url, "u", "p")
    with override_settings(CHECKOUT={"SETOKEN_PUBLIC_KEY": ""}):
        assert current_public_key(client) == pem_of(private_key)


@pytest.mark.django_db
def test_unreachable_gateway_gives_none():
    client = GatewayClient(f"http://127.0.0.1:{closed_port()}/payment/", "u", "p", status_retries=0)
    with override_settings(CHECKOUT={"SETOKEN_PUBLIC_KEY": ""}):
        assert current_public_key(client) is None


@pytest.mark.django_db
def test_default_client_is_the_configured_one(gw, private_key):
    gw.on(
        "se/keys.do",
        reply(keys_answer((pem_of(private_key), "RSA", ms(dt.timedelta(days=1))))),
        method="GET",
    )
    with override_settings(CHECKOUT={"GATEWAY_URL": gw.base_url, "USERNAME": "u", "PASSWORD": "p"}):
        assert current_public_key() == pem_of(private_key)


def test_error_reports_do_not_show_card_data(private_key):
    import sys

    from django.views.debug import ExceptionReporter

    def failing_build() -> str:
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        try:
            build_setoken(card(cardholder_name="A" * 45), pem_of(small))
        except ValueError:
            reporter = ExceptionReporter(None, *sys.exc_info())
            frames = reporter.get_traceback_frames()
            shown = [repr(value) for frame in frames for _, value in frame["vars"]]
            return reporter.get_traceback_html() + "\n".join(shown)
        return ""

    text = failing_build()
    assert "build_setoken" in text
    assert PAN not in text
