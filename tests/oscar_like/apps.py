from django.apps import AppConfig


class OscarLikeCheckoutConfig(AppConfig):
    name = "tests.oscar_like"
    label = "checkout"
