"""A faithful local copy of the JCC test gateway, for the demo and the tests."""

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

__all__ = ["SandboxConfig"]


class SandboxConfig(AppConfig):
    """The bundled sandbox gateway (a fake bank)."""

    name = "checkout.sandbox"
    label = "checkout_sandbox"
    verbose_name = _("JCC sandbox gateway")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_started

        from checkout.conf import register_gateway_provider

        # Registers the system checks, and the sender of queued callbacks.
        from checkout.sandbox import checks, delivery  # noqa: F401
        from checkout.sandbox.conf import gateway_defaults

        # The core asks for the gateway lazily; the dependency points one way only.
        register_gateway_provider(gateway_defaults)

        # The callback sender starts with the first request a server process serves,
        # so callbacks left in the outbox by an earlier process go out after a restart.
        request_started.connect(_start_sender, dispatch_uid="checkout_sandbox_sender")


def _start_sender(**kwargs: Any) -> None:
    from checkout.sandbox import delivery
    from checkout.sandbox.conf import sandbox_active, sandbox_settings

    if sandbox_settings.CALLBACK_DELIVERY != "thread" or delivery.worker_running():
        return
    if sandbox_active():
        delivery.ensure_worker()
