"""System checks of the sandbox gateway."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from checkout.sandbox.conf import sandbox_active

__all__ = ["check_sandbox_not_in_production"]


@checks.register(checks.Tags.security, "checkout_sandbox")
def check_sandbox_not_in_production(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if settings.DEBUG or not sandbox_active():
        return []
    return [
        checks.Warning(
            "The sandbox gateway is active with DEBUG off: it fakes a bank.",
            hint="Remove checkout.sandbox from INSTALLED_APPS in production.",
            id="checkout_sandbox.W001",
        )
    ]
