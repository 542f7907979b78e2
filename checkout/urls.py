from django.urls import path

from checkout import callbacks, views, wallet_views

__all__ = ["app_name", "urlpatterns"]

app_name = "jcc_checkout"

urlpatterns = [
    path("pay/<uuid:order_id>/", views.card, name="card"),
    path("payment/<uuid:payment_id>/", views.payment_status, name="payment"),
    path("payment/<uuid:payment_id>/3ds/", views.threeds, name="threeds"),
    path("return/", views.gateway_return, name="return"),
    path("callback/", callbacks.callback, name="callback"),
    path("saved-cards/", wallet_views.saved_cards, name="saved_cards"),
]
