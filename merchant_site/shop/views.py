"""The demo storefront: catalogue, cart, checkout with an e-mail address, "your orders".

Checking out creates one order per cart: the cart stays until that order is paid, and
checking out again (after Back from the card page, a declined card, an abandoned 3-D
Secure step) continues the same order rather than placing another.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
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

__all__ = [
    "DESCRIPTION_LENGTH",
    "CheckoutForm",
    "QuantityForm",
    "cart_add",
    "cart_remove",
    "cart_update",
    "cart_view",
    "catalogue",
    "my_orders",
    "order_state",
    "payable",
    "product_detail",
]

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
    """The cart, and on POST the checkout: card entry opens for the cart's order.

    The order is created on the first checkout; while it is unpaid and the cart unchanged,
    checking out again continues it (as does an attempt still in progress, whatever the
    cart): never a second order for the same cart.
    """
    cart = Cart(request.session)
    form = CheckoutForm(request.POST or None, initial={"email": request.session.get("shop_email")})
    pending = _pending_order(cart)
    if request.method == "POST":
        if not cart:
            messages.error(request, _("Your cart is empty."))
            return redirect("shop:cart")
        if any(line.product.monthly for line in cart.lines()) and not request.user.is_authenticated:
            messages.error(
                request, _("Sign in to subscribe: the subscription is charged to your saved card.")
            )
            return redirect(f"{reverse('login')}?next={reverse('shop:cart')}")
        if form.is_valid():
            email = form.cleaned_data["email"]
            if pending is None:
                order = _place_order(request, cart, email)
            else:
                order = _continue_order(request, pending, email)
            return redirect("jcc_checkout:card", order.public_id)
    context = {
        "cart": cart,
        "form": form,
        "pending": pending,
        "pending_payable": pending is not None and payable(pending),
    }
    return render(request, "shop/cart.html", context, status=200)


def _pending_order(cart: Cart) -> Order | None:
    """The order checkout would continue: the cart's order, unpaid and not expired, if it
    is still exactly the cart or has an attempt under way (to be seen through, not doubled)."""
    public_id = cart.pending_order_id
    if public_id is None or not cart:
        return None
    purchase = (
        Purchase.objects.filter(order__public_id=public_id)
        .select_related("order")
        .prefetch_related("lines", "order__payments")
        .first()
    )
    order = purchase.order if purchase is not None else None
    if purchase is None or order is None or order.is_paid or order.is_expired:
        return None
    if payable(order) and not cart.matches(list(purchase.lines.all()), purchase.currency):
        # The cart changed: its order no longer is what the shopper wants to buy.
        return None
    return order


def _continue_order(request: HttpRequest, order: Order, email: str) -> Order:
    if email != order.email and payable(order):
        # A new address for the receipt, also for the gateway's next attempt.
        with transaction.atomic():
            Order.objects.filter(pk=order.pk).update(email=email)
            Purchase.objects.filter(order=order).update(email=email)
        order.email = email
    request.session["shop_email"] = email
    return order


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
            # The one reference the shopper sees and quotes, and operators search for.
            merchant_reference=purchase.reference,
            content_object=purchase,
            # A signed-in shopper may save the card, and pays with a saved one in a click.
            owner=request.user if request.user.is_authenticated else None,
            recurrence=(
                Order.Recurrence.RECURRING
                if any(line.product.monthly for line in cart.lines())
                else Order.Recurrence.NONE
            ),
        )
        purchase.order = order
        purchase.save(update_fields=["order"])
    # The session may see this order's pages; "your orders" lists exactly these.
    access.grant(request, order)
    request.session["shop_email"] = email
    # The cart stays until the order is paid (merchant_site.shop.cart.settle_cart).
    cart.placed(order)
    return order


def order_state(order: Order) -> tuple[str, str]:
    """A shopper-facing label for an order, and a CSS modifier (paid/pending/failed/refunded)."""
    statuses = {payment.status for payment in order.payments.all()}
    if S.REFUNDED in statuses:
        return _("Refunded"), "refunded"
    if S.PARTLY_REFUNDED in statuses:
        return _("Paid, partly refunded"), "refunded"
    if S.PAID in statuses:
        return _("Paid"), "paid"
    if statuses & SECURED_STATUSES:
        # Held for a later capture (two-phase): to the shopper, the card is authorised.
        return _("Authorised"), "paid"
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
