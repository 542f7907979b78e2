"""Payment attempt limits: per client address, per order, per window; only failed attempts
count (a secured one is given back); the client address."""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest
from django.core.cache import caches
from django.test import Client, RequestFactory
from django.urls import reverse

from checkout import access, ratelimit
from checkout.models import Exchange, Payment, PaymentStatus, Source
from checkout.ratelimit import check_payment_attempt, client_ip
from checkout.services import start_payment, transition
from tests.factories import OrderFactory
from tests.test_flow import come_back, through_acs

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


# --- only failed attempts count: a secured one is given back --------------------------------

S = PaymentStatus
DECLINE = "4000000000001166"  # declined: insufficient funds
CHALLENGE = "5555555555555599"  # 3-D Secure challenge, then approved
OFFICE = "203.0.113.80"  # many shoppers behind one address


@pytest.fixture
def gateway(sandbox_url):
    return sandbox_url


def shopper(address=OFFICE) -> Client:
    """A shopper of their own (browser session) behind ``address``."""
    return Client(REMOTE_ADDR=address)


def place_order(browser: Client):
    order = OrderFactory()
    session = browser.session
    session[access.SESSION_KEY] = [*session.get(access.SESSION_KEY, []), str(order.public_id)]
    session.save()
    return order


def pay(browser: Client, order, pan):
    url = reverse("jcc_checkout:card", args=[order.public_id])
    return browser.post(
        url, {"cardholder_name": "Ann Smith", "pan": pan, "expiry": "12/34", "cvc": "859"}
    )


def counter(kind: str, ident) -> int:
    return int(caches["default"].get(f"{ratelimit.KEY_PREFIX}:{kind}:{ident}") or 0)


@pytest.mark.django_db(transaction=True)
def test_an_office_of_paying_customers_is_never_stopped(gateway):
    """Twelve customers behind one address pay within the window (the limit is ten)."""
    paid = []
    for _ in range(12):
        browser = shopper()
        order = place_order(browser)
        response = pay(browser, order, PAN)
        assert response.status_code == 303, response.content.decode()[:300]
        paid.append(order.payments.get().status)
    assert paid == [S.PAID] * 12
    assert counter("ip", Payment.objects.first().client_key) == 0


@pytest.mark.django_db(transaction=True)
def test_a_card_tester_is_stopped_at_the_limit(gateway):
    """Ten declines from one address use the limit up: the eleventh is refused unsent."""
    browser = shopper()
    for _ in range(10):
        order = place_order(browser)
        assert pay(browser, order, DECLINE).status_code == 303
        assert order.payments.get().status == S.DECLINED
    calls, tries = Exchange.objects.count(), Payment.objects.count()

    order = place_order(browser)
    response = pay(browser, order, DECLINE)
    assert response.status_code == 429
    assert "too many payment attempts" in response.content.decode()
    assert (Exchange.objects.count(), Payment.objects.count()) == (calls, tries)
    # Another address is not affected, and pays.
    other = shopper("198.51.100.44")
    order = place_order(other)
    assert pay(other, order, PAN).status_code == 303
    assert order.payments.get().status == S.PAID


@pytest.mark.django_db(transaction=True)
def test_a_success_after_declines_gives_back_only_its_own_attempt(gateway, settings):
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "RATE_LIMITS": {"per_ip": 4, "per_order": 3, "window": 600},
    }
    browser = shopper()
    for _ in range(2):
        assert pay(browser, place_order(browser), DECLINE).status_code == 303
    # One order declined once, then paid after 3-D Secure: the return secures the money.
    order = place_order(browser)
    pay(browser, order, DECLINE)
    response = pay(browser, order, CHALLENGE)
    page = come_back(browser, through_acs(browser, response))
    assert "Payment received" in page.content.decode()
    payment = order.payments.get(status=S.PAID)
    assert payment.history.filter(to_status=S.PAID, source=Source.THREEDS_RETURN).exists()
    # Three declines still count; the paid attempt does not, on either counter.
    assert counter("ip", payment.client_key) == 3
    assert counter("order", order.pk) == 1

    assert pay(browser, place_order(browser), DECLINE).status_code == 303  # the fourth
    calls = Exchange.objects.count()
    assert pay(browser, place_order(browser), DECLINE).status_code == 429  # the fifth
    assert Exchange.objects.count() == calls


def test_an_attempt_secured_later_is_given_back_then(limits, django_capture_on_commit_callbacks):
    """Wherever the success is learnt (here checkout_sync's status query), it is given back."""
    limits(per_ip=5, per_order=5)
    order = OrderFactory()
    request = request_from(OFFICE)
    payment = start_payment(order, client_key=ratelimit.client_key(request))
    assert check_payment_attempt(request, order) is None
    assert check_payment_attempt(request_from(OFFICE), OrderFactory()) is None  # another
    assert counter("ip", payment.client_key) == 2
    with django_capture_on_commit_callbacks(execute=True):
        transition(payment, S.OUTCOME_UNKNOWN, source=Source.CARD_ENTRY)
    assert counter("ip", payment.client_key) == 2  # not secured yet
    with django_capture_on_commit_callbacks(execute=True):
        transition(payment, S.HELD, source=Source.RECONCILIATION)
    assert (counter("ip", payment.client_key), counter("order", order.pk)) == (1, 0)
    # Captured later: the attempt was given back once, not again.
    with django_capture_on_commit_callbacks(execute=True):
        transition(payment, S.PAID, source=Source.ADMIN)
    assert (counter("ip", payment.client_key), counter("order", order.pk)) == (1, 0)


def test_attempts_not_counted_by_the_card_page_are_not_given_back(
    limits, django_capture_on_commit_callbacks
):
    limits(per_ip=5, per_order=5)
    order = OrderFactory()
    assert check_payment_attempt(request_from(), order) is None
    payment = start_payment(order)  # started by the shop's own code: no client key
    with django_capture_on_commit_callbacks(execute=True):
        transition(payment, S.PAID, source=Source.CARD_ENTRY)
    assert counter("order", order.pk) == 1


def test_a_give_back_never_takes_a_counter_below_zero(limits, django_capture_on_commit_callbacks):
    limits(per_ip=5, per_order=5)
    order = OrderFactory()
    payment = start_payment(order, client_key=ratelimit.client_key(request_from()))
    # The window the attempt was counted in has ended, and a new one holds one attempt of
    # another order: the success takes that counter to zero at most.
    caches["default"].set(f"{ratelimit.KEY_PREFIX}:ip:{payment.client_key}", 0, 600)
    with django_capture_on_commit_callbacks(execute=True):
        transition(payment, S.PAID, source=Source.CARD_ENTRY)
    assert counter("ip", payment.client_key) == 0
    assert caches["default"].get(f"{ratelimit.KEY_PREFIX}:order:{order.pk}") is None


def test_a_cache_outage_leaves_the_success_standing(
    limits, settings, caplog, django_capture_on_commit_callbacks
):
    limits()
    payment = start_payment(OrderFactory(), client_key=ratelimit.client_key(request_from()))
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    with django_capture_on_commit_callbacks(execute=True):
        payment, changed = transition(payment, S.PAID, source=Source.CARD_ENTRY)
    assert changed and Payment.objects.get(pk=payment.pk).status == S.PAID
    assert "attempt not given back" in caplog.text


def test_the_address_counter_key_is_keyed_with_the_secret(settings):
    request = request_from("192.0.2.77")
    key = ratelimit.client_key(request)
    assert len(key) == 32 and "192.0.2.77" not in key
    settings.SECRET_KEY = "another-" + settings.SECRET_KEY
    assert ratelimit.client_key(request) != key


@pytest.mark.django_db(transaction=True)
def test_shared_redis_counts_and_gives_back_for_every_host(gateway, settings):
    """Several web hosts on one Redis (DB 4): a decline counts, a success is given back."""
    if not _redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/4",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    other_host = caches.create_connection("default")
    browser = shopper()
    declined = place_order(browser)
    pay(browser, declined, DECLINE)
    order = place_order(browser)
    pay(browser, order, PAN)
    payment = order.payments.get()
    assert payment.status == S.PAID
    keys = [
        f"{ratelimit.KEY_PREFIX}:ip:{payment.client_key}",
        f"{ratelimit.KEY_PREFIX}:order:{declined.pk}",
        f"{ratelimit.KEY_PREFIX}:order:{order.pk}",
    ]
    try:
        # What this host counted and gave back, the other host sees.
        assert other_host.get_many(keys) == {keys[0]: 1, keys[1]: 1, keys[2]: 0}
        # And what the other host counts, this one refuses on.
        settings.CHECKOUT = {
            **settings.CHECKOUT,
            "RATE_LIMITS": {"per_ip": 2, "per_order": 5, "window": 600},
        }
        other_host.incr(keys[0])
        calls = Exchange.objects.count()
        assert pay(browser, place_order(browser), DECLINE).status_code == 429
        assert Exchange.objects.count() == calls
    finally:
        other_host.delete_many(keys)
        other_host.close()


# --- behind a proxy without CLIENT_IP_HEADER --------------------------------------------------


def test_a_forwarded_request_without_client_ip_header_warns_once(monkeypatch, caplog, settings):
    monkeypatch.setattr(ratelimit, "_proxy_warned", type(ratelimit._proxy_warned)())
    assert client_ip(request_from("10.0.0.2")) == "10.0.0.2"
    assert "X-Forwarded-For" not in caplog.text
    for _ in range(3):
        client_ip(request_from("10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.23"))
    warnings = [r for r in caplog.records if "CLIENT_IP_HEADER" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"

    monkeypatch.setattr(ratelimit, "_proxy_warned", type(ratelimit._proxy_warned)())
    caplog.clear()
    settings.CHECKOUT = {**settings.CHECKOUT, "CLIENT_IP_HEADER": "X-Forwarded-For"}
    client_ip(request_from("10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.23"))
    assert "CLIENT_IP_HEADER" not in caplog.text


def test_counters_on_redis_take_one_round_trip_each_way(settings):
    """On Django's Redis cache the counters are counted and given back by one script each,
    with the same results as the generic path."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": f"checkout-test-{uuid.uuid4().hex}",
        }
    }
    keys = ["checkout:attempts:ip:a", "checkout:attempts:order:1"]
    assert ratelimit._redis() is not None
    assert ratelimit._count_all(keys, 60) == [1, 1]
    assert ratelimit._count_all(keys, 60) == [2, 2]
    assert caches["default"].get_many(keys) == {keys[0]: 2, keys[1]: 2}
    caches["default"].delete(keys[1])
    client, make_key = ratelimit._redis()
    for _ in range(3):
        client.eval(ratelimit._GIVE_BACK_SCRIPT, 2, *[make_key(key) for key in keys])
    # Never below zero, and a counter whose window ended is not brought back.
    assert caches["default"].get_many(keys) == {keys[0]: 0}
    assert 0 < client.ttl(make_key(keys[0])) <= 60
    caches["default"].delete_many(keys)
