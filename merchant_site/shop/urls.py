from django.urls import path

from merchant_site.shop import views

app_name = "shop"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("buy/<slug:slug>/", views.buy_now, name="buy"),
]
