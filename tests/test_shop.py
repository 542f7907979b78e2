"""The demo storefront: catalogue, cart, checkout that creates an order, "your orders", seed."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from checkout import access
from checkout.models import Order, PaymentStatus
from merchant_site.shop.cart import MAX_QUANTITY, SESSION_KEY
from merchant_site.shop.management.commands.seed_demo import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SHOPPER_PASSWORD,
    SHOPPER_USERNAME,
)
from merchant_site.shop.models import Product, Purchase
from tests.factories import PaymentFactory, ProductFactory

pytestmark = pytest.mark.django_db
S = PaymentStatus


@pytest.fixture
def halloumi():
    return ProductFactory(slug="halloumi", name="Halloumi", price=1450)


@pytest.fixture
def wine():
    return ProductFactory(slug="commandaria", name="Commandaria", price=2400, position=1)


def add(client, product, quantity=1, **extra):
    url = reverse("shop:cart_add", args=[product.slug])
    return client.post(url, {"quantity": quantity}, **extra)


def cart_lines(client) -> dict[str, int]:
    response = client.get(reverse("shop:cart"))
    return {line.product.slug: line.quantity for line in response.context["cart"].lines()}


# --- catalogue ---------------------------------------------------------------------------


def test_catalogue_shows_products_with_picture_price_and_description(client, halloumi):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Halloumi" in html
    assert "€14.50" in html
    assert halloumi.description in html
    assert f'src="/static/{halloumi.image}"' in html
    assert reverse("shop:cart_add", args=["halloumi"]) in html


def test_product_page(client, halloumi):
    response = client.get(reverse("shop:product", args=["halloumi"]))
    assert response.status_code == 200
    assert response.context["product"] == halloumi
    assert client.get(reverse("shop:product", args=["no-such-thing"])).status_code == 404


def test_sandbox_links_only_while_the_sandbox_is_active(client, settings, halloumi):
    html = client.get("/").content.decode()
    assert "Sandbox mode" in html
    assert f'href="{reverse("checkout_sandbox:index")}"' in html

    settings.DEBUG = False
    settings.CHECKOUT = {**settings.CHECKOUT, "SANDBOX_ALLOWED": False}
    assert "Sandbox mode" not in client.get("/").content.decode()


# --- cart --------------------------------------------------------------------------------


def test_add_change_and_remove(client, halloumi, wine):
    assert add(client, halloumi).status_code == 302
    add(client, halloumi, 2)
    add(client, wine)
    assert cart_lines(client) == {"halloumi": 3, "commandaria": 1}
    response = client.get(reverse("shop:cart"))
    assert response.context["cart"].total == 3 * 1450 + 2400
    assert "€67.50" in response.content.decode()

    client.post(reverse("shop:cart_update", args=["halloumi"]), {"quantity": 5})
    assert cart_lines(client) == {"halloumi": 5, "commandaria": 1}
    client.post(reverse("shop:cart_update", args=["commandaria"]), {"quantity": 0})
    assert cart_lines(client) == {"halloumi": 5}
    client.post(reverse("shop:cart_remove", args=["halloumi"]))
    assert cart_lines(client) == {}
    assert "Your cart is empty" in client.get(reverse("shop:cart")).content.decode()


def test_header_counts_the_items(client, halloumi):
    add(client, halloumi, 3)
    assert 'class="cart-count" aria-label="3 items">3<' in client.get("/").content.decode()


@pytest.mark.parametrize("quantity", ["abc", "-1", str(MAX_QUANTITY + 1), ""])
def test_bad_quantity_changes_nothing(client, halloumi, quantity):
    add(client, halloumi, 2)
    response = client.post(
        reverse("shop:cart_update", args=["halloumi"]), {"quantity": quantity}, follow=True
    )
    assert response.status_code == 200
    assert "Choose a quantity from 0 to 20." in response.content.decode()
    assert cart_lines(client) == {"halloumi": 2}


def test_quantity_is_capped(client, halloumi):
    add(client, halloumi, MAX_QUANTITY)
    add(client, halloumi, 5)
    assert cart_lines(client) == {"halloumi": MAX_QUANTITY}


def test_cart_changes_need_post(client, halloumi):
    assert client.get(reverse("shop:cart_add", args=["halloumi"])).status_code == 405
    assert client.post(reverse("shop:cart_add", args=["nope"])).status_code == 404


def test_prices_come_from_the_catalogue_not_the_session(client, halloumi):
    add(client, halloumi, 2)
    Product.objects.filter(pk=halloumi.pk).update(price=1000)
    assert client.get(reverse("shop:cart")).context["cart"].total == 2000


def test_tampered_or_stale_cart_is_ignored(client, halloumi):
    session = client.session
    session[SESSION_KEY] = {"abc": 1, str(halloumi.pk): 999, "123456": 2, "7": "x"}
    session.save()
    assert cart_lines(client) == {}
    session[SESSION_KEY] = ["not", "a", "dict"]
    session.save()
    assert client.get(reverse("shop:cart")).status_code == 200


def test_one_currency_per_cart(client, halloumi):
    add(client, halloumi)
    dollars = ProductFactory(slug="import", currency="USD")
    response = add(client, dollars, follow=True)
    assert "another currency" in response.content.decode()
    assert cart_lines(client) == {"halloumi": 1}


# --- checkout ----------------------------------------------------------------------------


def test_checkout_creates_the_order_and_opens_the_card_page(client, halloumi, wine):
    add(client, halloumi, 2)
    add(client, wine)
    response = client.post(
        reverse("shop:cart"), {"email": "ann@example.com"}, REMOTE_ADDR="198.51.100.7"
    )

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("jcc_checkout:card", args=[order.public_id])
    assert (order.amount, order.currency) == (2 * 1450 + 2400, "EUR")
    assert order.email == "ann@example.com"
    assert order.description == "2 x Halloumi; 1 x Commandaria"
    assert order.ip_address == "198.51.100.7"
    purchase = Purchase.objects.get()
    assert purchase.order == order and order.content_object == purchase
    # The shop's short reference is the order's: the one the shopper sees everywhere.
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", purchase.reference)
    assert order.merchant_reference == purchase.reference
    assert [(line.name, line.unit_price, line.quantity) for line in purchase.lines.all()] == [
        ("Halloumi", 1450, 2),
        ("Commandaria", 2400, 1),
    ]
    assert access.owns(response.wsgi_request, order)
    assert client.get(response["Location"]).status_code == 200
    # The cart waits for the order to be paid.
    assert cart_lines(client) == {"halloumi": 2, "commandaria": 1}


def test_checkout_from_a_scoped_ipv6_address_behind_the_proxy(client, settings, halloumi):
    settings.CHECKOUT = {**settings.CHECKOUT, "CLIENT_IP_HEADER": "X-Forwarded-For"}
    add(client, halloumi)
    response = client.post(
        reverse("shop:cart"), {"email": "ann@example.com"}, HTTP_X_FORWARDED_FOR="fe80::1%eth0"
    )
    assert response.status_code == 302
    assert Order.objects.get().ip_address == "fe80::1"


def test_checkout_needs_a_valid_email_and_a_cart(client, halloumi):
    response = client.post(reverse("shop:cart"), {"email": "ann@example.com"}, follow=True)
    assert "Your cart is empty." in response.content.decode()

    add(client, halloumi)
    response = client.post(reverse("shop:cart"), {"email": "not an address"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert not Order.objects.exists() and not Purchase.objects.exists()
    assert cart_lines(client) == {"halloumi": 1}


def test_email_is_remembered_for_the_next_order(client, halloumi):
    add(client, halloumi)
    client.post(reverse("shop:cart"), {"email": "ann@example.com"})
    add(client, halloumi)
    assert client.get(reverse("shop:cart")).context["form"]["email"].value() == "ann@example.com"


def checkout(client, email="ann@example.com"):
    return client.post(reverse("shop:cart"), {"email": email})


def test_back_from_the_card_page_still_shows_the_cart(client, halloumi, wine):
    add(client, halloumi, 2)
    add(client, wine)
    card_page = checkout(client)["Location"]
    order = Order.objects.get()

    # The browser's Back button: the cart as it was, and a way on to the same order.
    page = client.get(reverse("shop:cart"))
    html = page.content.decode()
    assert "Your cart is empty" not in html
    assert cart_lines(client) == {"halloumi": 2, "commandaria": 1}
    assert f"Your order {order.merchant_reference} is waiting for payment" in html
    assert 'class="cart-count" aria-label="3 items">3<' in html

    again = checkout(client)
    assert again.status_code == 302 and again["Location"] == card_page
    assert Order.objects.count() == 1 and Purchase.objects.count() == 1


def test_checking_out_again_with_a_new_address_keeps_the_order(client, halloumi):
    add(client, halloumi)
    checkout(client)
    checkout(client, email="ann.smith@example.com")
    order = Order.objects.get()
    assert order.email == "ann.smith@example.com"
    assert Purchase.objects.get().email == "ann.smith@example.com"


def test_a_changed_cart_is_a_new_order(client, halloumi, wine):
    add(client, halloumi)
    first = checkout(client)["Location"]
    add(client, wine)
    second = checkout(client)["Location"]
    assert first != second and Order.objects.count() == 2
    newest = Order.objects.order_by("-created_at", "-pk").first()
    assert second == reverse("jcc_checkout:card", args=[newest.public_id])
    assert newest.amount == 1450 + 2400
    # A price change too: the new order is at today's price.
    Product.objects.filter(pk=wine.pk).update(price=2500)
    third = checkout(client)["Location"]
    assert third not in (first, second) and Order.objects.count() == 3


def test_an_attempt_under_way_is_seen_through_not_doubled(client, halloumi, wine):
    add(client, halloumi)
    checkout(client)
    order = Order.objects.get()
    PaymentFactory(order=order, status=S.AWAITING_3DS)
    add(client, wine)  # in another tab, while the bank's page is open
    html = client.get(reverse("shop:cart")).content.decode()
    assert f"A payment for your order {order.merchant_reference} is under way" in html
    response = checkout(client)
    assert response["Location"] == reverse("jcc_checkout:card", args=[order.public_id])
    assert Order.objects.count() == 1


def test_the_cart_is_emptied_once_its_order_is_paid(client, halloumi, wine):
    add(client, halloumi, 2)
    checkout(client)
    order = Order.objects.get()
    add(client, wine)  # added after checking out: not part of the paid order
    PaymentFactory(order=order, status=S.PAID)  # paid: learnt by a callback, say
    html = client.get("/").content.decode()
    assert 'aria-label="1 item">1<' in html
    assert cart_lines(client) == {"commandaria": 1}
    assert client.session.get("shop_pending_order") is None


def test_an_expired_order_lets_the_cart_go_on_alone(client, halloumi):
    add(client, halloumi)
    checkout(client)
    Order.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert cart_lines(client) == {"halloumi": 1}
    assert client.session.get("shop_pending_order") is None
    checkout(client)
    assert Order.objects.count() == 2


@pytest.mark.parametrize("value", ["not-a-uuid", 42, str(uuid.uuid4())])
def test_a_tampered_or_stale_pending_order_is_ignored(client, halloumi, value):
    add(client, halloumi)
    session = client.session
    session["shop_pending_order"] = value
    session.save()
    assert cart_lines(client) == {"halloumi": 1}
    assert checkout(client).status_code == 302 and Order.objects.count() == 1


# --- your orders -------------------------------------------------------------------------


def place(client, product, email="ann@example.com") -> Order:
    add(client, product)
    client.post(reverse("shop:cart"), {"email": email})
    return Order.objects.order_by("-created_at", "-pk").first()


def test_your_orders_lists_only_this_visitors_orders(client, django_user_model, halloumi):
    mine = place(client, halloumi)
    other = client.__class__()
    theirs = place(other, halloumi, email="bob@example.com")

    page = client.get(reverse("shop:orders"))
    assert [row["order"] for row in page.context["rows"]] == [mine]
    html = page.content.decode()
    assert "Awaiting payment" in html
    assert reverse("jcc_checkout:card", args=[mine.public_id]) in html
    assert reverse("jcc_checkout:card", args=[theirs.public_id]) not in html


@pytest.mark.parametrize(
    ("statuses", "label", "payable"),
    [
        ([], "Awaiting payment", True),
        ([S.DECLINED], "Payment not completed", True),
        ([S.DECLINED, S.PAID], "Paid", False),
        # Two-phase: held for a later capture, which the shopper knows as authorised.
        ([S.HELD], "Authorised", False),
        ([S.AWAITING_3DS], "Payment in progress", False),
        ([S.PARTLY_REFUNDED], "Paid, partly refunded", False),
        ([S.REFUNDED], "Refunded", False),
        ([S.NEEDS_REVIEW], "Payment being checked", False),
    ],
)
def test_your_orders_shows_where_each_order_stands(client, halloumi, statuses, label, payable):
    order = place(client, halloumi)
    for status in statuses:
        PaymentFactory(order=order, status=status)
    row = client.get(reverse("shop:orders")).context["rows"][0]
    assert (row["label"], row["payable"]) == (label, payable)


def test_your_orders_empty(client):
    response = client.get(reverse("shop:orders"))
    assert "You have not placed any orders" in response.content.decode()
    assert "no-store" in response["Cache-Control"]


# --- demo data ---------------------------------------------------------------------------


def test_seed_is_idempotent_and_prints_the_admin_login(client):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    assert Product.objects.count() == 7
    assert list(Product.objects.filter(monthly=True).values_list("slug", flat=True)) == [
        "halloumi-of-the-month"
    ]
    assert get_user_model().objects.filter(username=ADMIN_USERNAME).count() == 1
    assert ADMIN_PASSWORD in out.getvalue() and SHOPPER_PASSWORD in out.getvalue()
    assert client.login(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    shopper = get_user_model().objects.get(username=SHOPPER_USERNAME)
    assert not shopper.is_staff
    assert client.login(username=SHOPPER_USERNAME, password=SHOPPER_PASSWORD)
    for product in Product.objects.all():
        assert finders.find(product.image), product.image


def test_pages_that_do_not_exist_stay_in_the_shop(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "We could not find that page" in response.content.decode()


def test_the_liveness_check_answers_without_the_database_or_the_cache(client, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # A cache nobody can reach: the check must not need it.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with CaptureQueriesContext(connection) as queries:
        answer = client.get("/healthz/")
    assert answer.status_code == 200 and answer.content == b"OK"
    assert "no-cache" in answer["Cache-Control"]
    assert queries.captured_queries == []
    assert client.post("/healthz/").status_code == 405
