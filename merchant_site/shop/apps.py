from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The demo storefront."""

    name = "merchant_site.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from merchant_site.shop import signals, subscriptions  # noqa: F401 - connect receivers
