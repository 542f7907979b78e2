"""Callback checksums as the gateway computes them (API-NOTES §5.3)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import SuspiciousOperation

from checkout.checksum import sign_hmac, signed_string, verify_checksum
from checkout.exceptions import CallbackError
from checkout.keys import load_rsa_public_key

# The public vector published with the algorithm.
VECTOR_KEY = "ooc7slpvc61k7sf7ma7p4hrefr"
VECTOR_PARAMS = {
    "mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b",
    "operation": "approved",
    "orderNumber": "2003",
    "status": "1",
}
VECTOR_STRING = (
    "mdOrder;06cf5599-3f17-7c86-bdbc-bd7d00a8b38b;operation;approved;orderNumber;2003;status;1;"
)
VECTOR_CHECKSUM = "EAF2FB72CAB99FD5067F4BA493DD84F4D79C1589FDE8ED29622F0F07215AA972"


def test_public_hmac_vector():
    assert signed_string(VECTOR_PARAMS) == VECTOR_STRING
    assert sign_hmac(VECTOR_PARAMS, VECTOR_KEY) == VECTOR_CHECKSUM
    verify_checksum({**VECTOR_PARAMS, "checksum": VECTOR_CHECKSUM}, secrets=[VECTOR_KEY])


def test_signed_string_sorts_by_name_and_skips_checksum_and_alias():
    params = {
        "status": "1",
        "orderNumber": "10747",
        "operation": "deposited",
        "mdOrder": "3ff6962a-7dcc-4283-ab50-a6d7dd3386fe",
        "amount": "123456",
        "checksum": "X",
        "sign_alias": "Y",
    }
    assert signed_string(params) == (
        "amount;123456;mdOrder;3ff6962a-7dcc-4283-ab50-a6d7dd3386fe;operation;deposited;"
        "orderNumber;10747;status;1;"
    )


def test_signed_string_is_case_sensitive_plain_order():
    # Upper-case letters sort before lower-case ones in plain string order.
    assert signed_string({"b": "1", "B": "2", "a": "3"}) == "B;2;a;3;b;1;"


def test_lower_case_hex_is_accepted():
    verify_checksum({**VECTOR_PARAMS, "checksum": VECTOR_CHECKSUM.lower()}, secrets=[VECTOR_KEY])


def test_extra_parameters_are_covered():
    params = {**VECTOR_PARAMS, "callbackCreationDate": "Mon Jan 31 21:46:52 UTC 2022"}
    checksum = sign_hmac(params, VECTOR_KEY)
    assert checksum != VECTOR_CHECKSUM
    verify_checksum({**params, "checksum": checksum}, secrets=[VECTOR_KEY])
    with pytest.raises(CallbackError):
        verify_checksum({**params, "checksum": VECTOR_CHECKSUM}, secrets=[VECTOR_KEY])


def test_several_secrets_for_rotation():
    signed_with_new = {**VECTOR_PARAMS, "checksum": sign_hmac(VECTOR_PARAMS, "new-key")}
    verify_checksum(signed_with_new, secrets=["old-key", "new-key"])
    verify_checksum({**VECTOR_PARAMS, "checksum": VECTOR_CHECKSUM}, secrets=["new", VECTOR_KEY])
    with pytest.raises(CallbackError, match="does not match"):
        verify_checksum(signed_with_new, secrets=["old-key", VECTOR_KEY])


@pytest.mark.parametrize(
    "change",
    [
        {"status": "0"},
        {"operation": "deposited"},
        {"orderNumber": "2004"},
        {"amount": "1"},
    ],
)
def test_altered_parameters_are_refused(change):
    with pytest.raises(CallbackError, match="does not match"):
        verify_checksum(
            {**VECTOR_PARAMS, **change, "checksum": VECTOR_CHECKSUM}, secrets=[VECTOR_KEY]
        )


def test_dropped_parameter_is_refused():
    params = {k: v for k, v in VECTOR_PARAMS.items() if k != "status"}
    with pytest.raises(CallbackError):
        verify_checksum({**params, "checksum": VECTOR_CHECKSUM}, secrets=[VECTOR_KEY])


@pytest.mark.parametrize("checksum", [None, "", "   "])
def test_missing_checksum_is_refused(checksum):
    params = dict(VECTOR_PARAMS)
    if checksum is not None:
        params["checksum"] = checksum
    with pytest.raises(CallbackError, match="without checksum") as info:
        verify_checksum(params, secrets=[VECTOR_KEY])
    # Django turns SuspiciousOperation into a 400 without view code.
    assert isinstance(info.value, SuspiciousOperation)


@pytest.mark.parametrize("checksum", ["", "zz", "é" * 64, VECTOR_CHECKSUM[:-1]])
def test_garbage_checksum_is_refused_not_crashing(checksum):
    with pytest.raises(CallbackError):
        verify_checksum({**VECTOR_PARAMS, "checksum": checksum or "x"}, secrets=[VECTOR_KEY])


def test_no_key_configured_is_refused():
    with pytest.raises(CallbackError, match="No callback key"):
        verify_checksum({**VECTOR_PARAMS, "checksum": VECTOR_CHECKSUM}, secrets=[])
    with pytest.raises(CallbackError, match="No callback key"):
        verify_checksum({**VECTOR_PARAMS, "checksum": VECTOR_CHECKSUM}, secrets=[""])


def test_wrong_secret_is_refused():
    with pytest.raises(CallbackError):
        verify_checksum({**VECTOR_PARAMS, "checksum": VECTOR_CHECKSUM}, secrets=["wrong"])


# --- asymmetric: RSA PKCS#1 v1.5 with SHA-512 ------------------------------------------


@pytest.fixture(scope="module")
def gateway_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def certificate_pem(key) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway callbacks")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def rsa_sign(key, params, algorithm=None) -> str:
    signature = key.sign(
        signed_string(params).encode(), padding.PKCS1v15(), algorithm or hashes.SHA512()
    )
    return signature.hex()


def test_asymmetric_checksum_with_public_key(gateway_key):
    params = {**VECTOR_PARAMS, "sign_alias": "SHA-256 with RSA"}
    params["checksum"] = rsa_sign(gateway_key, params)
    verify_checksum(params, secrets=[], public_key=public_pem(gateway_key))
    # Upper-case hex, as the gateway sends it, too.
    verify_checksum(
        {**params, "checksum": params["checksum"].upper()},
        secrets=[],
        public_key=public_pem(gateway_key),
    )


def test_asymmetric_checksum_with_certificate(gateway_key):
    params = {**VECTOR_PARAMS, "sign_alias": "gateway"}
    params["checksum"] = rsa_sign(gateway_key, params)
    verify_checksum(params, secrets=["unused"], public_key=certificate_pem(gateway_key))


def test_asymmetric_checksum_without_sign_alias_when_a_public_key_is_configured(gateway_key):
    params = {**VECTOR_PARAMS, "checksum": rsa_sign(gateway_key, VECTOR_PARAMS)}
    verify_checksum(params, secrets=["some-secret"], public_key=public_pem(gateway_key))


def test_asymmetric_falls_back_to_the_hash_named_in_sign_alias(gateway_key):
    params = {**VECTOR_PARAMS, "sign_alias": "SHA-256 with RSA"}
    params["checksum"] = rsa_sign(gateway_key, params, hashes.SHA256())
    verify_checksum(params, secrets=[], public_key=public_pem(gateway_key))
    params["sign_alias"] = "gateway"
    params["checksum"] = rsa_sign(gateway_key, params, hashes.SHA256())
    with pytest.raises(CallbackError):
        verify_checksum(params, secrets=[], public_key=public_pem(gateway_key))


def test_asymmetric_altered_parameters_are_refused(gateway_key):
    params = {**VECTOR_PARAMS, "sign_alias": "key1"}
    params["checksum"] = rsa_sign(gateway_key, params)
    with pytest.raises(CallbackError, match="does not match"):
        verify_checksum({**params, "status": "0"}, secrets=[], public_key=public_pem(gateway_key))


def test_asymmetric_signature_by_another_key_is_refused(gateway_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    params = {**VECTOR_PARAMS, "sign_alias": "key1"}
    params["checksum"] = rsa_sign(other, params)
    with pytest.raises(CallbackError):
        verify_checksum(params, secrets=[], public_key=public_pem(gateway_key))


def test_sign_alias_requires_a_public_key():
    # An HMAC must not be accepted in place of a signature the callback claims to carry.
    params = {**VECTOR_PARAMS, "sign_alias": "key1"}
    params["checksum"] = sign_hmac(params, VECTOR_KEY)
    with pytest.raises(CallbackError, match="no callback public key"):
        verify_checksum(params, secrets=[VECTOR_KEY])


def test_asymmetric_non_hex_checksum_is_refused(gateway_key):
    params = {**VECTOR_PARAMS, "sign_alias": "key1", "checksum": "not-hex"}
    with pytest.raises(CallbackError, match="not hexadecimal"):
        verify_checksum(params, secrets=[], public_key=public_pem(gateway_key))


def test_unusable_public_key_is_a_callback_error_not_a_crash():
    params = {**VECTOR_PARAMS, "sign_alias": "key1", "checksum": "00ff"}
    with pytest.raises(CallbackError, match="unusable"):
        verify_checksum(params, secrets=[], public_key="-----BEGIN PUBLIC KEY-----\nxx\n")


def test_the_key_loader_refuses_non_rsa_keys():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="RSA"):
        load_rsa_public_key(public_pem(ec_key))
