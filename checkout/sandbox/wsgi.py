"""WSGI entry point of the sandbox served on its own, e.g. under gunicorn.

``DJANGO_SETTINGS_MODULE=myproject.settings gunicorn checkout.sandbox.wsgi`` serves the
sandbox at ``/payment/`` like the real gateway's host, as ``manage.py run_sandbox`` does
with Django's development server. The settings are the project's (the sandbox still runs
only with DEBUG on or ``CHECKOUT["SANDBOX_ALLOWED"]``).
"""

from __future__ import annotations

import django

from checkout.sandbox.server import SandboxWSGIHandler

__all__ = ["application", "get_application"]


def get_application() -> SandboxWSGIHandler:
    """Set Django up and return the sandbox's WSGI handler."""
    django.setup(set_prefix=False)
    return SandboxWSGIHandler()


application = get_application()
