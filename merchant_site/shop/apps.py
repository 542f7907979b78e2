from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The demo storefront."""

    name = "merchant_site.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"
