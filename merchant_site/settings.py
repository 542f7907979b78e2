"""Settings of the demo shop. Everything comes from the environment (or a .env file)."""

from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file. ENV_FILE names another file (or
# one that does not exist, to read none), so that a run can be told exactly what it gets.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

HOST = env.str("HOST", default="127.0.0.1")
PORT = env.int("PORT", default=8000)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="demo-only-secret-key-change-me" if DEBUG else None)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    # The proxy terminates TLS and says so in this header; without it the absolute URLs
    # sent to the gateway (backUrl, failUrl) would be http://.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# HTTPS only. Behind a TLS proxy each of these defaults to on; each can be set on its own
# (docs/operating/going-live.md#production-settings explains them).
# A year of HSTS for the shop's own host: a shop that takes cards never goes back to plain
# http there. Subdomains and preloading reach beyond the shop: the shop decides them.
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=365 * 24 * 60 * 60 if BEHIND_TLS_PROXY else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=BEHIND_TLS_PROXY)
# Paths (regular expressions without the leading "/") answered over plain http too, such
# as a health check the proxy makes to the server directly: "^healthz$".
SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[])
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=BEHIND_TLS_PROXY)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=BEHIND_TLS_PROXY)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "checkout",
    "checkout.sandbox",
    "merchant_site.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The shopper's language: the switch's cookie, else Accept-Language, else LANGUAGE_CODE.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # 400 for form bodies in another charset than UTF-8, before anything reads them.
    "checkout.middleware.FormCharsetMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # CSP, Referrer-Policy and no-store on the card pages.
    "checkout.middleware.SecurityHeadersMiddleware",
    # The cart is emptied on the first page after its order is paid.
    "merchant_site.shop.middleware.PaidCartMiddleware",
]

ROOT_URLCONF = "merchant_site.urls"
WSGI_APPLICATION = "merchant_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(variable: str = "DATABASE_URL") -> dict[str, Any]:
    config: dict[str, Any] = env.db(variable, default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    # Each server thread keeps its connection between requests instead of opening one per
    # request (on PostgreSQL a new backend process, authentication and set-up queries each
    # time); one that broke meanwhile is noticed before a request uses it.
    config.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=600))
    config.setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside one writer; IMMEDIATE makes concurrent writers
        # wait for the lock instead of failing with "database is locked".
        config.setdefault("OPTIONS", {}).update(
            {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            }
        )
    return config


DATABASES = {"default": _database()}
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Keys of this site only, when several share one cache server.
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en"
# The languages of the shop's pages (and of the catalogues in the repository).
LANGUAGES = [("en", "English"), ("el", "Ελληνικά")]
# The demo's own catalogue (its templates/ and merchant_site/); the apps bring theirs.
LOCALE_PATHS = [BASE_DIR / "merchant_site" / "locale"]
TIME_ZONE = "Asia/Nicosia"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
ADMINS = [("Shop admin", env.str("ADMIN_EMAIL", default="admin@shop.example"))]
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# The sender of the receipts the demo mails (merchant_site/shop/signals.py).
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Limassol Larder <orders@shop.example>")
# The receipt is mailed by a thread of the process that learnt of the payment, after the
# shopper's page (or the gateway's callback) is answered; off: inside that request.
SHOP_RECEIPTS_IN_BACKGROUND = env.bool("SHOP_RECEIPTS_IN_BACKGROUND", default=True)


def _pem(name: str) -> str:
    """A PEM given either as its text or as the path of a file holding it."""
    value = env.str(name, default="").strip()
    if value and not value.startswith("-----BEGIN"):
        value = Path(value).read_text()
    return str(value)


# Shopper accounts: Django's own sign-in form at /accounts/login/.
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

CHECKOUT = {
    "GATEWAY_URL": env.str("JCC_GATEWAY_URL", default=""),
    "USERNAME": env.str("JCC_USERNAME", default=""),
    "PASSWORD": env.str("JCC_PASSWORD", default=""),
    "CALLBACK_SECRETS": env.list("JCC_CALLBACK_SECRET", default=[]),
    "CALLBACK_PUBLIC_KEY": _pem("JCC_CALLBACK_PUBLIC_KEY"),
    "SETOKEN_PUBLIC_KEY": _pem("JCC_SETOKEN_PUBLIC_KEY"),
    "CURRENCY": env.str("JCC_CURRENCY", default="EUR"),
    "PREAUTH": env.bool("JCC_PREAUTH", default=False),
    "SITE_URL": env.str("SITE_URL", default=f"http://{HOST}:{PORT}"),
    "MERCHANT_NAME": env.str("MERCHANT_NAME", default="Limassol Larder"),
    # "Back to your cart" on the card page.
    "CART_URL": "shop:cart",
    "CLIENT_IP_HEADER": env.str("CLIENT_IP_HEADER", default=""),
    # Signed-in shoppers save cards and pay with them (JCC enables stored credentials).
    "SAVED_CARDS": {"enabled": env.bool("JCC_SAVED_CARDS", default=True)},
    # The headless checkout at /headless/ takes the shopper back there after 3-D Secure.
    "API_RETURN_URLS": ["/headless/"],
    # Pages of other origins allowed to call the checkout's JSON API (none in the demo).
    "API_ALLOWED_ORIGINS": env.list("CHECKOUT_API_ALLOWED_ORIGINS", default=[]),
    # The bundled sandbox with DEBUG off: only for benchmarks of a production-like server.
    "SANDBOX_ALLOWED": env.bool("SANDBOX_ALLOWED", default=False),
}

# Error reports (mail to ADMINS, the debug page) never show card data, whatever failed.
DEFAULT_EXCEPTION_REPORTER_FILTER = "checkout.reporting.CardDataExceptionReporterFilter"

# The sandbox gateway's own settings (docs/sandbox.md), those a run may set from outside:
# the simulated network of benchmarks and how callbacks leave its outbox.
CHECKOUT_SANDBOX: dict[str, Any] = {}
if env.str("CHECKOUT_SANDBOX_ROUND_TRIP", default=""):
    CHECKOUT_SANDBOX["ROUND_TRIP"] = env.float("CHECKOUT_SANDBOX_ROUND_TRIP")
if env.str("CHECKOUT_SANDBOX_NEW_CONNECTION_ROUND_TRIPS", default=""):
    CHECKOUT_SANDBOX["NEW_CONNECTION_ROUND_TRIPS"] = env.int(
        "CHECKOUT_SANDBOX_NEW_CONNECTION_ROUND_TRIPS"
    )
if env.str("CHECKOUT_SANDBOX_CALLBACK_DELIVERY", default=""):
    CHECKOUT_SANDBOX["CALLBACK_DELIVERY"] = env.str("CHECKOUT_SANDBOX_CALLBACK_DELIVERY")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "card_data": {"()": "checkout.reporting.CardDataLogFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["card_data"],
        },
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "card_data"],
        },
    },
    "loggers": {
        "checkout": {"handlers": ["console"], "level": "INFO"},
        # Django's own records: warnings (CSRF failures, bad requests) in the server log,
        # errors mailed to ADMINS; both through the card-data filter.
        "django": {"handlers": ["console", "mail_admins"], "level": "WARNING", "propagate": False},
    },
}
