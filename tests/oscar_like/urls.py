from django.http import HttpResponse
from django.urls import include, path

app_name = "checkout"

urlpatterns = [path("", lambda request: HttpResponse("oscar checkout"), name="index")]

project_urlpatterns = [
    path("basket/checkout/", include("tests.oscar_like.urls")),
    path("checkout/", include("checkout.urls")),
]
