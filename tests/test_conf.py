"""checkout_settings: defaults, lazy merge, override_settings, registered gateways."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from checkout.conf import (
    DEFAULTS,
    GatewayDefaults,
    checkout_settings,
    register_gateway_provider,
    unregister_gateway_provider,
)

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
        assert checkout_settings.gateway_provider is None


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


# --- a registered development gateway -------------------------------------------------------

OFFERED = GatewayDefaults(
    url="http://127.0.0.1:8100/payment",
    username="dev-api",
    password="dev-pw",
    callback_secrets=("dev-secret",),
    name="a development gateway",
)


@pytest.fixture
def offered():
    """A registered provider offering OFFERED while ``state["on"]`` is true."""
    state = {"on": True, "calls": 0}

    def provider():
        state["calls"] += 1
        return OFFERED if state["on"] else None

    register_gateway_provider(provider)
    yield state
    unregister_gateway_provider(provider)


def test_a_registered_gateway_fills_what_the_shop_left_empty(offered):
    with override_settings(DEBUG=False, CHECKOUT={"USERNAME": "mine"}):
        assert checkout_settings.GATEWAY_URL == "http://127.0.0.1:8100/payment/"
        assert checkout_settings.USERNAME == "mine"
        assert checkout_settings.PASSWORD == "dev-pw"
        assert checkout_settings.CALLBACK_SECRETS == ["dev-secret"]
        assert checkout_settings.gateway_provider == OFFERED


def test_the_registered_gateway_is_asked_lazily_and_again_after_a_change(offered):
    with override_settings(CHECKOUT={}):
        calls = offered["calls"]
        assert checkout_settings.GATEWAY_URL == "http://127.0.0.1:8100/payment/"
        checkout_settings.PASSWORD  # cached: not asked again
        assert offered["calls"] == calls + 1
        offered["on"] = False
        with override_settings(CHECKOUT={"LANGUAGE": "el"}):
            assert checkout_settings.GATEWAY_URL == ""
            assert checkout_settings.gateway_provider is None


def test_an_explicit_gateway_is_never_replaced(offered):
    with override_settings(CHECKOUT=REAL):
        assert REAL["GATEWAY_URL"] == checkout_settings.GATEWAY_URL
        assert checkout_settings.CALLBACK_SECRETS == []
        assert checkout_settings.gateway_provider is None
