from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from checkout import wallet_views


@never_cache
@require_safe
def alive(request: HttpRequest) -> HttpResponse:
    """Liveness check for a load balancer: 200 while the process answers requests.

    It asks nothing of the database or the cache, so that a slow database does not get
    every server taken out of rotation at once.
    """
    return HttpResponse("OK", content_type="text/plain")


urlpatterns = [
    path("healthz/", alive, name="healthz"),
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
