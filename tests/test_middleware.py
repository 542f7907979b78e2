"""FormCharsetMiddleware: form bodies in another charset are a 400, never a server error."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

BODY = "cardholder_name=Ann+Smith&pan=4444555511113333&expiry=12%2F30&cvc=987"


@pytest.fixture
def http():
    """Surfaces an exception instead of a 500 page, so none can slip through."""
    return Client(raise_request_exception=True, enforce_csrf_checks=True)


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "utf8", "iso-8859-7", "nonsense"])
@pytest.mark.parametrize("path", ["card", "cart", "admin"])
def test_a_form_body_in_another_charset_is_a_400(http, path, charset):
    url = {
        "card": lambda: reverse("jcc_checkout:card", args=[OrderFactory().public_id]),
        "cart": lambda: reverse("shop:cart"),
        "admin": lambda: reverse("admin:login"),
    }[path]()
    content_type = f"application/x-www-form-urlencoded; charset={charset}"
    response = http.generic("POST", url, BODY.encode("latin-1"), content_type=content_type)
    assert response.status_code == 400
    assert "UTF-8" in response.content.decode()


@pytest.mark.parametrize("charset", ["", "; charset=utf-8", "; charset=UTF-8", '; charset="utf-8"'])
def test_utf8_or_no_charset_goes_through(charset):
    order = OrderFactory()
    url = reverse("jcc_checkout:card", args=[order.public_id])
    response = Client().post(url, BODY, content_type="application/x-www-form-urlencoded" + charset)
    # The order is not this browser's: the card page answers as for a missing order.
    assert response.status_code == 404


def test_other_content_types_are_left_alone(http):
    response = http.post(reverse("jcc_checkout:callback"), b"{}", content_type="application/json")
    assert response.status_code == 400
    assert "UTF-8" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["card", "cart"])
def test_over_real_http_the_answer_is_a_400(live_server, path):
    import requests

    url = (
        live_server.url
        + {
            "card": lambda: reverse("jcc_checkout:card", args=[OrderFactory().public_id]),
            "cart": lambda: reverse("shop:cart"),
        }[path]()
    )
    browser = requests.Session()
    browser.get(live_server.url + reverse("shop:cart"), timeout=10)  # a CSRF cookie
    token = browser.cookies.get("csrftoken", "")
    content_type = "application/x-www-form-urlencoded; charset=latin-1"
    body = f"{BODY}&csrfmiddlewaretoken={token}"
    response = browser.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == 400
