"""The shopping cart, kept in the session as product ids and quantities only."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase

from merchant_site.shop.models import Product

SESSION_KEY = "shop_cart"
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
