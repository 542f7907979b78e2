from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The bundled sandbox gateway (a fake bank)."""

    name = "checkout.sandbox"
    label = "checkout_sandbox"
    verbose_name = "JCC sandbox gateway"
    default_auto_field = "django.db.models.BigAutoField"
