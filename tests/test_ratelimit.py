"""Payment attempt limits: per client address, per order, per window; the client address."""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest
from django.core.cache import caches
from django.test import RequestFactory
from django.urls import reverse

from checkout import access, ratelimit
from checkout.models import Exchange, Payment
from checkout.ratelimit import check_payment_attempt, client_ip
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def limits(settings):
    def set_limits(**values):
        rate = {"per_ip": 100, "per_order": 100, "window": 600, **values}
        settings.CHECKOUT = {**settings.CHECKOUT, "RATE_LIMITS": rate}

    return set_limits


def request_from(address="203.0.113.5", **meta):
    return RequestFactory().post("/", REMOTE_ADDR=address, **meta)


def attempts(order, count, address="203.0.113.5"):
    return [check_payment_attempt(request_from(address), order) for _ in range(count)]


def test_per_order_limit(limits):
    limits(per_order=3)
    order, other = OrderFactory(), OrderFactory()
    results = attempts(order, 4)
    assert results[:3] == [None, None, None]
    assert "too many payment attempts" in results[3]
    assert "No money was taken." in results[3]
    # Another order from the same address is not affected by this order's counter.
    assert check_payment_attempt(request_from(), other) is None


def test_per_address_limit_spans_orders(limits):
    limits(per_ip=2)
    assert check_payment_attempt(request_from(), OrderFactory()) is None
    assert check_payment_attempt(request_from(), OrderFactory()) is None
    assert check_payment_attempt(request_from(), OrderFactory()) is not None
    assert check_payment_attempt(request_from("198.51.100.1"), OrderFactory()) is None


def test_message_names_the_window(limits):
    limits(per_order=1, window=300)
    order = OrderFactory()
    message = attempts(order, 2)[1]
    assert "wait 5 minutes" in message
    limits(per_order=1, window=30)
    assert "wait 1 minute " in attempts(OrderFactory(), 2)[1]


def test_window_ends(limits):
    limits(per_order=1, window=1)
    order = OrderFactory()
    assert attempts(order, 2)[1] is not None
    time.sleep(1.1)
    assert attempts(order, 1) == [None]


def test_zero_switches_a_limit_off(limits):
    limits(per_ip=0, per_order=0)
    assert set(attempts(OrderFactory(), 30)) == {None}


def test_ipv6_counts_the_whole_64_network(limits):
    limits(per_ip=2)
    assert check_payment_attempt(request_from("2001:db8:1:2::1"), OrderFactory()) is None
    assert check_payment_attempt(request_from("2001:db8:1:2:ffff::9"), OrderFactory()) is None
    assert check_payment_attempt(request_from("2001:db8:1:2::abcd"), OrderFactory()) is not None
    assert check_payment_attempt(request_from("2001:db8:1:3::1"), OrderFactory()) is None


def test_cache_holds_no_readable_address(limits):
    limits()
    check_payment_attempt(request_from("192.0.2.77"), OrderFactory())
    keys = list(caches["default"]._cache)  # LocMemCache's own store
    assert keys and not any("192.0.2.77" in key for key in keys)


def test_cache_outage_lets_the_payment_through(limits, settings, caplog):
    limits(per_order=1)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens on the discard port: every cache call fails at once.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    order = OrderFactory()
    assert attempts(order, 3) == [None, None, None]
    assert "cache is unavailable" in caplog.text


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_shared_redis_cache_counts_for_every_host(limits, settings):
    """Several web hosts share one Redis: what one counts, the others see."""
    if not _redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    limits(per_order=2)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    order = OrderFactory()
    assert attempts(order, 2) == [None, None]
    # A second connection stands for the second host.
    other_host = caches.create_connection("default")
    key = f"{ratelimit.KEY_PREFIX}:order:{order.pk}"
    assert other_host.get(key) == 2
    assert check_payment_attempt(request_from(), order) is not None
    ttl = other_host._cache.get_client(key).ttl(other_host.make_and_validate_key(key))
    assert 0 < ttl <= 600


# --- the client address ------------------------------------------------------------------


def test_address_is_remote_addr_by_default():
    request = request_from("192.0.2.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert client_ip(request) == "192.0.2.1"


@pytest.mark.parametrize("header", ["X-Forwarded-For", "x-forwarded-for", "HTTP_X_FORWARDED_FOR"])
def test_trusted_proxy_header_last_entry_wins(settings, header):
    settings.CHECKOUT = {**settings.CHECKOUT, "CLIENT_IP_HEADER": header}
    # The client made up the first entry; the proxy appended the address it really saw.
    request = request_from("10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.23")
    assert client_ip(request) == "198.51.100.23"


def test_single_value_header(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "CLIENT_IP_HEADER": "X-Real-IP"}
    assert client_ip(request_from("10.0.0.2", HTTP_X_REAL_IP="2001:db8::7")) == "2001:db8::7"


@pytest.mark.parametrize("value", ["", "garbage", "1.2.3.4, not-an-ip", "999.1.1.1"])
def test_unusable_header_falls_back_to_remote_addr(settings, value):
    settings.CHECKOUT = {**settings.CHECKOUT, "CLIENT_IP_HEADER": "X-Forwarded-For"}
    assert client_ip(request_from("10.0.0.2", HTTP_X_FORWARDED_FOR=value)) == "10.0.0.2"


@pytest.mark.parametrize(
    ("value", "address"), [("fe80::1%eth0", "fe80::1"), ("FE80::A%25", "fe80::a")]
)
def test_a_scoped_ipv6_address_loses_its_zone(settings, value, address):
    settings.CHECKOUT = {**settings.CHECKOUT, "CLIENT_IP_HEADER": "X-Real-IP"}
    assert client_ip(request_from("10.0.0.2", HTTP_X_REAL_IP=value)) == address


def test_no_address_at_all():
    request = RequestFactory().post("/")
    request.META.pop("REMOTE_ADDR", None)
    assert client_ip(request) == ""


# --- in the card view ----------------------------------------------------------------------


PAN = "4444555511113333"


def test_card_view_refuses_politely_without_calling_the_gateway(client, settings, limits):
    # The gateway address leads nowhere: each attempt that reaches it fails, and is logged.
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "GATEWAY_URL": "http://127.0.0.1:9/payment/",
        "USERNAME": "merchant-api",
        "PASSWORD": "merchant-password",
        "SETOKEN_PUBLIC_KEY": "",
        "RATE_LIMITS": {"per_ip": 100, "per_order": 2, "window": 600},
    }
    order = OrderFactory()
    session = client.session
    session[access.SESSION_KEY] = [str(order.public_id)]
    session.save()
    url = reverse("jcc_checkout:card", args=[order.public_id])
    form = {"cardholder_name": "Ann Smith", "pan": PAN, "expiry": "12/39", "cvc": "123"}

    for _ in range(2):
        assert client.post(url, form).status_code == 503
    calls = Exchange.objects.count()
    tries = Payment.objects.filter(order=order).count()

    response = client.post(url, form)
    assert response.status_code == 429
    assert "too many payment attempts" in response.content.decode()
    assert Exchange.objects.count() == calls
    assert Payment.objects.filter(order=order).count() == tries
