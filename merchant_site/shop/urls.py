from django.urls import path

from merchant_site.shop import headless, views

app_name = "shop"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("products/<slug:slug>/", views.product_detail, name="product"),
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/<slug:slug>/", views.cart_add, name="cart_add"),
    path("cart/update/<slug:slug>/", views.cart_update, name="cart_update"),
    path("cart/remove/<slug:slug>/", views.cart_remove, name="cart_remove"),
    path("orders/", views.my_orders, name="orders"),
    # The second checkout: one page of JavaScript paying through the checkout's JSON API.
    path("headless/", headless.headless_page, name="headless"),
    path("headless/products/", headless.headless_products, name="headless_products"),
    path("headless/orders/", headless.headless_order, name="headless_order"),
]
