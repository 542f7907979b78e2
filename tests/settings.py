"""Test settings: the demo's, with the sandbox allowed and fast password hashing."""

import os
import tempfile
from pathlib import Path

from merchant_site.settings import *  # noqa: F403
from merchant_site.settings import CHECKOUT
from merchant_site.settings import CHECKOUT_SANDBOX as DEMO_SANDBOX

CHECKOUT = {
    **CHECKOUT,
    "SANDBOX_ALLOWED": True,
    "SITE_URL": "http://testserver",
    # A query for every delivery, unless a test of the bound asks for one.
    "CALLBACK_QUERY_INTERVAL": 0,
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test client and the live servers speak plain http, whatever a .env asks of the demo.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sandbox callbacks are recorded but not sent unless a test asks for them.
# The simulated network of a sandbox served by a test on its own comes from the environment.
CHECKOUT_SANDBOX = {**DEMO_SANDBOX, "CALLBACK_DELIVERY": "off"}
if os.environ.get("SANDBOX_FAULT_LATENCY"):
    # A sandbox served as a process of its own by a test holds its latency faults this long.
    CHECKOUT_SANDBOX["FAULT_LATENCY"] = float(os.environ["SANDBOX_FAULT_LATENCY"])
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Receipts inside the request, so that a test sees them in mail.outbox when it returns.
SHOP_RECEIPTS_IN_BACKGROUND = False
LOGGING = {"version": 1, "disable_existing_loggers": False}

# The live servers' threads serve kept-alive connections (the gateway client's): each of
# their requests closes its database connection, as before the demo kept them, so that the
# test database can be dropped at the end while such a thread still waits.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# One test database per test process, so that runs side by side never share one.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared memory: the live server's threads then get connections of their
    # own, and SQLite's locking (WAL, immediate transactions) behaves as in the demo.
    _test_db = Path(tempfile.gettempdir()) / f"checkout-test-{os.getpid()}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(_test_db)}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_checkout_{os.getpid()}"}  # noqa: F405
