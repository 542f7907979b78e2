"""Generated requests at every endpoint of the JSON API: never a 500, every JSON answer valid.

Bodies (JSON of any shape, the payment fields with values of any type, raw bytes), content
types, Idempotency-Keys, client secrets, origins and languages are generated; each answer
must be below 500 (or a 503 from the unreachable gateway) and, when it is JSON on a
documented operation, match the OpenAPI document. ``make test`` sends a few hundred
requests per endpoint; CI (``CI=true``) thousands.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from checkout.api import issue_client_secret
from tests.api_contract import checked
from tests.factories import OrderFactory
from tests.fuzzing import FUZZ

pytestmark = pytest.mark.django_db


FIELDS = ["se_token", "cardholder_name", "saved_card", "save_card", "return_url", "pan", "cvc"]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["QUJD", "AAAA" * 40, "/checkout/", "https://app.example/pay/", "Ann"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
PAYMENT_BODIES = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)), JSON_VALUES, max_size=6
)
BODIES = st.one_of(
    PAYMENT_BODIES.map(lambda body: json.dumps(body).encode()),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "application/json;charset=",
            "APPLICATION/JSON",
            "text/plain",
            "",
        ]
    ),
    st.text(max_size=40),
)
LATIN1 = st.text(st.characters(max_codepoint=255, blacklist_categories=["Cs"]), max_size=60)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_IDEMPOTENCY_KEY": LATIN1,
        "HTTP_ORIGIN": st.one_of(LATIN1, st.just("https://app.example")),
        "HTTP_ACCEPT_LANGUAGE": st.one_of(LATIN1, st.sampled_from(["el", "en", "el-CY", "*"])),
        "HTTP_X_FORWARDED_FOR": LATIN1,
    },
)
SECRETS = st.one_of(st.just("own"), st.just("other"), LATIN1)


@pytest.fixture
def http(settings, offline_gateway):
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "API_ALLOWED_ORIGINS": ["https://app.example"],
        "API_RETURN_URLS": ["/checkout/", "https://app.example/pay/"],
    }
    return Client(raise_request_exception=True, enforce_csrf_checks=True)


@pytest.fixture
def orders(db):
    mine, other = OrderFactory(), OrderFactory()
    return mine, {"own": issue_client_secret(mine), "other": issue_client_secret(other)}


def _authorization(secrets: dict[str, str], which: str) -> dict[str, str]:
    value = secrets.get(which, which)
    return {"HTTP_AUTHORIZATION": f"Bearer {value}"} if value else {}


def assert_answered(response, method: str, path: str) -> None:
    assert response.status_code < 500 or response.status_code == 503, response.status_code
    if response.status_code in (204, 404, 405) or not response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return
    checked(response, method, path)


@given(body=BODIES, content_type=CONTENT_TYPES, headers=HEADERS, which=SECRETS)
@FUZZ
def test_payments_post(http, orders, body, content_type, headers, which):
    order, secrets = orders
    path = f"/checkout/api/orders/{order.public_id}/payments/"
    response = http.generic(
        "POST", path, body, content_type, **_authorization(secrets, which), **headers
    )
    assert_answered(response, "POST", path)


@given(headers=HEADERS, which=SECRETS, method=st.sampled_from(["GET", "HEAD", "OPTIONS", "PUT"]))
@FUZZ
def test_order_get(http, orders, headers, which, method):
    order, secrets = orders
    path = f"/checkout/api/orders/{order.public_id}/"
    response = http.generic(method, path, **_authorization(secrets, which), **headers)
    if method == "HEAD":
        assert response.status_code < 500 and not response.content
    else:
        assert_answered(response, method, path)


@given(
    headers=HEADERS,
    which=SECRETS,
    payment_id=st.one_of(st.uuids().map(str), st.just("existing")),
)
@FUZZ
def test_payment_get(http, orders, headers, which, payment_id):
    order, secrets = orders
    if payment_id == "existing":
        from tests.factories import PaymentFactory

        payment_id = str(PaymentFactory(order=order, status="declined").public_id)
    path = f"/checkout/api/orders/{order.public_id}/payments/{payment_id}/"
    response = http.get(path, **_authorization(secrets, which), **headers)
    assert_answered(response, "GET", path)


@given(tail=st.text(max_size=30), body=BODIES, headers=HEADERS)
@FUZZ
def test_anything_else_under_the_api(http, tail, body, headers):
    from urllib.parse import quote

    path = "/checkout/api/" + quote(tail, safe="/")
    response = http.generic("POST", path, body, "application/json", **headers)
    assert response.status_code < 500, response.status_code
