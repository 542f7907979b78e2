"""CSP, Referrer-Policy and no-store on the card pages; templates that a strict CSP allows."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from checkout.middleware import SecurityHeadersMiddleware, content_security_policy
from checkout.models import Exchange, PaymentStatus
from tests.factories import OrderFactory, PaymentFactory, ProductFactory, owned_order

pytestmark = pytest.mark.django_db
S = PaymentStatus


@pytest.fixture(autouse=True)
def _offline(offline_gateway):
    pass


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


class _InlineCode(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        # A JSON data block (json_script) is never run, so a CSP has nothing to block.
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self.problems.append("inline <script>")
        if tag == "script" and (names.get("src") or "").startswith(("http:", "https:", "//")):
            self.problems.append(f"foreign script {names['src']}")
        if tag == "style":
            self.problems.append("inline <style>")
        for name, _value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= handler on <{tag}>")
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if name in ("href", "action", "src") and (_value or "").startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}>")


def assert_strict_csp_compatible(response) -> None:
    parser = _InlineCode()
    parser.feed(response.content.decode())
    assert parser.problems == []


# --- the card page -----------------------------------------------------------------------


def test_card_page_headers(client):
    order = owned_order(client)
    response = client.get(reverse("jcc_checkout:card", args=[order.public_id]))
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    cache_control = {v.strip() for v in response["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "private"} <= cache_control
    assert_strict_csp_compatible(response)
    assert 'src="/static/checkout/card.js"' in response.content.decode()


def test_card_page_headers_on_a_rejected_post(client):
    order = owned_order(client)
    url = reverse("jcc_checkout:card", args=[order.public_id])
    response = client.post(url, {"cardholder_name": "Ann Smith", "pan": "1234"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert directives(response)["script-src"] == "'self'"
    assert_strict_csp_compatible(response)


@pytest.mark.parametrize("status", [S.PAID, S.DECLINED, S.AWAITING_3DS, S.NEEDS_REVIEW, S.REFUNDED])
def test_result_pages(client, status):
    order = owned_order(client)
    payment = PaymentFactory(order=order, status=status, gateway_order_id=None)
    response = client.get(reverse("jcc_checkout:payment", args=[payment.public_id]))
    assert response.status_code in (200, 503)
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    assert directives(response)["script-src"] == "'self'"
    assert_strict_csp_compatible(response)


def test_error_pages_too(client):
    response = client.get(reverse("jcc_checkout:return"), {"orderId": "<bad>"})
    assert response.status_code == 400
    assert "no-store" in response["Cache-Control"]
    assert directives(response)["script-src"] == "'self'"
    assert_strict_csp_compatible(response)


# --- the shop ----------------------------------------------------------------------------


def test_shop_pages_get_the_policy_too(client):
    product = ProductFactory()
    client.post(reverse("shop:cart_add", args=[product.slug]))
    owned_order(client)
    for url in (
        "/",
        reverse("shop:product", args=[product.slug]),
        reverse("shop:cart"),
        reverse("shop:orders"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert directives(response)["script-src"] == "'self'", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert_strict_csp_compatible(response)


def test_pages_outside_the_checkout_are_left_alone(client, admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response
    sandbox = client.get(reverse("checkout_sandbox:index"))
    assert "Content-Security-Policy" not in sandbox


# --- the middleware on its own -----------------------------------------------------------


def _through_middleware(response: HttpResponse, path: str):
    from django.urls import resolve

    request = RequestFactory().get(path)
    request.resolver_match = resolve(path)
    return SecurityHeadersMiddleware(lambda r: response)(request)


def test_a_view_may_set_its_own_policy():
    own = HttpResponse("x")
    own["Content-Security-Policy"] = "default-src 'none'"
    order = OrderFactory()
    response = _through_middleware(own, reverse("jcc_checkout:card", args=[order.public_id]))
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert "no-store" in response["Cache-Control"]


def test_unresolved_requests_pass_untouched():
    request = RequestFactory().get("/nowhere/")
    response = SecurityHeadersMiddleware(lambda r: HttpResponse("x"))(request)
    assert "Content-Security-Policy" not in response


def test_static_files_on_another_host_are_allowed(settings):
    settings.STATIC_URL = "https://cdn.example.net/static/"
    policy = content_security_policy()
    assert "script-src 'self' https://cdn.example.net;" in policy
    assert "style-src 'self' https://cdn.example.net;" in policy
    settings.STATIC_URL = "/static/"
    assert "script-src 'self';" in content_security_policy()


# --- behind a TLS-terminating proxy ------------------------------------------------------


def test_behind_a_tls_proxy_the_gateway_gets_https_urls(client, settings):
    """SECURE_PROXY_SSL_HEADER makes backUrl/failUrl https although the proxy spoke http."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CHECKOUT = {**settings.CHECKOUT, "SETOKEN_PUBLIC_KEY": ""}
    order = owned_order(client)
    form = {"cardholder_name": "Ann Smith", "pan": "4444555511113333", "expiry": "12/39"}
    response = client.post(
        reverse("jcc_checkout:card", args=[order.public_id]),
        {**form, "cvc": "123"},
        # What the proxy passes on: the shopper's Host, and the scheme the shopper used.
        HTTP_HOST="testserver",
        HTTP_X_FORWARDED_PROTO="https",
    )
    # The gateway address leads nowhere; the request that was attempted is logged.
    assert response.status_code == 503
    sent = Exchange.objects.get(operation="instantPayment.do").request
    assert sent["backUrl"].startswith("https://testserver/checkout/return/")
    assert sent["failUrl"].startswith("https://testserver/checkout/return/")
