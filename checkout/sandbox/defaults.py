"""Credentials of the sandbox's built-in merchant, shared with checkout.conf.

Test values only: the sandbox is a fake bank and never runs with DEBUG off unless a
setting explicitly allows it.
"""

__all__ = ["CALLBACK_SECRET", "MERCHANT_LOGIN", "MERCHANT_PASSWORD"]

MERCHANT_LOGIN = "sandbox-api"
MERCHANT_PASSWORD = "sandbox-password"
CALLBACK_SECRET = "sandbox-callback-secret"
