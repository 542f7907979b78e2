"""The app's settings: one dict, ``settings.CHECKOUT``, merged over documented defaults.

Read settings only through ``checkout_settings`` (never at import time). The merged
view is cached and dropped whenever ``CHECKOUT``, ``DEBUG`` or the URLconf changes,
so ``override_settings`` works in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = [
    "CARDHOLDER_NAME_CHOICES",
    "DEFAULTS",
    "RETENTION_KEYS",
    "CheckoutSettings",
    "GatewayDefaults",
    "GatewayProvider",
    "checkout_settings",
    "merged_retention",
    "register_gateway_provider",
    "unregister_gateway_provider",
]

DEFAULTS: dict[str, Any] = {
    # Base URL of the gateway, ending in "/payment/": REST calls go to <base>rest/…,
    # the 3-D Secure redirect to <base>acsRedirect.do. Empty: a registered development
    # gateway (the bundled sandbox registers itself while it is active), else none.
    "GATEWAY_URL": "",
    # API user ("…-api") and password issued by JCC.
    "USERNAME": "",
    "PASSWORD": "",
    # Shared keys for symmetric (HMAC-SHA256) callback checksums. Several keys are
    # accepted at once so a key can be rotated without losing notifications.
    "CALLBACK_SECRETS": [],
    # PEM certificate or public key for asymmetric (RSA, SHA-512) callback checksums.
    "CALLBACK_PUBLIC_KEY": "",
    # PEM public key for seToken encryption. Empty: fetched from <base>se/keys.do.
    "SETOKEN_PUBLIC_KEY": "",
    # ISO 4217 alphabetic code of the shop's default currency.
    "CURRENCY": "EUR",
    # Two-phase payments: authorise (hold) first, capture later from the admin.
    "PREAUTH": False,
    # Seconds to wait for the TCP connection and for the answer of each gateway call.
    "TIMEOUTS": {"connect": 5, "read": 30},
    # How often a read-only status query retries a failed connection (with backoff).
    "STATUS_RETRIES": 2,
    # The shop's own origin (https://shop.example), used to build backUrl, failUrl and
    # callback URLs where there is no request, as in background jobs.
    "SITE_URL": "",
    # The shop's name as the shopper sees it on the card page ("" = the site's host name).
    "MERCHANT_NAME": "",
    # The shop's cart, linked from the card page ("Back to your cart"): a URL or a URL
    # name ("shop:cart"). "" = no link.
    "CART_URL": "",
    # The card schemes the shop accepts, shown as marks on the card page in this order
    # (keys of checkout.brands.BRANDS: visa, mastercard, maestro, amex, diners, discover,
    # jcb, unionpay).
    "CARD_BRANDS": ["visa", "mastercard", "diners"],
    # Whether the card page asks for the name on the card: "required" or "optional".
    "CARDHOLDER_NAME": "required",
    # Language sent to the gateway for an order whose language it does not offer.
    "LANGUAGE": "en",
    # The languages the gateway's own pages (3-D Secure, its messages) come in: an order's
    # language outside this list is sent as LANGUAGE.
    "GATEWAY_LANGUAGES": ["en", "el", "ru"],
    # Prefix of the gateway order numbers this shop generates (at most 30 characters
    # in all, so keep it short).
    "ORDER_NUMBER_PREFIX": "",
    # Seconds after which an order that was never paid expires.
    "ORDER_EXPIRY": 24 * 60 * 60,
    # Lifetime of a gateway order before it is declined with actionCode -2007.
    "SESSION_TIMEOUT": 20 * 60,
    # 3-D Secure hop: "redirect" (GET <base>acsRedirect.do) or "post" (auto-submitting
    # form to acsUrl with PaReq/MD/TermUrl).
    "THREEDS_METHOD": "redirect",
    # Allow the bundled sandbox gateway while DEBUG is off (it fakes a bank: tests only).
    # Read by checkout.sandbox; the core only warns about it (checkout_golive).
    "SANDBOX_ALLOWED": False,
    # Process callback notifications (and the follow-up queries of deferred ones) as tasks
    # of Django's tasks framework (django.tasks; the django-tasks package on Django 5.2),
    # on the backend of settings.TASKS. Off: in the request, as without a worker.
    "BACKGROUND_TASKS": False,
    # Confirm every card payment with getOrderStatusExtended.do, also an approval that the
    # instantPayment.do answer settles on its own (one more round trip per payment).
    "CONFIRM_CARD_PAYMENTS": False,
    # Payment attempts allowed per client address and per order within WINDOW seconds.
    "RATE_LIMITS": {"per_ip": 10, "per_order": 5, "window": 600},
    # Header with the client address set by a trusted reverse proxy ("" = REMOTE_ADDR).
    "CLIENT_IP_HEADER": "",
    # Holds older than this many seconds are reported by checkout_sync (the gateway
    # releases them after about seven days).
    "HOLD_WARNING_AGE": 6 * 24 * 60 * 60,
    # Seconds a payment stays claimed by one checkout_sync run.
    "SYNC_LEASE": 120,
    # At most one callback-triggered status query per payment in this many seconds; a
    # delivery inside the window is stored, answered 200 and settled by one follow-up
    # query at its end (or by checkout_sync). 0 queries for every delivery.
    "CALLBACK_QUERY_INTERVAL": 2,
    # Saved cards (JCC's stored credentials; JCC enables them per merchant):
    # enabled: the card page offers a known shopper to save a card and to pay with one;
    # ask_cvc: a payment with a saved card asks for its CVC (off only if JCC allows the
    # merchant payments without CVC); check_every: seconds between two comparisons of a
    # wallet with getBindings.do by checkout_sync (0: never).
    "SAVED_CARDS": {"enabled": False, "ask_cvc": True, "check_every": 24 * 60 * 60},
    # The JSON API for headless storefronts (docs/integrating/headless.md).
    # API_ALLOWED_ORIGINS: origins ("https://shop.example", scheme, host and port) whose
    # pages may call the API from the browser (CORS); none by default, so only pages of the
    # shop's own origin can. No cookies are ever allowed: the client secret authenticates.
    "API_ALLOWED_ORIGINS": [],
    # API_RETURN_URLS: where the shopper may be sent back after 3-D Secure, as the
    # return_url of a payment: absolute URL prefixes ("https://shop.example/checkout/"), or
    # paths ("/headless/") on the shop's own origin. A return_url matches an entry with the
    # same scheme, host and port whose path starts with the entry's path. Empty: none.
    "API_RETURN_URLS": [],
    # Seconds a client secret (checkout.api.issue_client_secret) stays valid; a payment
    # started with it extends it to SESSION_TIMEOUT (plus a margin) beyond that payment.
    "API_CLIENT_SECRET_LIFETIME": 60 * 60,
    # Days after which checkout_prune deletes gateway exchange rows and callback
    # notifications, and clears the shopper's personal data from orders (counted from the
    # order's creation). 0 or None keeps them for good. Missing keys keep their defaults.
    "RETENTION": {"exchanges": 180, "notifications": 180, "personal_data": 730},
}

#: The values of CARDHOLDER_NAME.
CARDHOLDER_NAME_CHOICES = ("required", "optional")

#: What RETENTION ages: gateway exchanges, callback notifications, shoppers' personal data.
RETENTION_KEYS = ("exchanges", "notifications", "personal_data")

REQUIRED_FOR_GATEWAY = ("GATEWAY_URL", "USERNAME", "PASSWORD")


@dataclass(frozen=True)
class GatewayDefaults:
    """A gateway offered by an installed app (a development one) when GATEWAY_URL is empty.

    Any credential the shop sets itself wins over the offered one.
    """

    url: str
    username: str
    password: str
    callback_secrets: tuple[str, ...] = ()
    #: Shown by the system checks ("the sandbox").
    name: str = ""
    #: A local development gateway: plain http is expected, not a misconfiguration.
    local: bool = True


#: Called, in registration order, each time the settings are resolved; the first to offer
#: a gateway is used. None means "not now" (not mounted, not allowed).
GatewayProvider = Callable[[], GatewayDefaults | None]

_providers: list[GatewayProvider] = []


def register_gateway_provider(provider: GatewayProvider) -> None:
    """Offer a development gateway for shops that configure none (see GatewayDefaults)."""
    if provider not in _providers:
        _providers.append(provider)
    checkout_settings.reload()


def unregister_gateway_provider(provider: GatewayProvider) -> None:
    if provider in _providers:
        _providers.remove(provider)
    checkout_settings.reload()


class CheckoutSettings:
    """Lazy, merged view of ``settings.CHECKOUT`` over ``DEFAULTS``."""

    @cached_property
    def _user(self) -> dict[str, Any]:
        value = getattr(settings, "CHECKOUT", {}) or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured("settings.CHECKOUT must be a dict.")
        unknown = set(value) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(f"Unknown CHECKOUT keys: {', '.join(sorted(unknown))}.")
        return value

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown checkout setting {name!r}.")
        if name in ("GATEWAY_URL", "USERNAME", "PASSWORD", "CALLBACK_SECRETS"):
            return self._resolved[name]
        value = self._user.get(name, DEFAULTS[name])
        if name == "TIMEOUTS":
            value = {**DEFAULTS["TIMEOUTS"], **value}
        elif name == "RATE_LIMITS":
            value = {**DEFAULTS["RATE_LIMITS"], **value}
        elif name == "SAVED_CARDS":
            value = {**DEFAULTS["SAVED_CARDS"], **value}
        elif name == "RETENTION":
            value = merged_retention(value)
        elif name in ("API_ALLOWED_ORIGINS", "API_RETURN_URLS"):
            if isinstance(value, str):
                value = value.split(",")
            value = [str(entry).strip() for entry in value if str(entry).strip()]
        elif name == "SITE_URL":
            value = str(value).rstrip("/")
        elif name == "CARDHOLDER_NAME":
            value = str(value).strip().lower()
            if value not in CARDHOLDER_NAME_CHOICES:
                raise ImproperlyConfigured(
                    "settings.CHECKOUT['CARDHOLDER_NAME'] must be "
                    f"{' or '.join(map(repr, CARDHOLDER_NAME_CHOICES))}, not {value!r}."
                )
        elif name == "CARD_BRANDS":
            if isinstance(value, str) or not all(isinstance(key, str) for key in value):
                raise ImproperlyConfigured(
                    "settings.CHECKOUT['CARD_BRANDS'] must be a list of brand names."
                )
            value = [key.strip().lower() for key in value]
        return value

    @cached_property
    def _resolved(self) -> dict[str, Any]:
        """Gateway location and credentials, falling back to a registered provider's."""
        user = self._user
        secrets = user.get("CALLBACK_SECRETS", [])
        if isinstance(secrets, str):
            secrets = secrets.split(",")
        # "a, b" from an environment variable must not turn into the key " b".
        secrets = [str(s).strip() for s in secrets if str(s).strip()]
        resolved: dict[str, Any] = {
            "GATEWAY_URL": user.get("GATEWAY_URL", ""),
            "USERNAME": user.get("USERNAME", ""),
            "PASSWORD": user.get("PASSWORD", ""),
            "CALLBACK_SECRETS": list(secrets),
            "provider": None,
        }
        offered = None if resolved["GATEWAY_URL"] else _offered_gateway()
        if offered is not None:
            resolved["GATEWAY_URL"] = offered.url
            resolved["USERNAME"] = resolved["USERNAME"] or offered.username
            resolved["PASSWORD"] = resolved["PASSWORD"] or offered.password
            resolved["CALLBACK_SECRETS"] = resolved["CALLBACK_SECRETS"] or list(
                offered.callback_secrets
            )
            resolved["provider"] = offered
        url = resolved["GATEWAY_URL"]
        if url and not url.endswith("/"):
            resolved["GATEWAY_URL"] = url + "/"
        return resolved

    @property
    def gateway_provider(self) -> GatewayDefaults | None:
        """The registered gateway in use, when the shop configured no GATEWAY_URL."""
        provider: GatewayDefaults | None = self._resolved["provider"]
        return provider

    def require(self, *names: str) -> None:
        """Raise ImproperlyConfigured naming the first missing required key."""
        for name in names:
            if not getattr(self, name):
                raise ImproperlyConfigured(
                    f"settings.CHECKOUT[{name!r}] is required to talk to the gateway."
                )

    def reload(self) -> None:
        for attr in ("_user", "_resolved"):
            self.__dict__.pop(attr, None)


def merged_retention(value: Any) -> dict[str, int | None]:
    """RETENTION merged over its defaults: whole days, None (0 too) keeping for good."""
    if not isinstance(value, dict):
        raise ImproperlyConfigured("settings.CHECKOUT['RETENTION'] must be a dict of days.")
    unknown = set(value) - set(RETENTION_KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown CHECKOUT['RETENTION'] keys: {', '.join(sorted(map(str, unknown)))}; "
            f"expected {', '.join(RETENTION_KEYS)}."
        )
    merged: dict[str, int | None] = {}
    for key in RETENTION_KEYS:
        days = value.get(key, DEFAULTS["RETENTION"][key])
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
            raise ImproperlyConfigured(
                f"settings.CHECKOUT['RETENTION'][{key!r}] must be a whole number of days "
                f"(0 or None: keep for good), not {days!r}."
            )
        merged[key] = days or None
    return merged


def _offered_gateway() -> GatewayDefaults | None:
    for provider in list(_providers):
        offered = provider()
        if offered is not None:
            return offered
    return None


checkout_settings = CheckoutSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CHECKOUT", "DEBUG", "ROOT_URLCONF", "INSTALLED_APPS"):
        checkout_settings.reload()


setting_changed.connect(_reload)
