"""factory_boy factories shared by the test suite."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from checkout.models import Order, Payment
from checkout.services import new_order_number


class OrderFactory(factory.django.DjangoModelFactory):
    """An unpaid order of 19.99 EUR that expires in a day."""

    class Meta:
        model = Order

    amount = 1999
    currency = "EUR"
    description = factory.Sequence(lambda n: f"Test order {n}")
    email = factory.Sequence(lambda n: f"shopper{n}@example.com")
    ip_address = "127.0.0.1"
    language = "en"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))


class PaymentFactory(factory.django.DjangoModelFactory):
    """An attempt for an order, in CREATED unless a status is given (tests only)."""

    class Meta:
        model = Payment

    order = factory.SubFactory(OrderFactory)
    order_number = factory.LazyFunction(new_order_number)
    amount = factory.SelfAttribute("order.amount")
    currency = factory.SelfAttribute("order.currency")
