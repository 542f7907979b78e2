from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

__all__ = ["CheckoutConfig"]


class CheckoutConfig(AppConfig):
    """Card payments through the JCC gateway."""

    name = "checkout"
    label = "jcc_checkout"
    verbose_name = _("Checkout")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from checkout import checks, tasks  # noqa: F401  (checks: registers the system checks)
        from checkout.exchanges import record_exchange
        from checkout.gateway import register_exchange_hook

        # The gateway client knows no database: the exchange log is written here.
        register_exchange_hook(record_exchange)
        # Callback processing on a task queue when BACKGROUND_TASKS is on.
        tasks.install()
