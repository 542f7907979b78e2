"""The checkout pages without a gateway round trip: access, form, bad input, redirects."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from checkout import access
from checkout.cards import luhn_valid, parse_expiry
from checkout.forms import CardForm
from checkout.models import Exchange, Payment, PaymentStatus
from tests.factories import OrderFactory, PaymentFactory, owned_order

S = PaymentStatus
pytestmark = pytest.mark.django_db

PAN = "4444555511113333"


@pytest.fixture(autouse=True)
def _offline(offline_gateway):
    pass


def card_url(order):
    return reverse("jcc_checkout:card", args=[order.public_id])


# --- the card page ---------------------------------------------------------------------


def test_card_page_renders_an_accessible_form(client, setoken_public_pem):
    order = owned_order(client, amount=1450, description="Halloumi, 1 kg")
    response = client.get(card_url(order))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="card-form"' in html and 'method="post"' in html
    assert f'data-setoken-key="{setoken_public_pem}"' in html
    for autocomplete in ("cc-name", "cc-number", "cc-exp", "cc-csc"):
        assert f'autocomplete="{autocomplete}"' in html
    assert html.count('inputmode="numeric"') == 3
    for field in ("cardholder_name", "pan", "expiry", "cvc"):
        assert f'<label for="id_{field}"' in html
    for hidden in ("se_token", "brand", "last4"):
        assert f'type="hidden" name="{hidden}"' in html
    assert "€14.50" in html and "Halloumi, 1 kg" in html
    assert '<script src="/static/checkout/card.js" defer></script>' in html
    assert "no-cache" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_invalid_card_form_shows_errors_and_never_echoes_card_data(client):
    order = owned_order(client)
    response = client.post(
        card_url(order),
        {"cardholder_name": "A Shopper", "pan": "4444555511113334", "expiry": "13/30", "cvc": "85"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "This card number is not valid" in html
    assert "Enter the expiry date as MM/YY" in html
    assert "The security code is 3 digits long" in html
    assert "4444555511113334" not in html and 'value="85"' not in html
    assert 'value="A Shopper"' in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids must be unique for aria-describedby"
    assert not Payment.objects.exists() and not Exchange.objects.exists()


def test_expired_card_is_refused_before_the_gateway(client):
    order = owned_order(client)
    response = client.post(
        card_url(order),
        {"cardholder_name": "A Shopper", "pan": PAN, "expiry": "01/20", "cvc": "859"},
    )
    assert "This card has expired." in response.content.decode()
    assert PAN not in response.content.decode()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        ({"se_token": "QUJD" * 64}, True),
        ({"se_token": "not base64 !"}, False),
        ({"pan": PAN, "expiry": "12/34", "cvc": "859"}, True),
        ({"pan": "4444 5555 1111 3333", "expiry": "12/2034", "cvc": "859"}, True),
        ({"pan": "378282246310005", "expiry": "12/34", "cvc": "859"}, False),
        ({"pan": "378282246310005", "expiry": "12/34", "cvc": "8591"}, True),
        ({"pan": PAN, "expiry": "12/34"}, False),
        ({}, False),
    ],
)
def test_card_form_takes_a_setoken_or_the_card_fields(data, valid):
    form = CardForm({"cardholder_name": "A Shopper", **data})
    assert form.is_valid() is valid, form.errors
    if not valid:
        assert "pan" not in form.cleaned_data and "cvc" not in form.cleaned_data


def test_card_form_with_setoken_drops_any_card_fields():
    form = CardForm(
        {
            "cardholder_name": "A Shopper",
            "se_token": "QUJD",
            "pan": PAN,
            "cvc": "859",
            "last4": "3333",
        }
    )
    assert form.is_valid()
    assert form.has_token and "pan" not in form.cleaned_data and "cvc" not in form.cleaned_data
    assert form.cleaned_data["last4"] == "3333"


def test_card_helpers():
    assert luhn_valid(PAN) and not luhn_valid("4444555511113334")
    today = timezone.localdate()
    assert parse_expiry(f"{today.month}/{today.year % 100:02d}", today=today) == (
        f"{today.year}{today.month:02d}"
    )
    with pytest.raises(ValueError, match="expired"):
        parse_expiry("12/20", today=today)
    with pytest.raises(ValueError, match="format"):
        parse_expiry("00/30", today=today)


# --- who sees what -----------------------------------------------------------------------


def test_pages_of_another_sessions_order_are_not_found(client):
    order = OrderFactory()
    payment = PaymentFactory(order=order, status=S.DECLINED)
    assert client.get(card_url(order)).status_code == 404
    assert client.post(card_url(order), {"cardholder_name": "X"}).status_code == 404
    assert client.get(reverse("jcc_checkout:payment", args=[payment.public_id])).status_code == 404
    assert client.get(reverse("jcc_checkout:threeds", args=[payment.public_id])).status_code == 404


def test_signed_link_grants_access_until_it_expires(client):
    order = OrderFactory()
    url = access.signed_url(order)
    assert client.get(url).status_code == 200
    # The link joined the session: the next pages open without it.
    assert client.get(card_url(order)).status_code == 200


def test_signed_link_works_where_there_is_no_session(client, settings):
    # Sessions, and the middleware that needs them, are left out.
    needs_session = ("contrib.sessions", "contrib.auth", "contrib.messages")
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not any(app in m for app in needs_session)
    ]
    order = OrderFactory()
    assert client.get(access.signed_url(order)).status_code == 200
    assert client.get(card_url(order)).status_code == 404


def test_signed_link_is_bound_to_its_order_and_expires(client):
    order, other = OrderFactory(), OrderFactory()
    assert not access.token_grants(access.make_token(other), order)
    token = access.make_token(order, max_age=60, now=time.time() - 120)
    assert not access.token_grants(token, order)
    assert client.get(card_url(order), {"access": token}).status_code == 404
    assert client.get(card_url(order), {"access": token + "x"}).status_code == 404


def test_expired_order_cannot_be_paid(client):
    order = owned_order(client, expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(card_url(order)).status_code == 410
    response = client.post(
        card_url(order),
        {"cardholder_name": "A Shopper", "pan": PAN, "expiry": "12/34", "cvc": "859"},
    )
    assert response.status_code == 410 and not Payment.objects.exists()


@pytest.mark.parametrize("status", [S.PAID, S.AWAITING_3DS, S.OUTCOME_UNKNOWN, S.NEEDS_REVIEW])
def test_card_page_of_an_order_with_a_live_attempt_shows_that_attempt(client, status):
    order = owned_order(client)
    payment = PaymentFactory(order=order, status=status, gateway_order_id="gw-1")
    response = client.post(
        card_url(order),
        {"cardholder_name": "A Shopper", "pan": PAN, "expiry": "12/34", "cvc": "859"},
    )
    assert response.status_code == 303
    assert response["Location"] == reverse("jcc_checkout:payment", args=[payment.public_id])
    assert order.payments.count() == 1 and not Exchange.objects.exists()


def test_rate_limit_per_order(client, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "RATE_LIMITS": {"per_order": 1, "per_ip": 0}}
    order = owned_order(client)
    # The first attempt is let through (and fails to connect: no gateway here), the
    # second is refused before any gateway call.
    data = {"cardholder_name": "A Shopper", "pan": PAN, "expiry": "12/34", "cvc": "859"}
    assert client.post(card_url(order), data).status_code == 503
    calls = Exchange.objects.count()
    assert client.post(card_url(order), data).status_code == 429
    assert Exchange.objects.count() == calls and order.payments.count() == 1


def test_gateway_unreachable_fails_the_attempt_cleanly(client):
    order = owned_order(client)
    response = client.post(
        card_url(order),
        {"cardholder_name": "A Shopper", "pan": PAN, "expiry": "12/34", "cvc": "859"},
    )
    assert response.status_code == 503 and response["Retry-After"]
    assert "No money was taken" in response.content.decode()
    payment = order.payments.get()
    assert payment.status == S.FAILED
    assert list(payment.history.values_list("to_status", flat=True)) == [S.PROCESSING, S.FAILED]
    # The shopper may try again later: a failed attempt does not block the order.
    assert client.get(card_url(order)).status_code == 200


# --- return URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "Missing or malformed orderId"),
        ({"orderId": ""}, "Missing or malformed orderId"),
        ({"orderId": "x" * 37}, "Missing or malformed orderId"),
        ({"orderId": "<script>"}, "Missing or malformed orderId"),
        ({"orderId": "' OR 1=1 --"}, "Missing or malformed orderId"),
        ({"orderId": "0179018d-8f96-7fbe-bc2b-4b7e00a7d8c0"}, "Unknown orderId"),
    ],
)
def test_return_with_garbage_is_a_400_with_a_reason(client, query, reason):
    response = client.get(reverse("jcc_checkout:return"), query)
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_return_refuses_other_methods(client):
    assert client.post(reverse("jcc_checkout:return"), {"orderId": "abc"}).status_code == 405


# --- cache outage ------------------------------------------------------------------------


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens on the discard port: every cache call fails at once.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }


def test_status_page_without_the_cache_is_a_503_and_leaves_the_gateway_alone(client, cache_down):
    order = owned_order(client)
    payment = PaymentFactory(order=order, status=S.OUTCOME_UNKNOWN, gateway_order_id="gw-1")
    response = client.get(reverse("jcc_checkout:payment", args=[payment.public_id]))
    assert response.status_code == 503 and response["Retry-After"]
    assert not Exchange.objects.exists()
    payment.refresh_from_db()
    assert payment.status == S.OUTCOME_UNKNOWN


def test_return_without_the_cache(client, cache_down):
    stranger = PaymentFactory(status=S.AWAITING_3DS, gateway_order_id="gw-1")
    response = client.get(reverse("jcc_checkout:return"), {"orderId": "gw-1"})
    # Somebody else's return cannot be throttled now, so it asks nothing.
    assert response.status_code == 200 and not Exchange.objects.exists()
    own = PaymentFactory(order=owned_order(client), status=S.AWAITING_3DS, gateway_order_id="gw-2")
    response = client.get(reverse("jcc_checkout:return"), {"orderId": "gw-2"})
    # The shopper's own return is never throttled: the gateway is asked (and is down here).
    assert response.status_code == 303
    assert response["Location"] == reverse("jcc_checkout:payment", args=[own.public_id])
    assert set(Exchange.objects.values_list("payment_id", flat=True)) == {own.pk}
    stranger.refresh_from_db()
    assert stranger.status == S.AWAITING_3DS
