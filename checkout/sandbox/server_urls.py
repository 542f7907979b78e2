"""URLconf of ``run_sandbox``: the sandbox where the real gateway has it."""

from django.urls import include, path

__all__ = ["urlpatterns"]

urlpatterns = [path("payment/", include("checkout.sandbox.urls"))]
