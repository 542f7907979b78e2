"""The sandbox as the core's registered gateway: mounted, allowed, with SITE_URL set."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import include, path

from checkout.conf import checkout_settings
from checkout.sandbox import defaults as sandbox
from checkout.sandbox.conf import sandbox_active, sandbox_allowed, sandbox_mounted

# A URLconf without the sandbox (used through ROOT_URLCONF="tests.test_sandbox_conf").
urlpatterns = [path("checkout/", include("checkout.urls"))]

REAL = {
    "GATEWAY_URL": "https://gateway-test.jcc.com.cy/payment/",
    "USERNAME": "shop-api",
    "PASSWORD": "pw",
}


def test_sandbox_fallback_when_mounted_allowed_and_site_url_set():
    with override_settings(
        DEBUG=False, CHECKOUT={"SANDBOX_ALLOWED": True, "SITE_URL": "http://127.0.0.1:8000/"}
    ):
        assert sandbox_mounted() and sandbox_allowed() and sandbox_active()
        assert checkout_settings.gateway_provider is not None
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
        assert checkout_settings.gateway_provider is None
        assert checkout_settings.GATEWAY_URL == ""
        assert checkout_settings.USERNAME == ""
        assert checkout_settings.PASSWORD == ""
        assert checkout_settings.CALLBACK_SECRETS == []


def test_no_sandbox_when_not_mounted():
    with override_settings(
        DEBUG=True, ROOT_URLCONF="tests.test_sandbox_conf", CHECKOUT={"SITE_URL": "http://x"}
    ):
        assert not sandbox_mounted()
        assert checkout_settings.GATEWAY_URL == ""
    without = [app for app in settings.INSTALLED_APPS if app != "checkout.sandbox"]
    with override_settings(DEBUG=True, INSTALLED_APPS=without, CHECKOUT={"SITE_URL": "http://x"}):
        assert not sandbox_mounted()
        assert checkout_settings.GATEWAY_URL == ""


def test_explicit_gateway_disables_the_sandbox():
    with override_settings(DEBUG=True, CHECKOUT={**REAL, "SITE_URL": "http://127.0.0.1:8000"}):
        assert checkout_settings.gateway_provider is None
        assert REAL["GATEWAY_URL"] == checkout_settings.GATEWAY_URL
        assert checkout_settings.USERNAME == "shop-api"


def test_sandbox_needs_site_url():
    with (
        override_settings(DEBUG=True, CHECKOUT={}),
        pytest.raises(ImproperlyConfigured, match="SITE_URL"),
    ):
        checkout_settings.GATEWAY_URL
