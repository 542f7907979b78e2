"""System checks. Warnings (migrate and CI run without JCC credentials), except the one that
keeps card data out of error reports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from checkout import cardpage, tasks
from checkout.conf import checkout_settings, merged_retention
from checkout.reporting import CardDataExceptionReporterFilter

__all__ = [
    "CHARSET_MIDDLEWARE",
    "CSRF_MIDDLEWARE",
    "SECURITY_HEADERS_MIDDLEWARE",
    "charset_middleware_in_place",
    "check_api_settings",
    "check_background_tasks",
    "check_card_page",
    "check_client_ip_header",
    "check_exception_reporter_filter",
    "check_gateway_settings",
    "check_limits_cache",
    "check_middleware",
    "check_retention",
    "per_process_cache",
    "security_headers_installed",
]


@checks.register(checks.Tags.security, "checkout")
def check_gateway_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    try:
        url = checkout_settings.GATEWAY_URL
        username, password = checkout_settings.USERNAME, checkout_settings.PASSWORD
        secrets = checkout_settings.CALLBACK_SECRETS
    except ImproperlyConfigured as err:
        return [
            checks.Warning(
                str(err),
                hint="Fix settings.CHECKOUT; the keys are documented in checkout/conf.py.",
                id="checkout.W005",
            )
        ]
    if not (url and username and password):
        messages.append(
            checks.Warning(
                "The JCC gateway is not configured: payments cannot be taken.",
                hint="Set CHECKOUT['GATEWAY_URL'], ['USERNAME'] and ['PASSWORD'] "
                "(JCC_GATEWAY_URL, JCC_USERNAME, JCC_PASSWORD in the demo), "
                "or install and mount checkout.sandbox with DEBUG on.",
                id="checkout.W001",
            )
        )
    # An explicit URL is checked even when a development gateway is installed; only that
    # gateway's own (local) URL may be plain http.
    provider = checkout_settings.gateway_provider
    local = provider is not None and provider.local
    if url and not url.startswith("https://") and not settings.DEBUG and not local:
        messages.append(
            checks.Warning(
                "The gateway URL is not https while DEBUG is off.",
                hint="Use https://gateway.jcc.com.cy/payment/ or the test host.",
                id="checkout.W002",
            )
        )
    if not secrets and not checkout_settings.CALLBACK_PUBLIC_KEY:
        messages.append(
            checks.Warning(
                "No callback key is configured: callback notifications will be refused.",
                hint="Set CHECKOUT['CALLBACK_SECRETS'] (JCC_CALLBACK_SECRET) or "
                "CHECKOUT['CALLBACK_PUBLIC_KEY'] (JCC_CALLBACK_PUBLIC_KEY).",
                id="checkout.W003",
            )
        )
    return messages


CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"
CHARSET_MIDDLEWARE = "checkout.middleware.FormCharsetMiddleware"
SECURITY_HEADERS_MIDDLEWARE = "checkout.middleware.SecurityHeadersMiddleware"
#: Cache backends that keep their data in one server process.
_PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)

# The conditions below are shared with the going-live check (checkout.golive).


def _middleware() -> list[str]:
    return [str(name) for name in getattr(settings, "MIDDLEWARE", None) or []]


def charset_middleware_in_place() -> bool:
    """FormCharsetMiddleware runs before CsrfViewMiddleware (or there is no CSRF check)."""
    middleware = _middleware()
    if CSRF_MIDDLEWARE not in middleware:
        return True
    return CHARSET_MIDDLEWARE in middleware and middleware.index(
        CHARSET_MIDDLEWARE
    ) < middleware.index(CSRF_MIDDLEWARE)


def security_headers_installed() -> bool:
    """SecurityHeadersMiddleware is in MIDDLEWARE."""
    return SECURITY_HEADERS_MIDDLEWARE in _middleware()


def per_process_cache() -> str:
    """The default cache's backend if it keeps its data in one server process, else ""."""
    default = getattr(settings, "CACHES", {}).get("default", {})
    backend = str(default.get("BACKEND", ""))
    return backend if backend in _PER_PROCESS_CACHES else ""


@checks.register(checks.Tags.security, "checkout")
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if charset_middleware_in_place():
        return []
    return [
        checks.Warning(
            "FormCharsetMiddleware is not installed before CsrfViewMiddleware: a form body "
            "in another charset than UTF-8 makes Django answer with a server error.",
            hint=f"Add {CHARSET_MIDDLEWARE!r} to MIDDLEWARE before {CSRF_MIDDLEWARE!r}.",
            id="checkout.W007",
        )
    ]


@checks.register(checks.Tags.security, "checkout")
def check_limits_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG or not per_process_cache():
        return []
    return [
        checks.Warning(
            "The cache that counts payment attempts is per process: with several server "
            "processes or hosts, each counts on its own and the card-testing limits let "
            "that many times more attempts through.",
            hint="Use a shared cache for CACHES['default'] (Redis, e.g. "
            "django.core.cache.backends.redis.RedisCache; CACHE_URL=redis://… in the demo).",
            id="checkout.W008",
        )
    ]


@checks.register(checks.Tags.security, "checkout")
def check_client_ip_header(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if checkout_settings.CLIENT_IP_HEADER or not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return []
    return [
        checks.Warning(
            "SECURE_PROXY_SSL_HEADER says a proxy stands in front of the shop, but "
            "CHECKOUT['CLIENT_IP_HEADER'] is empty: every shopper has the proxy's address, "
            "so they all share one payment attempt limit and the gateway is told the "
            "proxy's address.",
            hint="Set CHECKOUT['CLIENT_IP_HEADER'] to the header the proxy sets with the "
            'client address, e.g. "X-Forwarded-For" (CLIENT_IP_HEADER in the demo), only if '
            "every request passes through that proxy.",
            id="checkout.W011",
        )
    ]


_REPORTER_FILTER = "checkout.reporting.CardDataExceptionReporterFilter"


@checks.register(checks.Tags.security, "checkout")
def check_exception_reporter_filter(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    configured = str(getattr(settings, "DEFAULT_EXCEPTION_REPORTER_FILTER", ""))
    try:
        reporter_filter = import_string(configured)
    except ImportError:
        reporter_filter = None
    if isinstance(reporter_filter, type) and issubclass(
        reporter_filter, CardDataExceptionReporterFilter
    ):
        return []
    return [
        checks.Error(
            "Error reports can contain card numbers and CVCs: DEFAULT_EXCEPTION_REPORTER_FILTER "
            f"is {configured!r}, which does not hide card data in requests rejected before "
            "the card view runs (a wrong Host, a CSRF failure) or in other views.",
            hint=f"Set DEFAULT_EXCEPTION_REPORTER_FILTER = {_REPORTER_FILTER!r} (or a "
            "subclass of it).",
            id="checkout.E001",
        )
    ]


@checks.register("checkout")
def check_retention(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    # Read on its own: an unknown key elsewhere in CHECKOUT is checkout.W005's.
    user = getattr(settings, "CHECKOUT", None) or {}
    if not isinstance(user, dict) or "RETENTION" not in user:
        return []
    try:
        merged_retention(user["RETENTION"])
    except ImproperlyConfigured as err:
        return [
            checks.Warning(
                str(err),
                hint="checkout_prune refuses to run until CHECKOUT['RETENTION'] is fixed; "
                "see the settings page of the documentation.",
                id="checkout.W009",
            )
        ]
    return []


@checks.register("checkout")
def check_card_page(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """CARDHOLDER_NAME, CARD_BRANDS and CART_URL, which the card page needs to render."""
    try:
        str(checkout_settings.MERCHANT_NAME)
    except ImproperlyConfigured:
        return []  # CHECKOUT itself cannot be used: checkout.W005 says why.
    messages: list[checks.CheckMessage] = []
    for name, read in (
        ("CARDHOLDER_NAME", lambda: checkout_settings.CARDHOLDER_NAME),
        ("CARD_BRANDS", cardpage.accepted_brands),
        ("CART_URL", cardpage.cart_url),
    ):
        try:
            read()
        except ImproperlyConfigured as err:
            messages.append(
                checks.Warning(
                    str(err),
                    hint=f"Fix CHECKOUT[{name!r}]: the card page cannot be shown until then; "
                    "see the settings page of the documentation.",
                    id="checkout.W012",
                )
            )
    return messages


@checks.register("checkout")
def check_background_tasks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not checkout_settings.BACKGROUND_TASKS or tasks.background_enabled():
        return []
    return [
        checks.Warning(
            "BACKGROUND_TASKS is on but no tasks framework is installed: callbacks are "
            "processed in the request.",
            hint="On Django 5.2, pip install django-tasks (django-jcc-checkout[tasks]); "
            "Django 6 has django.tasks built in.",
            id="checkout.W010",
        )
    ]


@checks.register(checks.Tags.security, "checkout")
def check_api_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Entries of API_ALLOWED_ORIGINS and API_RETURN_URLS that can never match anything."""
    from checkout.api.origins import normalise_origin, usable_return_entry

    messages: list[checks.CheckMessage] = []
    try:
        origins = list(checkout_settings.API_ALLOWED_ORIGINS)
        returns = list(checkout_settings.API_RETURN_URLS)
    except (ImproperlyConfigured, TypeError):
        return []  # reported by check_gateway_settings (checkout.W005)
    for entry in origins:
        if normalise_origin(entry) is None:
            messages.append(
                checks.Warning(
                    f"CHECKOUT['API_ALLOWED_ORIGINS'] entry {entry!r} is not an origin: it is "
                    "ignored, and pages of that site cannot call the API.",
                    hint='An origin is scheme, host and port, e.g. "https://app.shop.example"; '
                    "every origin is listed, there is no wildcard.",
                    id="checkout.W013",
                )
            )
    for entry in returns:
        if not usable_return_entry(entry):
            messages.append(
                checks.Warning(
                    f"CHECKOUT['API_RETURN_URLS'] entry {entry!r} is neither an http(s) URL "
                    "nor a path: it is ignored, and no return_url matches it.",
                    hint='Use an absolute URL prefix ("https://app.shop.example/done/") or a '
                    'path on the shop\'s own origin ("/done/").',
                    id="checkout.W014",
                )
            )
    return messages
