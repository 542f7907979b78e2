"""The app installs beside another app labelled ``checkout`` (django-oscar's)."""

import uuid

from django.apps import apps
from django.test import override_settings
from django.urls import reverse

import checkout


def test_label_and_namespace_are_jcc_checkout():
    config = apps.get_app_config("jcc_checkout")
    assert config.name == "checkout"
    assert config.module is checkout
    assert reverse("jcc_checkout:return") == "/checkout/return/"


def test_installs_beside_an_app_labelled_checkout(settings):
    installed = [*settings.INSTALLED_APPS, "tests.oscar_like.apps.OscarLikeCheckoutConfig"]
    with override_settings(INSTALLED_APPS=installed, ROOT_URLCONF="tests.oscar_like.urls_root"):
        assert apps.get_app_config("checkout").name == "tests.oscar_like"
        assert apps.get_app_config("jcc_checkout").name == "checkout"
        assert reverse("checkout:index") == "/basket/checkout/"
        assert reverse("jcc_checkout:card", args=[uuid.uuid4()]).startswith("/checkout/pay/")
