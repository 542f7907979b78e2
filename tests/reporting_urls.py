"""The demo's URLs plus a view of the shop that fails while handling a card form."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from merchant_site.urls import urlpatterns as demo_urlpatterns


def fails(request: HttpRequest) -> HttpResponse:
    number = request.POST.get("payment-card", "")
    pan = request.POST.get("pan", "")
    raise RuntimeError(f"the shop's own card handling failed for a {len(pan + number)}-digit card")


urlpatterns = [path("reporting-probe/fails/", fails), *demo_urlpatterns]
