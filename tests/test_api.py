"""The JSON API against the sandbox gateway over real HTTP: every endpoint and error path.

The front end is played by Django's test client without a session (the client secret is
all it has); seTokens are built with the sandbox's live key as the browser would; the 3-D
Secure pages are the sandbox's own, followed with ``requests``. Every answer is validated
against the OpenAPI document (tests/api_contract.py). Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from checkout.api import issue_client_secret
from checkout.api.secrets import authenticate
from checkout.cards import CardData
from checkout.models import (
    ApiSubmission,
    ClientSecret,
    Exchange,
    Order,
    Payment,
    PaymentStatus,
    SavedCard,
)
from checkout.sandbox import cards as sandbox_cards
from checkout.sandbox import crypto
from checkout.sandbox import models as sandbox_models
from checkout.services import create_order
from checkout.setoken import build_binding_setoken, build_setoken, current_public_key
from tests.api_contract import checked, checked_error
from tests.factories import OrderFactory, PaymentFactory
from tests.test_flow import acs_round_trip

S = PaymentStatus
pytestmark = pytest.mark.django_db(transaction=True)

APPROVE = "4444555511113333"
CHALLENGE = "5555555555555599"
INSUFFICIENT = "4000000000001166"
HTTP500_AFTER = "4000000000005001"
CVC = "859"
RETURN = "http://testserver/shop/done/"


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def gateway(sandbox_url: str, settings) -> str:
    cache.clear()
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "API_RETURN_URLS": ["/shop/done/", "https://app.example/pay/"],
        "API_ALLOWED_ORIGINS": ["https://app.example"],
    }
    return sandbox_url


@pytest.fixture
def api() -> Client:
    """A front end: no session, no cookies, CSRF enforced (the API must not need it)."""
    return Client(raise_request_exception=True, enforce_csrf_checks=True)


class Front:
    """The front end of one order: its secret, and calls checked against the document."""

    def __init__(self, client: Client, order: Order, secret: str | None = None) -> None:
        self.client, self.order = client, order
        self.secret = secret if secret is not None else issue_client_secret(order)

    @property
    def base(self) -> str:
        return f"/checkout/api/orders/{self.order.public_id}/"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}", **extra}

    def get(self, path: str = "", **extra: str):
        response = self.client.get(self.base + path, **self.headers(**extra))
        return response, checked(response, "GET", self.base + path)

    def post(self, body, *, raw: bytes | None = None, content_type="application/json", **extra):
        data = raw if raw is not None else json.dumps(body)
        path = self.base + "payments/"
        response = self.client.post(path, data, content_type=content_type, **self.headers(**extra))
        return response, checked(response, "POST", path)

    def pay(self, pan: str, *, cvc: str = CVC, name: str = "Test Shopper", **fields):
        token = build_setoken(CardData(pan, cvc, "203412", name), current_public_key())
        return self.post({"se_token": token, "cardholder_name": name, **fields})

    def status(self, payment_id: str):
        return self.get(f"payments/{payment_id}/")


def through_acs(url: str, *, otp: str = sandbox_cards.ONE_TIME_CODE) -> str:
    """A browser at next_action's URL, through the sandbox's ACS; where it is sent back."""
    return acs_round_trip(url, otp=otp)


# --- the document ------------------------------------------------------------------------


def test_the_openapi_document_is_served_and_valid(api):
    from openapi_spec_validator import validate

    response = api.get("/checkout/api/openapi.json")
    doc = checked(response, "GET", "/checkout/api/openapi.json")
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "http://testserver/checkout/api"}]
    assert set(doc["paths"]) >= {"/orders/{order_id}/", "/orders/{order_id}/payments/"}


# --- reading the order -------------------------------------------------------------------


def test_the_order_as_the_page_needs_it(gateway, api):
    order = OrderFactory(amount=1450, merchant_reference="LL-1")
    response, body = Front(api, order).get()
    assert response.status_code == 200
    assert body["order"]["amount"] == 1450 and body["order"]["currency"] == "EUR"
    assert body["order"]["amount_display"] == "€14.50"
    assert body["order"]["state"] == "open" and body["order"]["reference"] == "LL-1"
    assert body["merchant"]["name"] == "Limassol Larder"
    assert [brand["code"] for brand in body["brands"]] == ["VISA", "MASTERCARD", "DINERS"]
    assert body["brands"][0]["mark_url"].startswith("http://testserver/static/checkout/brands/")
    assert body["setoken"]["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert body["saved_cards"] == {
        "cards": [],
        "ask_cvc": True,
        "can_save": False,
        "saving_required": False,
    }
    assert body["payment"] is None
    assert "Set-Cookie" not in response.headers or not response.cookies


def test_the_amount_in_the_shoppers_language(gateway, api):
    order = OrderFactory(amount=1450, language="el")
    front = Front(api, order)
    _response, body = front.get()
    assert body["order"]["amount_display"] == "14,50\u00a0€", "the order's language"
    response, body = front.get(HTTP_ACCEPT_LANGUAGE="en")
    assert body["order"]["amount_display"] == "€14.50"
    assert response["Content-Language"] == "en"


# --- the client secret -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "client_secret_required"),
        ("Basic abc", "client_secret_required"),
        ("Bearer ", "client_secret_required"),
        ("Bearer nonsense", "client_secret_invalid"),
        ("Bearer cs_0123456789abcdef_" + "A" * 43, "client_secret_invalid"),
    ],
)
def test_no_or_an_unknown_secret_is_refused(api, header, code):
    order = OrderFactory()
    headers = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    path = f"/checkout/api/orders/{order.public_id}/"
    response = api.get(path, **headers)
    assert response.status_code == 401
    assert checked(response, "GET", path)["error"]["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_orders_secret_never_opens_another_order(api):
    mine, theirs = OrderFactory(), OrderFactory()
    secret = issue_client_secret(mine)
    for path in (
        f"/checkout/api/orders/{theirs.public_id}/",
        f"/checkout/api/orders/{theirs.public_id}/payments/",
    ):
        method = "GET" if path.endswith("orders/" + str(theirs.public_id) + "/") else "POST"
        response = api.generic(
            method, path, b"{}", "application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
        assert response.status_code == 401
        assert checked(response, method, path)["error"]["code"] == "client_secret_invalid"
    # An order that does not exist looks the same as someone else's.
    path = "/checkout/api/orders/00000000-0000-4000-8000-000000000000/"
    response = api.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert checked(response, "GET", path)["error"]["code"] == "client_secret_invalid"


def test_only_a_digest_of_the_secret_is_kept(api):
    order = OrderFactory()
    secret = issue_client_secret(order)
    row = ClientSecret.objects.get(order=order)
    # cs_<selector>_<validator>: the validator (URL-safe base64) may hold "_" itself.
    validator = secret.split("_", 2)[2]
    assert secret not in (row.digest, row.selector) and validator not in row.digest
    assert authenticate(secret, order) == row
    # One character off is another secret.
    assert (
        Front(api, order, secret[:-1] + ("A" if secret[-1] != "A" else "B")).get()[0].status_code
        == 401
    )


def test_an_expired_secret_is_refused(api):
    order = OrderFactory()
    front = Front(api, order)
    ClientSecret.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response, body = front.get()
    assert response.status_code == 401 and body["error"]["code"] == "client_secret_expired"


def test_a_secret_lives_at_least_as_long_as_a_gateway_order(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "API_CLIENT_SECRET_LIFETIME": 10}
    order = OrderFactory()
    issue_client_secret(order)
    row = ClientSecret.objects.get(order=order)
    assert row.expires_at - row.created_at >= timedelta(seconds=1200)


# --- paying ------------------------------------------------------------------------------


def test_pay_without_3ds(gateway, api):
    order = OrderFactory(amount=1450)
    front = Front(api, order)
    response, body = front.pay(APPROVE)
    assert response.status_code == 200
    payment = body["payment"]
    assert (payment["state"], payment["status"]) == ("succeeded", "paid")
    assert payment["card"] == {"brand": "VISA", "masked_pan": "444455**3333"}
    assert payment["next_action"] is None and payment["poll_after"] is None
    assert payment["message"] == "Thank you: your payment was received."
    _r, again = front.status(payment["id"])
    assert again["payment"]["state"] == "succeeded"
    _r, config = front.get()
    assert config["order"]["state"] == "paid" and config["payment"]["id"] == payment["id"]
    # A second payment for a paid order: refused, naming the payment that paid it.
    response, body = front.pay(APPROVE)
    assert response.status_code == 409
    assert body["error"]["code"] == "order_paid" and body["payment"]["id"] == payment["id"]
    assert Payment.objects.filter(order=order).count() == 1


def test_3ds_redirect_then_back_to_the_front_end(gateway, api):
    order = OrderFactory(amount=2400)
    front = Front(api, order)
    _response, body = front.pay(CHALLENGE, return_url=RETURN)
    payment = body["payment"]
    assert (payment["state"], payment["status"]) == ("requires_action", "awaiting_3ds")
    action = payment["next_action"]
    assert action["type"] == "redirect" and action["method"] == "GET"
    assert "/acsRedirect.do?orderId=" in action["url"]
    _r, pending = front.status(payment["id"])
    assert pending["payment"]["state"] == "requires_action"
    back = through_acs(action["url"])
    cache.clear()  # the shopper spent longer at the bank than the status query throttle
    # The app's return view settles the payment, then hands the shopper to the front end.
    parts = urlsplit(back)
    landing = api.get(f"{parts.path}?{parts.query}")
    assert landing.status_code == 303
    target = urlsplit(landing["Location"])
    assert target.path == "/shop/done/"
    assert parse_qs(target.query) == {"payment": [payment["id"]], "status": ["paid"]}
    _r, done = front.status(payment["id"])
    assert done["payment"]["state"] == "succeeded"


def test_3ds_post_variant(gateway, api, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "THREEDS_METHOD": "post"}
    front = Front(api, OrderFactory())
    _r, body = front.pay(CHALLENGE, return_url=RETURN)
    action = body["payment"]["next_action"]
    assert action["type"] == "post_form" and action["method"] == "POST"
    assert set(action["fields"]) == {"PaReq", "MD", "TermUrl"}
    assert action["fields"]["MD"] == Payment.objects.get().gateway_order_id


def test_decline_then_retry(gateway, api):
    order = OrderFactory()
    front = Front(api, order)
    _r, body = front.pay(INSUFFICIENT)
    failed = body["payment"]
    assert (failed["state"], failed["status"], failed["can_retry"]) == ("failed", "declined", True)
    assert "not enough funds" in failed["message"]
    _r, body = front.pay(APPROVE)
    assert body["payment"]["state"] == "succeeded"
    _r, old = front.status(failed["id"])
    assert old["payment"]["can_retry"] is False, "the order is paid now"


def test_decline_message_in_greek(gateway, api):
    front = Front(api, OrderFactory(language="el"))
    _r, body = front.pay(INSUFFICIENT)
    assert body["payment"]["message"].startswith("Η κάρτα σας")


def test_unknown_outcome_is_confirming_then_settled(gateway, api):
    order = OrderFactory()
    front = Front(api, order)
    response, body = front.pay(HTTP500_AFTER)
    assert response.status_code == 200
    payment = body["payment"]
    assert (payment["state"], payment["status"]) == ("confirming", "outcome_unknown")
    assert payment["poll_after"] == 3
    cache.clear()  # past the status query throttle
    _r, settled = front.status(payment["id"])
    assert settled["payment"]["state"] == "succeeded"


def test_idempotency_key_replays_the_first_answer(gateway, api):
    order = OrderFactory()
    front = Front(api, order)
    token = build_setoken(CardData(APPROVE, CVC, "203412", "Ann"), current_public_key())
    body = {"se_token": token, "cardholder_name": "Ann"}
    first, one = front.post(body, HTTP_IDEMPOTENCY_KEY="order-1-try-1")
    again, two = front.post(body, HTTP_IDEMPOTENCY_KEY="order-1-try-1")
    assert first.status_code == again.status_code == 200
    assert one == two and again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Payment.objects.filter(order=order).count() == 1
    # The same key with another body is a mistake, not a replay.
    other = {**body, "cardholder_name": "Someone Else"}
    response, error = front.post(other, HTTP_IDEMPOTENCY_KEY="order-1-try-1")
    assert response.status_code == 400 and error["error"]["code"] == "idempotency_key_reused"
    for bad in ("", "x" * 256, "caf\u00e9"):
        response = api.post(
            front.base + "payments/",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {front.secret}",
            HTTP_IDEMPOTENCY_KEY=bad.encode().decode("latin-1"),
        )
        assert response.status_code == 400
        assert checked(response, "POST", front.base + "payments/")["error"]["code"] == (
            "invalid_idempotency_key"
        )


def test_the_payment_admin_shows_how_the_api_submitted_it(gateway, api, admin_client):
    front = Front(api, OrderFactory())
    token = build_setoken(CardData(CHALLENGE, CVC, "203412", "Ann"), current_public_key())
    body = {"se_token": token, "cardholder_name": "Ann", "return_url": RETURN}
    _r, answer = front.post(body, HTTP_IDEMPOTENCY_KEY="order-7-try-1")
    payment = Payment.objects.get(public_id=answer["payment"]["id"])
    page = reverse("admin:jcc_checkout_payment_change", args=[payment.pk])
    shown = admin_client.get(page).content.decode()
    assert "API payment submission" in shown
    assert "order-7-try-1" in shown and RETURN in shown
    greek = admin_client.get(page, HTTP_ACCEPT_LANGUAGE="el").content.decode()
    assert "υποβολή πληρωμής μέσω api" in greek.lower()
    # A payment made on the card page has no such section.
    other = PaymentFactory()
    plain = admin_client.get(reverse("admin:jcc_checkout_payment_change", args=[other.pk]))
    assert plain.status_code == 200
    assert "API payment submission" not in plain.content.decode()


def test_a_key_in_flight_is_answered_409(gateway, api):
    order = OrderFactory()
    front = Front(api, order)
    secret = ClientSecret.objects.get(order=order)
    body = json.dumps({"se_token": "QUJD", "cardholder_name": "Ann"})
    ApiSubmission.objects.create(
        secret=secret,
        idempotency_key="k1",
        fingerprint=hashlib.sha256(body.encode()).hexdigest(),
    )
    response, error = front.post(None, raw=body.encode(), HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 409 and error["error"]["code"] == "idempotency_key_in_use"


def test_attempt_limits_apply(gateway, api, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "RATE_LIMITS": {"per_order": 2, "per_ip": 0}}
    order = OrderFactory()
    front = Front(api, order)
    for _ in range(2):
        assert front.pay(INSUFFICIENT)[1]["payment"]["state"] == "failed"
    response, body = front.pay(APPROVE)
    assert response.status_code == 429
    assert body["error"]["code"] == "too_many_attempts"
    assert "too many payment attempts" in body["error"]["message"]
    assert response["Retry-After"] == "600"
    assert Payment.objects.filter(order=order).count() == 2


def test_a_payment_under_way_blocks_another(gateway, api):
    order = OrderFactory()
    front = Front(api, order)
    _r, body = front.pay(CHALLENGE)
    response, error = front.pay(APPROVE)
    assert response.status_code == 409
    assert error["error"]["code"] == "payment_in_progress"
    assert error["payment"]["id"] == body["payment"]["id"]


def test_an_expired_order(gateway, api):
    order = OrderFactory(expires_at=timezone.now() - timedelta(minutes=1))
    front = Front(api, order)
    assert front.get()[1]["order"]["state"] == "expired"
    response, body = front.pay(APPROVE)
    assert response.status_code == 410 and body["error"]["code"] == "order_expired"


def test_gateway_unreachable(api, offline_gateway, setoken_public_pem):
    order = OrderFactory()
    front = Front(api, order)
    _r, config = front.get()
    assert config["setoken"]["public_key"] == setoken_public_pem
    token = build_setoken(CardData(APPROVE, CVC, "203412", "Ann"), setoken_public_pem)
    body = {"se_token": token, "cardholder_name": "Ann"}
    response, body = front.post(body, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 503 and body["error"]["code"] == "gateway_unavailable"
    assert body["payment"]["status"] == "failed" and response["Retry-After"]
    # Nothing reached the gateway: the same key may try again (and is not replayed).
    again, _body = front.post(
        {"se_token": token, "cardholder_name": "Ann"}, HTTP_IDEMPOTENCY_KEY="k"
    )
    assert again.status_code == 503 and "Idempotent-Replayed" not in again


def test_paying_extends_the_secret(gateway, api):
    order = OrderFactory()
    front = Front(api, order)
    ClientSecret.objects.update(expires_at=timezone.now() + timedelta(seconds=30))
    front.pay(CHALLENGE)
    row = ClientSecret.objects.get(order=order)
    assert row.expires_at > timezone.now() + timedelta(seconds=1200)


# --- bad requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{", 400, "malformed_json"),
        (b"\xff\xfe", 400, "malformed_json"),
        (b'{"se_token": NaN}', 400, "malformed_json"),
        (b"[1, 2]", 400, "invalid_body"),
        (b'"text"', 400, "invalid_body"),
        (b"", 415, "unsupported_media_type"),
        (b"[" * 100_000, 413, "body_too_large"),
        (b'{"se_token": "' + b"A" * 20_000 + b'"}', 413, "body_too_large"),
    ],
)
def test_malformed_bodies(gateway, api, raw, status, code):
    front = Front(api, OrderFactory())
    response, body = front.post(None, raw=raw)
    assert response.status_code == status and body["error"]["code"] == code


def test_deep_nesting_within_the_size_limit(gateway, api):
    front = Front(api, OrderFactory())
    response, body = front.post(None, raw=b"[" * 8000 + b"]" * 8000)
    assert response.status_code == 400 and body["error"]["code"] in (
        "malformed_json",
        "invalid_body",
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_only_json_is_accepted(gateway, api, content_type):
    front = Front(api, OrderFactory())
    response, body = front.post(None, raw=b'{"se_token": "QUJD"}', content_type=content_type)
    assert response.status_code in (400, 415)
    if response.status_code == 415:
        assert body["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"se_token": "required"}),
        ({"se_token": 5}, {"se_token": "type"}),
        ({"se_token": "QUJD", "cardholder_name": ["Ann"]}, {"cardholder_name": "type"}),
        ({"se_token": "QUJD", "save_card": "yes"}, {"save_card": "type"}),
        ({"se_token": "QUJD", "colour": "red"}, {"colour": "unknown"}),
        ({"se_token": "not base64!", "cardholder_name": "Ann"}, {"se_token": "invalid"}),
        ({"se_token": "QUJD", "cardholder_name": "Ann 4"}, {"cardholder_name": "letters"}),
        (
            {"se_token": "QUJD", "return_url": "https://evil.example/"},
            {"return_url": "not_allowed"},
        ),
        (
            {"se_token": "QUJD", "return_url": "//evil.example/shop/done/"},
            {"return_url": "not_allowed"},
        ),
        ({"se_token": "QUJD", "return_url": "/shop/donex"}, {"return_url": "not_allowed"}),
        ({"se_token": "QUJD", "saved_card": "not-a-uuid"}, {"saved_card": "invalid"}),
        (
            {"se_token": "QUJD", "saved_card": "00000000-0000-4000-8000-000000000000"},
            {"saved_card": "unknown"},
        ),
    ],
)
def test_invalid_fields(gateway, api, body, fields):
    front = Front(api, OrderFactory())
    response, error = front.post(body)
    assert response.status_code == 400
    assert error["error"]["code"] == "validation_failed"
    got = {name: errors[0]["code"] for name, errors in error["error"]["fields"].items()}
    assert got == fields
    assert all(errors[0]["message"] for errors in error["error"]["fields"].values())
    assert not Payment.objects.exists()


def test_a_field_error_in_greek(gateway, api):
    front = Front(api, OrderFactory(language="el"))
    response, error = front.post({"se_token": "QUJD", "cardholder_name": "Ann 4"})
    assert response["Content-Language"] == "el"
    message = error["error"]["fields"]["cardholder_name"][0]["message"]
    assert message != "Enter the name in Latin or Greek letters, as on the card."


@pytest.mark.parametrize("field", ["pan", "cvc", "expiry"])
def test_card_data_in_the_clear_is_refused(gateway, api, field):
    front = Front(api, OrderFactory())
    response, error = front.post({"se_token": "QUJD", field: "4444555511113333"})
    assert response.status_code == 400 and error["error"]["code"] == "card_data_not_accepted"
    assert not Payment.objects.exists()


def test_allowed_return_urls(gateway, api):
    for url in ("/shop/done/", "/shop/done/receipt?x=1#top", "https://app.example/pay/thanks"):
        front = Front(api, OrderFactory())
        _r, body = front.pay(APPROVE, return_url=url)
        assert body["payment"]["state"] == "succeeded", url


def test_methods_and_unknown_paths(gateway, api):
    front = Front(api, OrderFactory())
    response = api.delete(front.base, HTTP_AUTHORIZATION=f"Bearer {front.secret}")
    assert response.status_code == 405 and "GET" in response["Allow"]
    assert checked_error(response)["error"]["code"] == "method_not_allowed"
    response = api.get("/checkout/api/nothing/here/")
    assert response.status_code == 404
    assert checked_error(response)["error"]["code"] == "not_found"
    response, body = front.status("00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404 and body["error"]["code"] == "not_found"


def test_another_orders_payment_is_not_found(gateway, api):
    paid = Front(api, OrderFactory())
    _r, body = paid.pay(APPROVE)
    other = Front(api, OrderFactory())
    response, error = other.status(body["payment"]["id"])
    assert response.status_code == 404 and error["error"]["code"] == "not_found"


# --- CORS --------------------------------------------------------------------------------


def test_cors_for_listed_origins_only(gateway, api):
    front = Front(api, OrderFactory())
    path = front.base + "payments/"
    preflight = api.options(
        path,
        HTTP_ORIGIN="https://app.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight
    response, _body = front.get(HTTP_ORIGIN="https://app.example")
    assert response["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Idempotent-Replayed" in response["Access-Control-Expose-Headers"]
    assert "Origin" in response["Vary"]
    for stranger in (
        "https://evil.example",
        "https://app.example.evil",
        "null",
        "http://app.example",
    ):
        response, _body = front.get(HTTP_ORIGIN=stranger)
        assert "Access-Control-Allow-Origin" not in response, stranger
        preflight = api.options(path, HTTP_ORIGIN=stranger)
        assert "Access-Control-Allow-Origin" not in preflight, stranger


def test_no_origin_is_allowed_by_default(api):
    front = Front(api, OrderFactory())
    response, _body = front.get(HTTP_ORIGIN="https://app.example")
    assert "Access-Control-Allow-Origin" not in response


# --- saved cards -------------------------------------------------------------------------


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("ana", "ana@shop.example", "pw-ana-2026")


def saved_card_of(owner, binding_id: str = "b-0001") -> SavedCard:
    """A card an earlier payment saved into ``owner``'s wallet (as the status answer records it)."""
    from checkout.services.bindings import wallet_for

    return SavedCard.objects.create(
        wallet=wallet_for(owner),
        binding_id=binding_id,
        brand="VISA",
        masked_pan="444455**3333",
        expiry="203412",
        network_reference="NR-1",
        first_paid_at=timezone.now() - timedelta(days=3),
    )


def test_a_saved_card_is_offered_and_paid_by_its_binding_and_cvc(gateway, api, owner):
    card = saved_card_of(owner)
    order = create_order(amount=990, currency="EUR", description="Honey", owner=owner)
    front = Front(api, order)
    _r, config = front.get()
    [listed] = config["saved_cards"]["cards"]
    assert listed == {
        "id": str(card.public_id),
        "brand": "VISA",
        "last4": "3333",
        "expiry": "12/34",
        "binding_id": "b-0001",
    }
    assert config["saved_cards"]["can_save"] is True
    token = build_binding_setoken(listed["binding_id"], CVC, config["setoken"]["public_key"])
    response, body = front.post({"se_token": token, "saved_card": listed["id"]})
    assert response.status_code == 200
    payment = Payment.objects.get(public_id=body["payment"]["id"])
    assert (payment.saved_card, payment.tii) == (card, "F")
    sent = Exchange.objects.get(payment=payment, operation="instantPayment.do").request
    assert (sent["tii"], sent["clientId"]) == ("F", card.wallet.client_id)
    # A binding the gateway never made: refused by the gateway, an answer, not our error.
    assert body["payment"]["state"] == "failed"


def test_save_a_card_then_pay_with_it(gateway, api, owner):
    first = create_order(amount=1890, currency="EUR", description="Halloumi", owner=owner)
    _r, body = Front(api, first).pay(APPROVE, save_card=True)
    assert body["payment"]["state"] == "succeeded"
    card = SavedCard.objects.get()
    assert card.first_payment.tii == "CI" and card.network_reference
    second = create_order(amount=990, currency="EUR", description="Honey", owner=owner)
    front = Front(api, second)
    [listed] = front.get()[1]["saved_cards"]["cards"]
    assert listed["binding_id"] == card.binding_id
    token = build_binding_setoken(card.binding_id, CVC, current_public_key())
    _r, body = front.post({"se_token": token, "saved_card": listed["id"]})
    assert body["payment"]["state"] == "succeeded"
    payment = Payment.objects.get(public_id=body["payment"]["id"])
    assert (payment.saved_card, payment.tii) == (card, "F")
    # Only the token travelled: the bindingId and the CVC inside it, no card number.
    decrypted = crypto.decrypt_setoken(token)
    assert (decrypted.binding_id, decrypted.pan, decrypted.cvc) == (card.binding_id, "", CVC)
    bank = sandbox_models.Order.objects.get(pk=payment.gateway_order_id)
    assert str(bank.binding_id) == card.binding_id


def test_another_wallets_card_cannot_be_used(gateway, api, owner, django_user_model):
    card = saved_card_of(owner)
    stranger = django_user_model.objects.create_user("bob", "bob@shop.example", "pw-bob-2026")
    theirs = create_order(amount=990, currency="EUR", description="Honey", owner=stranger)
    front = Front(api, theirs)
    assert front.get()[1]["saved_cards"]["cards"] == []
    token = build_binding_setoken(card.binding_id, CVC, current_public_key())
    response, error = front.post({"se_token": token, "saved_card": str(card.public_id)})
    assert response.status_code == 400
    assert error["error"]["fields"]["saved_card"][0]["code"] == "unknown"
    assert not Payment.objects.exists()


def test_no_saved_cards_for_an_order_without_a_shopper(gateway, api, owner):
    saved_card_of(owner)
    front = Front(api, OrderFactory())
    assert front.get()[1]["saved_cards"]["cards"] == []
