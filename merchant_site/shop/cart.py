"""The shopping cart, kept in the session as product ids and quantities only.

The cart stays as it is when the shopper checks out: it is emptied only once the order
placed from it is paid (``settle_cart``), so that Back from the card page, a declined card
or an abandoned 3-D Secure step leaves the shopper with their cart, and checking out again
continues that same order instead of placing a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Exists, OuterRef

from checkout.models import SECURED_STATUSES, Order, Payment
from merchant_site.shop.models import Product, PurchaseLine

__all__ = ["MAX_QUANTITY", "PENDING_KEY", "SESSION_KEY", "Cart", "CartLine", "settle_cart"]

SESSION_KEY = "shop_cart"
#: The public id of the order placed from the cart and not paid yet.
PENDING_KEY = "shop_pending_order"
#: Most units of one product in a cart (a demo shop, not a wholesaler).
MAX_QUANTITY = 20


@dataclass(frozen=True)
class CartLine:
    """A product in the cart with its quantity and line total (minor units)."""

    product: Product
    quantity: int

    @property
    def total(self) -> int:
        return self.product.price * self.quantity


class Cart:
    """The session's cart. Prices always come from the catalogue, never from the session."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        raw = session.get(SESSION_KEY, {})
        self._items: dict[str, int] = {
            str(key): int(value)
            for key, value in (raw.items() if isinstance(raw, dict) else [])
            if str(key).isdigit() and isinstance(value, int) and 0 < value <= MAX_QUANTITY
        }
        self._lines: list[CartLine] | None = None

    def _save(self) -> None:
        self.session[SESSION_KEY] = self._items
        self._lines = None

    def add(self, product: Product, quantity: int = 1) -> int:
        """Add units of a product; returns the quantity now in the cart (capped)."""
        new = min(self._items.get(str(product.pk), 0) + max(quantity, 0), MAX_QUANTITY)
        if new:
            self._items[str(product.pk)] = new
            self._save()
        return new

    def set(self, product: Product, quantity: int) -> None:
        """Set a product's quantity; zero removes it."""
        if quantity <= 0:
            self.remove(product)
            return
        self._items[str(product.pk)] = min(quantity, MAX_QUANTITY)
        self._save()

    def remove(self, product: Product) -> None:
        if self._items.pop(str(product.pk), None) is not None:
            self._save()

    def clear(self) -> None:
        self._items = {}
        self._save()

    def take_out(self, lines: list[PurchaseLine]) -> None:
        """Remove what a paid order bought (what was added since stays in the cart)."""
        for line in lines:
            key = str(line.product_id)
            left = self._items.get(key, 0) - line.quantity
            if left > 0:
                self._items[key] = left
            else:
                self._items.pop(key, None)
        self._save()

    @property
    def pending_order_id(self) -> uuid.UUID | None:
        """The order placed from this cart that is not known to be paid yet."""
        try:
            return uuid.UUID(str(self.session.get(PENDING_KEY, "")))
        except ValueError:
            return None

    def placed(self, order: Order) -> None:
        """The shopper checked out: the cart waits for ``order`` to be paid."""
        self.session[PENDING_KEY] = str(order.public_id)

    def matches(self, lines: list[PurchaseLine], currency: str) -> bool:
        """Whether an order with these lines is exactly this cart, at today's prices."""
        ordered = {(line.product_id, line.unit_price, line.quantity) for line in lines}
        current = {(line.product.pk, line.product.price, line.quantity) for line in self.lines()}
        return bool(current) and ordered == current and currency == self.currency

    def currency_conflict(self, product: Product) -> bool:
        """One order is paid in one currency: a cart cannot mix them."""
        return any(line.product.currency != product.currency for line in self.lines())

    def lines(self) -> list[CartLine]:
        if self._lines is None:
            products = Product.objects.in_bulk([int(pk) for pk in self._items])
            lines = [
                CartLine(products[int(pk)], quantity)
                for pk, quantity in self._items.items()
                if int(pk) in products
            ]
            lines.sort(key=lambda line: (line.product.position, line.product.name))
            self._lines = lines
        return self._lines

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines())

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines())

    @property
    def currency(self) -> str:
        lines = self.lines()
        return lines[0].product.currency if lines else ""

    def __bool__(self) -> bool:
        return bool(self.lines())


def settle_cart(session: SessionBase) -> None:
    """Empty the cart once its pending order is paid; forget an order that expired unpaid.

    Wherever the payment was secured (the card page, the 3-D Secure return, a callback,
    checkout_sync), the shopper's next page finds the cart emptied.
    """
    cart = Cart(session)
    public_id = cart.pending_order_id
    if public_id is None:
        session.pop(PENDING_KEY, None)
        return
    secured = Payment.objects.filter(order=OuterRef("pk"), status__in=SECURED_STATUSES)
    order = (
        Order.objects.filter(public_id=public_id)
        .annotate(paid=Exists(secured))
        .only("pk", "expires_at")
        .first()
    )
    if order is None:
        session.pop(PENDING_KEY, None)
    elif order.paid:  # type: ignore[attr-defined]
        cart.take_out(list(PurchaseLine.objects.filter(purchase__order=order)))
        session.pop(PENDING_KEY, None)
    elif order.is_expired:
        session.pop(PENDING_KEY, None)
