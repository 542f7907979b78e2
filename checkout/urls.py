from django.urls import path, re_path

from checkout import callbacks, views, wallet_views
from checkout.api import views as api

__all__ = ["app_name", "urlpatterns"]

app_name = "jcc_checkout"

urlpatterns = [
    path("pay/<uuid:order_id>/", views.card, name="card"),
    path("payment/<uuid:payment_id>/", views.payment_status, name="payment"),
    path("payment/<uuid:payment_id>/3ds/", views.threeds, name="threeds"),
    path("return/", views.gateway_return, name="return"),
    path("callback/", callbacks.callback, name="callback"),
    path("saved-cards/", wallet_views.saved_cards, name="saved_cards"),
    # The JSON API for headless storefronts (docs/integrating/headless.md).
    path("api/openapi.json", api.openapi, name="api_openapi"),
    path("api/orders/<uuid:order_id>/", api.order, name="api_order"),
    path("api/orders/<uuid:order_id>/payments/", api.payments, name="api_payments"),
    path(
        "api/orders/<uuid:order_id>/payments/<uuid:payment_id>/",
        api.payment,
        name="api_payment",
    ),
    re_path(r"^api/(?P<rest>.*)$", api.not_found, name="api_not_found"),
]
