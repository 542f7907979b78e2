"""The sandbox's own system checks."""

from __future__ import annotations

from django.core import checks
from django.test import override_settings

from checkout.sandbox.checks import check_sandbox_not_in_production

SANDBOX = {"SANDBOX_ALLOWED": True, "SITE_URL": "http://127.0.0.1:8000"}
REAL = {"GATEWAY_URL": "https://gateway-test.jcc.com.cy/payment/", "USERNAME": "u"}


def ids(**overrides) -> set[str]:
    with override_settings(**overrides):
        return {m.id for m in check_sandbox_not_in_production()}


def test_active_with_debug_off_is_a_warning():
    assert ids(DEBUG=False, CHECKOUT=SANDBOX) == {"checkout_sandbox.W001"}
    assert ids(DEBUG=True, CHECKOUT=SANDBOX) == set()
    assert ids(DEBUG=False, CHECKOUT=REAL) == set()


def test_registered_with_djangos_check_framework():
    with override_settings(DEBUG=False, CHECKOUT=SANDBOX):
        found = {m.id for m in checks.run_checks(tags=[checks.Tags.security])}
    assert "checkout_sandbox.W001" in found
