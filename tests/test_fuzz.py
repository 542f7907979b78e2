"""Generated requests at every endpoint a shopper, a bank or a stranger can reach: no 500.

Bodies, content types (charsets included), query strings and headers are generated; each
request must get an answer below 500, or a 503 for a temporary failure on our side. The
test client raises whatever the server would turn into a bare 500, so nothing slips
through. ``make test`` tries a few hundred requests per endpoint; CI (``CI=true``) thousands.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from checkout import access
from tests.factories import OrderFactory, PaymentFactory
from tests.fuzzing import FUZZ

pytestmark = pytest.mark.django_db


FIELDS = [
    "cardholder_name",
    "pan",
    "expiry",
    "cvc",
    "se_token",
    "brand",
    "last4",
    "email",
    "csrfmiddlewaretoken",
    "username",
    "password",
    "orderNumber",
    "mdOrder",
    "operation",
    "status",
    "checksum",
    "sign_alias",
    "orderId",
    "failed",
]
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded; charset=latin-1",
            "application/x-www-form-urlencoded; charset=utf-16",
            "application/x-www-form-urlencoded; charset=utf8",
            "application/x-www-form-urlencoded; charset=",
            'multipart/form-data; boundary="x"',
            "multipart/form-data",
            "application/json",
            "text/plain",
            "",
        ]
    ),
    st.text(max_size=60),
)
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["4444555511113333", "12/30", "987", "0", "-1", "\x00", "%", "fe80::1%eth0"]),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)
FORMS = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), VALUES, max_size=8
)
BODIES = st.one_of(
    FORMS.map(lambda form: urlencode(form).encode()),
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
QUERIES = FORMS.map(lambda form: urlencode(form, quote_via=quote))
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_X_FORWARDED_FOR": VALUES,
        "HTTP_X_REAL_IP": VALUES,
        "HTTP_REFERER": VALUES,
        "HTTP_ACCEPT_LANGUAGE": VALUES,
        "HTTP_COOKIE": VALUES,
        "HTTP_USER_AGENT": VALUES,
        "REMOTE_ADDR": st.sampled_from(["198.51.100.7", "2001:db8::1", "fe80::1%eth0", ""]),
    },
)


def _latin1(headers: dict[str, str]) -> dict[str, str]:
    # WSGI carries headers as latin-1 strings: what a client can send at all.
    return {
        key: value.encode("latin-1", "replace").decode("latin-1") for key, value in headers.items()
    }


def assert_answered(response) -> None:
    assert response.status_code < 500 or response.status_code == 503, response.status_code


@pytest.fixture
def http(settings, offline_gateway):
    settings.CHECKOUT = {**settings.CHECKOUT, "CLIENT_IP_HEADER": "X-Forwarded-For"}
    return Client(raise_request_exception=True, enforce_csrf_checks=True)


@given(body=BODIES, content_type=CONTENT_TYPES, query=QUERIES, headers=HEADERS)
@FUZZ
def test_card_post(http, body, content_type, query, headers):
    order = OrderFactory()
    url = access.signed_url(order) + "&" + query
    response = http.generic("POST", url, body, content_type=content_type, **_latin1(headers))
    assert_answered(response)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "HEAD"]),
    body=BODIES,
    content_type=CONTENT_TYPES,
    query=QUERIES,
    headers=HEADERS,
)
@FUZZ
def test_callback(http, method, body, content_type, query, headers):
    url = reverse("jcc_checkout:callback") + "?" + query
    response = http.generic(method, url, body, content_type=content_type, **_latin1(headers))
    assert_answered(response)


@given(query=QUERIES, headers=HEADERS)
@FUZZ
def test_return(http, query, headers):
    response = http.get(reverse("jcc_checkout:return") + "?" + query, **_latin1(headers))
    assert_answered(response)


@given(query=QUERIES, headers=HEADERS, known=st.booleans())
@FUZZ
def test_status_page(http, query, headers, known):
    payment_id = PaymentFactory().public_id if known else uuid.uuid4()
    url = reverse("jcc_checkout:payment", args=[payment_id]) + "?" + query
    response = http.get(url, **_latin1(headers))
    assert_answered(response)


@given(body=BODIES, content_type=CONTENT_TYPES, headers=HEADERS)
@FUZZ
def test_cart(http, body, content_type, headers):
    response = http.generic(
        "POST", reverse("shop:cart"), body, content_type=content_type, **_latin1(headers)
    )
    assert_answered(response)


@given(body=BODIES, content_type=CONTENT_TYPES, query=QUERIES, headers=HEADERS)
@FUZZ
def test_admin_login(http, body, content_type, query, headers):
    url = reverse("admin:login") + "?" + query
    response = http.generic("POST", url, body, content_type=content_type, **_latin1(headers))
    assert_answered(response)
