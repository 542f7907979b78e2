from django.contrib import admin
from django.urls import include, path

from checkout import wallet_views

urlpatterns = [
    path("admin/", admin.site.urls),
    # set_language: the language switch in the header posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("checkout/", include("checkout.urls")),
    # Shopper accounts: Django's own sign-in, and the shopper's saved cards.
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/cards/", wallet_views.saved_cards, name="account_cards"),
    # The bundled sandbox gateway: the client talks to it when JCC_GATEWAY_URL is unset.
    path("sandbox/payment/", include("checkout.sandbox.urls")),
    path("", include("merchant_site.shop.urls")),
]
