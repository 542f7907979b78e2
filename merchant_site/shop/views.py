"""The demo storefront: catalogue, cart, checkout with an e-mail address, "your orders"."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from checkout import access
from checkout.middleware import secure_page
from checkout.models import (
    ACTIVE_STATUSES,
    SECURED_STATUSES,
    UNSUCCESSFUL_STATUSES,
    Order,
    PaymentStatus,
)
from checkout.ratelimit import client_ip
from checkout.services import create_order
from merchant_site.shop.cart import MAX_QUANTITY, Cart
from merchant_site.shop.models import Product, Purchase, PurchaseLine

S = PaymentStatus

#: The gateway takes a description of at most 598 characters.
DESCRIPTION_LENGTH = 598


class QuantityForm(forms.Form):
    """How many units: 0 (remove) up to the cart's cap."""

    quantity = forms.IntegerField(min_value=0, max_value=MAX_QUANTITY)


class CheckoutForm(forms.Form):
    """The shopper's e-mail address, for the receipt."""

    email = forms.EmailField(
        label=gettext_lazy("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )


@secure_page
@require_safe
def catalogue(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/catalogue.html", {"products": Product.objects.all()})


@secure_page
@require_safe
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    return render(request, "shop/product.html", {"product": product})


@require_POST
def cart_add(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    form = QuantityForm(request.POST or {"quantity": 1})
    quantity = form.cleaned_data["quantity"] if form.is_valid() else 1
    cart = Cart(request.session)
    if cart.currency_conflict(product):
        messages.error(
            request, _("Products priced in another currency need an order of their own.")
        )
        return redirect("shop:cart")
    in_cart = cart.add(product, max(quantity, 1))
    messages.success(
        request,
        _("%(product)s added to your cart (%(count)d in cart).")
        % {"product": product.name, "count": in_cart},
    )
    return redirect("shop:cart" if request.POST.get("next") == "cart" else "shop:catalogue")


@require_POST
def cart_update(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    form = QuantityForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a quantity from 0 to %(max)d.") % {"max": MAX_QUANTITY})
        return redirect("shop:cart")
    quantity = form.cleaned_data["quantity"]
    Cart(request.session).set(product, quantity)
    if quantity == 0:
        messages.success(request, _("%(product)s removed.") % {"product": product.name})
    return redirect("shop:cart")


@require_POST
def cart_remove(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    Cart(request.session).remove(product)
    messages.success(request, _("%(product)s removed.") % {"product": product.name})
    return redirect("shop:cart")


@secure_page
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def cart_view(request: HttpRequest) -> HttpResponse:
    """The cart, and on POST the checkout: the order is created and card entry opens."""
    cart = Cart(request.session)
    form = CheckoutForm(request.POST or None, initial={"email": request.session.get("shop_email")})
    if request.method == "POST":
        if not cart:
            messages.error(request, _("Your cart is empty."))
            return redirect("shop:cart")
        if form.is_valid():
            order = _place_order(request, cart, form.cleaned_data["email"])
            return redirect("jcc_checkout:card", order.public_id)
    return render(request, "shop/cart.html", {"cart": cart, "form": form}, status=200)


def _describe(cart: Cart) -> str:
    text = "; ".join(f"{line.quantity} x {line.product.name}" for line in cart.lines())
    return text if len(text) <= DESCRIPTION_LENGTH else text[: DESCRIPTION_LENGTH - 1] + "…"


def _place_order(request: HttpRequest, cart: Cart, email: str) -> Order:
    with transaction.atomic():
        purchase = Purchase.objects.create(email=email, amount=cart.total, currency=cart.currency)
        PurchaseLine.objects.bulk_create(
            PurchaseLine(
                purchase=purchase,
                product=line.product,
                name=line.product.name,
                unit_price=line.product.price,
                quantity=line.quantity,
            )
            for line in cart.lines()
        )
        order = create_order(
            amount=purchase.amount,
            currency=purchase.currency,
            description=_describe(cart),
            email=email,
            ip=client_ip(request) or None,
            # The shopper's language (LocaleMiddleware), also for the gateway's own pages.
            language=translation.get_language(),
            merchant_reference=str(purchase.public_id),
            content_object=purchase,
        )
        purchase.order = order
        purchase.save(update_fields=["order"])
    # The session may see this order's pages; "your orders" lists exactly these.
    access.grant(request, order)
    request.session["shop_email"] = email
    cart.clear()
    return order


def order_state(order: Order) -> tuple[str, str]:
    """A shopper-facing label for an order, and a CSS modifier (paid/pending/failed/refunded)."""
    statuses = {payment.status for payment in order.payments.all()}
    if S.REFUNDED in statuses:
        return _("Refunded"), "refunded"
    if S.PARTLY_REFUNDED in statuses:
        return _("Paid, partly refunded"), "refunded"
    if statuses & SECURED_STATUSES:
        return _("Paid"), "paid"
    if S.VOIDED in statuses:
        return _("Cancelled"), "failed"
    if statuses & ACTIVE_STATUSES:
        return _("Payment in progress"), "pending"
    if S.NEEDS_REVIEW in statuses:
        return _("Payment being checked"), "pending"
    if order.is_expired:
        return _("Expired"), "failed"
    if statuses:
        return _("Payment not completed"), "failed"
    return _("Awaiting payment"), "pending"


def payable(order: Order) -> bool:
    """No attempt yet, or only ones that failed without money moving, and not expired."""
    return not order.is_expired and all(
        payment.status in UNSUCCESSFUL_STATUSES for payment in order.payments.all()
    )


@secure_page
@never_cache
@require_safe
def my_orders(request: HttpRequest) -> HttpResponse:
    """The orders this browser session placed (the checkout's own access grants)."""
    owned = request.session.get(access.SESSION_KEY, [])
    purchases = (
        Purchase.objects.filter(order__public_id__in=owned)
        .select_related("order")
        .prefetch_related("lines", "order__payments")
    )
    rows = []
    for purchase in purchases:
        order = purchase.order
        if order is None:
            continue
        label, state = order_state(order)
        payments = order.payments.all()
        rows.append(
            {
                "purchase": purchase,
                "order": order,
                "label": label,
                "state": state,
                "payment": payments[0] if payments else None,
                "payable": payable(order),
            }
        )
    return render(request, "shop/orders.html", {"rows": rows})
