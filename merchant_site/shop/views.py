from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from checkout import access
from checkout.services import create_order
from checkout.views import client_ip
from merchant_site.shop.models import Product


def catalogue(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/catalogue.html", {"products": Product.objects.all()})


@require_POST
def buy_now(request: HttpRequest, slug: str) -> HttpResponse:
    """Create an order for one product and open card entry for it."""
    product = get_object_or_404(Product, slug=slug)
    order = create_order(
        amount=product.price,
        currency=product.currency,
        description=product.name,
        ip=client_ip(request) or None,
        language=getattr(request, "LANGUAGE_CODE", "en"),
        merchant_reference=f"product:{product.slug}",
        content_object=product,
    )
    access.grant(request, order)
    return redirect("checkout:card", order.public_id)
