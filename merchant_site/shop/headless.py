"""The demo's second checkout, at /headless/: one page of plain JavaScript that buys through
the checkout's JSON API and its browser client (checkout/static/checkout/headless.js).

The shop's server does what only it can: it lists the products, and it turns the page's
cart into an order and issues that order's client secret (``issue_client_secret``). Card
entry, 3-D Secure and the result are the page's, through the API.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from checkout import money
from checkout.api import issue_client_secret
from checkout.middleware import secure_page
from checkout.ratelimit import client_ip
from checkout.services import create_order
from merchant_site.shop.cart import MAX_QUANTITY
from merchant_site.shop.models import Product, Purchase, PurchaseLine
from merchant_site.shop.views import DESCRIPTION_LENGTH

__all__ = ["headless_order", "headless_page", "headless_products"]

#: Largest body the order endpoint reads.
MAX_BODY = 8 * 1024


@secure_page
@never_cache
@require_safe
def headless_page(request: HttpRequest) -> HttpResponse:
    """The single page: its script does the rest."""
    return render(
        request,
        "shop/headless.html",
        {"api_url": reverse("jcc_checkout:api_openapi").rsplit("/", 1)[0] + "/"},
    )


@require_safe
def headless_products(request: HttpRequest) -> HttpResponse:
    """The catalogue as the page shows it (one-off products; subscriptions need an account)."""
    products = [
        {
            "slug": product.slug,
            "name": product.name,
            "price": product.price,
            "currency": product.currency,
            "price_display": money.format_money(product.price, product.currency),
            "image": static(product.image) if product.image else "",
        }
        for product in Product.objects.filter(monthly=False)
    ]
    return JsonResponse({"products": products})


def _refuse(message: str) -> JsonResponse:
    return JsonResponse({"error": {"message": message}}, status=400)


@require_POST
@never_cache
def headless_order(request: HttpRequest) -> HttpResponse:
    """The page's cart as an order: ``{"email", "lines": [{"slug", "quantity"}]}`` in, the
    order's id and client secret out (the shop's own endpoint, CSRF-protected)."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        return _refuse(_("Your cart is too large."))
    try:
        data: Any = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _refuse(_("Your cart could not be read."))
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        return _refuse(_("Your cart could not be read."))
    email = data.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        return _refuse(_("Enter a valid e-mail address."))
    wanted: dict[str, int] = {}
    for line in data["lines"][:50]:
        if not isinstance(line, dict):
            return _refuse(_("Your cart could not be read."))
        slug, quantity = line.get("slug"), line.get("quantity")
        if not isinstance(slug, str) or isinstance(quantity, bool) or not isinstance(quantity, int):
            return _refuse(_("Your cart could not be read."))
        if not 1 <= quantity <= MAX_QUANTITY:
            return _refuse(_("Choose a quantity from 0 to %(max)d.") % {"max": MAX_QUANTITY})
        wanted[slug] = quantity
    products = {p.slug: p for p in Product.objects.filter(slug__in=wanted, monthly=False)}
    if not wanted or len(products) != len(wanted):
        return _refuse(_("Your cart is empty."))
    currencies = {p.currency for p in products.values()}
    if len(currencies) != 1:
        return _refuse(_("Products priced in another currency need an order of their own."))
    currency = currencies.pop()
    total = sum(products[slug].price * quantity for slug, quantity in wanted.items())
    text = "; ".join(f"{q} x {products[s].name}" for s, q in wanted.items())
    with transaction.atomic():
        purchase = Purchase.objects.create(email=email, amount=total, currency=currency)
        PurchaseLine.objects.bulk_create(
            PurchaseLine(
                purchase=purchase,
                product=products[slug],
                name=products[slug].name,
                unit_price=products[slug].price,
                quantity=quantity,
            )
            for slug, quantity in wanted.items()
        )
        order = create_order(
            amount=total,
            currency=currency,
            description=text[:DESCRIPTION_LENGTH],
            email=email,
            ip=client_ip(request) or None,
            language=translation.get_language(),
            merchant_reference=purchase.reference,
            content_object=purchase,
        )
        purchase.order = order
        purchase.save(update_fields=["order"])
    return JsonResponse(
        {
            "order_id": str(order.public_id),
            "client_secret": issue_client_secret(order),
            "reference": purchase.reference,
            "amount_display": money.format_money(total, currency),
        }
    )
