"""Test settings: the demo's, with the sandbox allowed and fast password hashing."""

from merchant_site.settings import *  # noqa: F403
from merchant_site.settings import CHECKOUT

CHECKOUT = {**CHECKOUT, "SANDBOX_ALLOWED": True, "SITE_URL": "http://testserver"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sandbox callbacks are recorded but not sent unless a test asks for them.
CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off"}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {"version": 1, "disable_existing_loggers": False}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared memory: the live server's threads then get connections of their
    # own, and SQLite's locking (WAL, immediate transactions) behaves as in the demo.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}  # noqa: F405
