from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete
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
        from checkout.services.bindings import after_status_change
        from checkout.services.saved_cards import owner_deleted
        from checkout.signals import payment_status_changed

        # The gateway client knows no database: the exchange log is written here.
        register_exchange_hook(record_exchange)
        # Saved cards: last use, cards the bank says are gone, merchant-initiated results.
        payment_status_changed.connect(after_status_change, dispatch_uid="checkout.saved_cards")
        # A deleted user's saved cards are unbound at the gateway (see close_wallet).
        post_delete.connect(
            owner_deleted, sender=settings.AUTH_USER_MODEL, dispatch_uid="checkout.wallets"
        )
        # Callback processing on a task queue when BACKGROUND_TASKS is on.
        tasks.install()
