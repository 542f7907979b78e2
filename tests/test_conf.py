"""checkout_settings: defaults, lazy merge, override_settings, sandbox fallback."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import include, path

from checkout.conf import (
    DEFAULTS,
    checkout_settings,
    sandbox_active,
    sandbox_allowed,
    sandbox_mounted,
)
from checkout.sandbox import defaults as sandbox

# A URLconf without the sandbox (used through ROOT_URLCONF="tests.test_conf").
urlpatterns = [path("checkout/", include("checkout.urls"))]

REAL = {
    "GATEWAY_URL": "https://gateway-test.jcc.com.cy/payment/",
    "USERNAME": "shop-api",
    "PASSWORD": "pw",
}


def test_every_default_is_readable():
    with override_settings(CHECKOUT={}, DEBUG=False):
        for name, default in DEFAULTS.items():
            value = getattr(checkout_settings, name)
            if name not in ("GATEWAY_URL", "USERNAME", "PASSWORD", "CALLBACK_SECRETS"):
                assert value == default, name


def test_documented_defaults():
    with override_settings(CHECKOUT={}, DEBUG=False):
        assert checkout_settings.CURRENCY == "EUR"
        assert checkout_settings.PREAUTH is False
        assert checkout_settings.TIMEOUTS == {"connect": 5, "read": 30}
        assert checkout_settings.STATUS_RETRIES == 2
        assert checkout_settings.GATEWAY_URL == ""
        assert checkout_settings.CALLBACK_SECRETS == []
        assert checkout_settings.using_sandbox is False


def test_missing_checkout_setting_means_defaults(settings):
    del settings.CHECKOUT
    settings.DEBUG = False
    assert checkout_settings.CURRENCY == "EUR"
    assert checkout_settings.USERNAME == ""


def test_override_settings_is_seen_and_undone():
    with override_settings(CHECKOUT={**REAL, "CURRENCY": "USD", "PREAUTH": True}):
        assert checkout_settings.CURRENCY == "USD"
        assert checkout_settings.PREAUTH is True
        assert checkout_settings.USERNAME == "shop-api"
        with override_settings(CHECKOUT={**REAL, "USERNAME": "inner-api"}):
            assert checkout_settings.USERNAME == "inner-api"
            assert checkout_settings.CURRENCY == "EUR"
        assert checkout_settings.USERNAME == "shop-api"
    assert checkout_settings.CURRENCY == "EUR"
    assert checkout_settings.using_sandbox is True


def test_pytest_settings_fixture_is_seen(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "LANGUAGE": "el"}
    assert checkout_settings.LANGUAGE == "el"


def test_nested_dicts_merge_over_their_defaults():
    with override_settings(CHECKOUT={"TIMEOUTS": {"read": 10}, "RATE_LIMITS": {"per_ip": 3}}):
        assert checkout_settings.TIMEOUTS == {"connect": 5, "read": 10}
        assert checkout_settings.RATE_LIMITS == {"per_ip": 3, "per_order": 5, "window": 600}


def test_urls_are_normalised():
    with override_settings(
        CHECKOUT={**REAL, "GATEWAY_URL": "https://gw.example/payment", "SITE_URL": "https://shop/"}
    ):
        assert checkout_settings.GATEWAY_URL == "https://gw.example/payment/"
        assert checkout_settings.SITE_URL == "https://shop"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("k1,k2", ["k1", "k2"]),
        (" k1 , k2 ,", ["k1", "k2"]),
        (["k1", " k2", ""], ["k1", "k2"]),
        ([], []),
    ],
)
def test_callback_secrets_accept_a_list_or_comma_separated_text(value, expected):
    with override_settings(CHECKOUT={**REAL, "CALLBACK_SECRETS": value}):
        assert expected == checkout_settings.CALLBACK_SECRETS


def test_unknown_keys_are_refused_by_name():
    with (
        override_settings(CHECKOUT={"GATEWAY_URL": "", "TIMEOUT": 3, "CURENCY": "EUR"}),
        pytest.raises(ImproperlyConfigured, match="CURENCY, TIMEOUT"),
    ):
        checkout_settings.CURRENCY


def test_checkout_must_be_a_dict():
    with (
        override_settings(CHECKOUT=["GATEWAY_URL"]),
        pytest.raises(ImproperlyConfigured, match="must be a dict"),
    ):
        checkout_settings.CURRENCY


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        checkout_settings.NOT_A_SETTING


def test_require_names_the_missing_key():
    with override_settings(CHECKOUT={**REAL, "PASSWORD": ""}, DEBUG=False):
        with pytest.raises(ImproperlyConfigured, match="'PASSWORD'"):
            checkout_settings.require("GATEWAY_URL", "USERNAME", "PASSWORD")
        checkout_settings.require("GATEWAY_URL", "USERNAME")


# --- the bundled sandbox as fallback ------------------------------------------------------


def test_sandbox_fallback_when_mounted_allowed_and_site_url_set():
    with override_settings(
        DEBUG=False, CHECKOUT={"SANDBOX_ALLOWED": True, "SITE_URL": "http://127.0.0.1:8000/"}
    ):
        assert sandbox_mounted() and sandbox_allowed() and sandbox_active()
        assert checkout_settings.using_sandbox is True
        assert checkout_settings.GATEWAY_URL == "http://127.0.0.1:8000/sandbox/payment/"
        assert checkout_settings.USERNAME == sandbox.MERCHANT_LOGIN
        assert checkout_settings.PASSWORD == sandbox.MERCHANT_PASSWORD
        assert checkout_settings.CALLBACK_SECRETS == [sandbox.CALLBACK_SECRET]


def test_sandbox_is_allowed_by_debug_alone():
    with override_settings(DEBUG=True, CHECKOUT={"SITE_URL": "http://127.0.0.1:8000"}):
        assert checkout_settings.GATEWAY_URL == "http://127.0.0.1:8000/sandbox/payment/"


def test_own_credentials_win_over_the_sandbox_merchant():
    with override_settings(
        DEBUG=True,
        CHECKOUT={
            "SITE_URL": "http://127.0.0.1:8000",
            "USERNAME": "me",
            "CALLBACK_SECRETS": ["mine"],
        },
    ):
        assert checkout_settings.USERNAME == "me"
        assert checkout_settings.PASSWORD == sandbox.MERCHANT_PASSWORD
        assert checkout_settings.CALLBACK_SECRETS == ["mine"]


def test_no_sandbox_with_debug_off_and_not_allowed():
    with override_settings(DEBUG=False, CHECKOUT={"SITE_URL": "http://127.0.0.1:8000"}):
        assert not sandbox_allowed() and not sandbox_active()
        assert checkout_settings.using_sandbox is False
        assert checkout_settings.GATEWAY_URL == ""
        assert checkout_settings.USERNAME == ""
        assert checkout_settings.PASSWORD == ""
        assert checkout_settings.CALLBACK_SECRETS == []


def test_no_sandbox_when_not_mounted():
    with override_settings(
        DEBUG=True, ROOT_URLCONF="tests.test_conf", CHECKOUT={"SITE_URL": "http://x"}
    ):
        assert not sandbox_mounted()
        assert checkout_settings.GATEWAY_URL == ""
    without = [app for app in settings.INSTALLED_APPS if app != "checkout.sandbox"]
    with override_settings(DEBUG=True, INSTALLED_APPS=without, CHECKOUT={"SITE_URL": "http://x"}):
        assert not sandbox_mounted()
        assert checkout_settings.GATEWAY_URL == ""


def test_explicit_gateway_disables_the_sandbox():
    with override_settings(DEBUG=True, CHECKOUT={**REAL, "SITE_URL": "http://127.0.0.1:8000"}):
        assert checkout_settings.using_sandbox is False
        assert REAL["GATEWAY_URL"] == checkout_settings.GATEWAY_URL
        assert checkout_settings.USERNAME == "shop-api"


def test_sandbox_needs_site_url():
    with (
        override_settings(DEBUG=True, CHECKOUT={}),
        pytest.raises(ImproperlyConfigured, match="SITE_URL"),
    ):
        checkout_settings.GATEWAY_URL
