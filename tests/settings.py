"""Test settings: the demo's, with the sandbox allowed and fast password hashing."""

from merchant_site.settings import *  # noqa: F403
from merchant_site.settings import CHECKOUT

CHECKOUT = {**CHECKOUT, "SANDBOX_ALLOWED": True, "SITE_URL": "http://testserver"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {"version": 1, "disable_existing_loggers": False}
