"""System checks: each warning appears when its condition holds and disappears when fixed."""

from __future__ import annotations

from django.core import checks
from django.test import override_settings

from checkout.checks import (
    check_api_settings,
    check_client_ip_header,
    check_gateway_settings,
    check_limits_cache,
    check_middleware,
    check_retention,
)

REAL = {
    "GATEWAY_URL": "https://gateway-test.jcc.com.cy/payment/",
    "USERNAME": "shop-api",
    "PASSWORD": "pw",
    "CALLBACK_SECRETS": ["secret"],
}


def ids(**overrides) -> set[str]:
    with override_settings(**overrides):
        messages = check_gateway_settings()
    assert all(isinstance(m, checks.Warning) for m in messages)
    assert all(m.hint for m in messages)
    return {m.id for m in messages}


def test_fully_configured_production_settings_are_silent():
    assert ids(DEBUG=False, CHECKOUT=REAL) == set()


def test_w001_missing_credentials():
    for missing in ("GATEWAY_URL", "USERNAME", "PASSWORD"):
        assert "checkout.W001" in ids(DEBUG=False, CHECKOUT={**REAL, missing: ""}), missing
    assert "checkout.W001" not in ids(DEBUG=False, CHECKOUT=REAL)


def test_w001_not_raised_when_the_sandbox_stands_in():
    assert "checkout.W001" not in ids(
        DEBUG=True, CHECKOUT={"SITE_URL": "http://127.0.0.1:8000", "CALLBACK_SECRETS": ["s"]}
    )


def test_w002_plain_http_gateway_with_debug_off():
    http = {**REAL, "GATEWAY_URL": "http://gateway.example/payment/"}
    assert "checkout.W002" in ids(DEBUG=False, CHECKOUT=http)
    # Even with the sandbox allowed: an explicit URL is the real gateway.
    assert "checkout.W002" in ids(
        DEBUG=False, CHECKOUT={**http, "SANDBOX_ALLOWED": True, "SITE_URL": "http://x"}
    )
    assert "checkout.W002" not in ids(DEBUG=True, CHECKOUT=http)
    assert "checkout.W002" not in ids(DEBUG=False, CHECKOUT=REAL)


def test_w002_not_raised_for_the_local_sandbox():
    assert "checkout.W002" not in ids(
        DEBUG=False, CHECKOUT={"SANDBOX_ALLOWED": True, "SITE_URL": "http://127.0.0.1:8000"}
    )


def test_w003_no_callback_key():
    assert "checkout.W003" in ids(DEBUG=False, CHECKOUT={**REAL, "CALLBACK_SECRETS": []})
    assert "checkout.W003" in ids(DEBUG=False, CHECKOUT={**REAL, "CALLBACK_SECRETS": " , "})
    assert "checkout.W003" not in ids(DEBUG=False, CHECKOUT=REAL)
    assert "checkout.W003" not in ids(
        DEBUG=False,
        CHECKOUT={**REAL, "CALLBACK_SECRETS": [], "CALLBACK_PUBLIC_KEY": "-----BEGIN ..."},
    )


def test_w005_unusable_settings_become_a_warning_not_a_crash():
    assert ids(DEBUG=False, CHECKOUT={**REAL, "NOPE": 1}) == {"checkout.W005"}
    assert ids(DEBUG=True, CHECKOUT={}) == {"checkout.W005"}  # sandbox without SITE_URL


def test_registered_with_djangos_check_framework():
    with override_settings(DEBUG=False, CHECKOUT={**REAL, "CALLBACK_SECRETS": []}):
        found = {m.id for m in checks.run_checks(tags=[checks.Tags.security])}
    assert "checkout.W003" in found


def test_no_callback_key_is_w003_even_with_the_sandbox_installed():
    # An explicit gateway URL, so the sandbox offers no key of its own.
    keyless = {**REAL, "CALLBACK_SECRETS": [], "SANDBOX_ALLOWED": True, "SITE_URL": "http://x"}
    assert "checkout.W003" in ids(DEBUG=True, CHECKOUT=keyless)
    assert "checkout.W003" not in ids(DEBUG=True, CHECKOUT={**keyless, "CALLBACK_SECRETS": ["s"]})


def test_the_core_checks_know_nothing_of_the_sandbox():
    sandbox = {"SANDBOX_ALLOWED": True, "SITE_URL": "http://127.0.0.1:8000"}
    assert all(not i.startswith("checkout_sandbox.") for i in ids(DEBUG=False, CHECKOUT=sandbox))


def test_w007_charset_middleware_before_csrf(settings):
    charset = "checkout.middleware.FormCharsetMiddleware"
    csrf = "django.middleware.csrf.CsrfViewMiddleware"
    assert check_middleware() == []  # the demo's order
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != charset]
    assert [m.id for m in check_middleware()] == ["checkout.W007"]
    settings.MIDDLEWARE = [csrf, charset]
    assert [m.id for m in check_middleware()] == ["checkout.W007"]
    settings.MIDDLEWARE = [charset, csrf]
    assert check_middleware() == []


def test_w008_per_process_cache_for_the_limits_with_debug_off(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [m.id for m in check_limits_cache()] == ["checkout.W008"]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379",
        }
    }
    assert check_limits_cache() == []
    settings.DEBUG = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert check_limits_cache() == []


def test_w009_unusable_retention():
    def retention_ids(value) -> set[str]:
        with override_settings(CHECKOUT={**REAL, "RETENTION": value}):
            messages = check_retention()
        assert all(m.hint for m in messages)
        return {m.id for m in messages}

    assert retention_ids({"exchanges": -1}) == {"checkout.W009"}
    assert retention_ids({"exchange": 30}) == {"checkout.W009"}
    assert retention_ids({"personal_data": "730"}) == {"checkout.W009"}
    assert retention_ids([180]) == {"checkout.W009"}
    assert retention_ids({"exchanges": 30, "notifications": None, "personal_data": 0}) == set()
    with override_settings(CHECKOUT=REAL):
        assert check_retention() == []


def test_w011_behind_a_proxy_without_client_ip_header():
    proxy = ("HTTP_X_FORWARDED_PROTO", "https")
    with override_settings(SECURE_PROXY_SSL_HEADER=proxy, CHECKOUT={}):
        messages = check_client_ip_header()
    assert [m.id for m in messages] == ["checkout.W011"] and messages[0].hint
    header = {"CLIENT_IP_HEADER": "X-Forwarded-For"}
    with override_settings(SECURE_PROXY_SSL_HEADER=proxy, CHECKOUT=header):
        assert check_client_ip_header() == []
    with override_settings(SECURE_PROXY_SSL_HEADER=None, CHECKOUT={}):
        assert check_client_ip_header() == []


def test_w013_w014_api_entries_that_can_never_match():
    good = {
        "API_ALLOWED_ORIGINS": ["https://app.shop.example", "http://localhost:5173"],
        "API_RETURN_URLS": ["https://app.shop.example/done/", "/headless/"],
    }
    with override_settings(CHECKOUT=good):
        assert check_api_settings() == []
    bad = {
        "API_ALLOWED_ORIGINS": ["*", "app.shop.example", "https://app.shop.example/pay/"],
        "API_RETURN_URLS": ["done/", "ftp://files.example/", "https://user:pw@shop.example/"],
    }
    with override_settings(CHECKOUT=bad):
        messages = check_api_settings()
    assert [m.id for m in messages] == ["checkout.W013"] * 3 + ["checkout.W014"] * 3
    assert all(m.hint for m in messages)
    # The entry is named, so that it can be found.
    assert "'app.shop.example'" in messages[1].msg and "'done/'" in messages[3].msg
    # One comma-separated string, as the demo reads it from the environment.
    with override_settings(
        CHECKOUT={"API_ALLOWED_ORIGINS": "https://a.example, https://b.example"}
    ):
        assert check_api_settings() == []
