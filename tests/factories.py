"""factory_boy factories shared by the test suite."""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from checkout import access
from checkout.models import Exchange, Notification, Order, Payment, StatusChange
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


class NotificationFactory(factory.django.DjangoModelFactory):
    """A callback notification as stored on arrival (not yet verified or processed)."""

    class Meta:
        model = Notification

    method = "GET"
    params = factory.LazyFunction(
        lambda: {
            "mdOrder": str(uuid.uuid4()),
            "orderNumber": "X1",
            "operation": "deposited",
            "status": "1",
        }
    )
    remote_addr = "127.0.0.1"


class ExchangeFactory(factory.django.DjangoModelFactory):
    """A status query as the exchange log stores it, for ``payment`` (none unless given)."""

    class Meta:
        model = Exchange

    operation = "getOrderStatusExtended.do"
    url = "https://gateway.example/payment/rest/getOrderStatusExtended.do"
    request = factory.LazyFunction(lambda: {"userName": "shop-api", "password": "[redacted]"})
    response = factory.LazyFunction(lambda: {"errorCode": "0", "orderStatus": 2})
    http_status = 200


class StatusChangeFactory(factory.django.DjangoModelFactory):
    """One row of a payment's history."""

    class Meta:
        model = StatusChange

    payment = factory.SubFactory(PaymentFactory)
    from_status = "processing"
    to_status = "paid"
    source = "card_entry"


class OperatorFactory(factory.django.DjangoModelFactory):
    """A staff user; ``permissions`` lists "app.codename" strings to grant."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@shop.example")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "operator-password")

    @factory.post_generation
    def permissions(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for name in extracted:
            app_label, codename = name.split(".")
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        self.save()


class ProductFactory(factory.django.DjangoModelFactory):
    """A product of the demo shop."""

    class Meta:
        model = "shop.Product"

    slug = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    description = "Made in Cyprus."
    price = 1450
    currency = "EUR"
    image = "shop/img/halloumi.svg"


def owned_order(client, **kwargs) -> Order:
    """An order whose pages the test client's browser session may open."""
    order = OrderFactory(**kwargs)
    session = client.session
    session[access.SESSION_KEY] = [str(order.public_id)]
    session.save()
    return order
