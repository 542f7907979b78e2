"""The sandbox's own settings: ``settings.CHECKOUT_SANDBOX`` merged over documented defaults.

Read lazily through ``sandbox_settings`` and dropped on ``setting_changed`` so that
``override_settings`` works in tests.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.urls import NoReverseMatch, reverse

from checkout.conf import GatewayDefaults, checkout_settings
from checkout.sandbox import defaults

__all__ = [
    "DEFAULTS",
    "gateway_defaults",
    "sandbox_active",
    "sandbox_allowed",
    "sandbox_base_url",
    "sandbox_mounted",
    "sandbox_settings",
]

DEFAULTS: dict[str, Any] = {
    # How callbacks leave the persisted outbox: "thread" (a background thread of each
    # server process polls the outbox), "sync" (sent right after the operation commits,
    # inside the gateway request: handy in tests) or "off" (recorded, never sent).
    "CALLBACK_DELIVERY": "thread",
    # Seconds between two tries of a callback the merchant did not answer with HTTP 200.
    "CALLBACK_RETRY_INTERVAL": 30,
    # Tries in all before a callback is given up (the real gateway: 3 consecutive failures).
    "CALLBACK_ATTEMPTS": 3,
    # Seconds the sandbox waits for the merchant's callback endpoint to answer.
    "CALLBACK_TIMEOUT": 10,
    # Seconds a "delay" callback fault holds a callback back, and a "reorder" fault holds
    # one back unless a later callback of the same order overtakes it first.
    "CALLBACK_DELAY": 10,
    # Seconds the delivery thread sleeps when the outbox has nothing due.
    "POLL_INTERVAL": 1.0,
    # Seconds the "latency" fault waits before the operation is carried out, and the
    # "latency_after" fault after it, before the answer.
    "FAULT_LATENCY": 3.0,
    # Largest distance in seconds between a seToken's timestamp and the sandbox's clock.
    "SETOKEN_MAX_AGE": 30 * 60,
    # Size of the RSA key generated once for seToken and asymmetric callback checksums.
    "KEY_BITS": 2048,
    # Days the generated key is announced as valid by se/keys.do (a new one is made then).
    "KEY_LIFETIME_DAYS": 365,
    # Default lifetime of an unpaid order when the request has no sessionTimeoutSecs.
    "SESSION_TIMEOUT": 20 * 60,
    # Simulated wide-area network (checkout.sandbox.wan), for benchmarks: seconds of one
    # round trip between the shop and the gateway. Every REST request waits one round trip
    # (half before it is processed, half before its answer); 0 answers at once.
    "ROUND_TRIP": 0.0,
    # Round trips the first REST request on a new connection waits on top (the TCP and
    # TLS handshakes of a client's new connection to an https gateway).
    "NEW_CONNECTION_ROUND_TRIPS": 2,
}

DELIVERY_MODES = ("thread", "sync", "off")


class SandboxSettings:
    """Lazy, merged view of ``settings.CHECKOUT_SANDBOX`` over ``DEFAULTS``."""

    @cached_property
    def _merged(self) -> dict[str, Any]:
        user = getattr(settings, "CHECKOUT_SANDBOX", {}) or {}
        if not isinstance(user, dict):
            raise ImproperlyConfigured("settings.CHECKOUT_SANDBOX must be a dict.")
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(
                f"Unknown CHECKOUT_SANDBOX keys: {', '.join(sorted(unknown))}."
            )
        merged = {**DEFAULTS, **user}
        if merged["CALLBACK_DELIVERY"] not in DELIVERY_MODES:
            raise ImproperlyConfigured(
                "settings.CHECKOUT_SANDBOX['CALLBACK_DELIVERY'] must be one of "
                + ", ".join(DELIVERY_MODES)
                + "."
            )
        for key in ("ROUND_TRIP", "NEW_CONNECTION_ROUND_TRIPS"):
            value = merged[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ImproperlyConfigured(
                    f"settings.CHECKOUT_SANDBOX[{key!r}] must be a number of at least 0."
                )
        if not isinstance(merged["NEW_CONNECTION_ROUND_TRIPS"], int):
            raise ImproperlyConfigured(
                "settings.CHECKOUT_SANDBOX['NEW_CONNECTION_ROUND_TRIPS'] must be a whole number."
            )
        return merged

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown sandbox setting {name!r}.")
        return self._merged[name]

    def reload(self) -> None:
        self.__dict__.pop("_merged", None)


sandbox_settings = SandboxSettings()


def sandbox_allowed() -> bool:
    """The sandbox fakes a bank: only with DEBUG on or an explicit opt-in."""
    return bool(settings.DEBUG or checkout_settings.SANDBOX_ALLOWED)


def sandbox_mounted() -> bool:
    if "checkout.sandbox" not in settings.INSTALLED_APPS:
        return False
    try:
        reverse("checkout_sandbox:index")
    except NoReverseMatch:
        return False
    return True


def sandbox_active() -> bool:
    """Mounted in the URLconf and allowed by the settings."""
    return sandbox_allowed() and sandbox_mounted()


def sandbox_base_url() -> str:
    """Absolute base URL of the mounted sandbox, the equivalent of ".../payment/"."""
    site = str(checkout_settings.SITE_URL)
    if not site:
        raise ImproperlyConfigured(
            "settings.CHECKOUT['SITE_URL'] is required to reach the bundled sandbox gateway."
        )
    return site + reverse("checkout_sandbox:index")


def gateway_defaults() -> GatewayDefaults | None:
    """The sandbox's merchant, offered to the core while the sandbox is active.

    Registered from the app's ready(); the core calls it each time its settings are
    resolved, so a changed SITE_URL or URLconf (tests, live servers) is followed.
    """
    if not sandbox_active():
        return None
    return GatewayDefaults(
        url=sandbox_base_url(),
        username=defaults.MERCHANT_LOGIN,
        password=defaults.MERCHANT_PASSWORD,
        callback_secrets=(defaults.CALLBACK_SECRET,),
        name="the bundled sandbox",
        local=True,
    )


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "CHECKOUT_SANDBOX":
        sandbox_settings.reload()


setting_changed.connect(_reload)
