"""URLconf of ``run_sandbox``: the sandbox where the real gateway has it."""

from django.urls import include, path

urlpatterns = [path("payment/", include("checkout.sandbox.urls"))]
