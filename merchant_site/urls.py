from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # set_language: the language switch in the header posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("checkout/", include("checkout.urls")),
    # The bundled sandbox gateway: the client talks to it when JCC_GATEWAY_URL is unset.
    path("sandbox/payment/", include("checkout.sandbox.urls")),
    path("", include("merchant_site.shop.urls")),
]
