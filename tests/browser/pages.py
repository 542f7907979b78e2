"""A stand-in shop origin for testing the checkout scripts without a server.

Requests to https://shop.test/ are answered from inside the browser context, so the page
is a secure context (as the real shop behind TLS is) and every form post is captured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import parse_qsl

from django.utils import translation
from django.utils.html import json_script

from checkout.i18n import card_script_messages

CHECKOUT_STATIC = Path(__file__).resolve().parents[2] / "checkout" / "static" / "checkout"

ORIGIN = "https://shop.test"

_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass
class FakeShop:
    """Serves one HTML page plus the checkout's static files; records what is posted."""

    html: str
    posts: list[dict[str, str]] = field(default_factory=list)
    raw_posts: list[str] = field(default_factory=list)

    def install(self, page) -> None:
        page.route(f"{ORIGIN}/**", self._handle)

    def _handle(self, route) -> None:
        request = route.request
        path = request.url.removeprefix(ORIGIN)
        if request.method == "POST":
            body = request.post_data or ""
            self.raw_posts.append(body)
            self.posts.append(dict(parse_qsl(body, keep_blank_values=True)))
            route.fulfill(status=200, content_type="text/html", body="<p id=done>posted</p>")
        elif path.startswith("/static/checkout/"):
            name = path.removeprefix("/static/checkout/").split("?")[0]
            target = (CHECKOUT_STATIC / name).resolve()
            if target.is_file() and target.is_relative_to(CHECKOUT_STATIC):
                route.fulfill(
                    status=200, content_type=_CONTENT_TYPES[target.suffix], body=target.read_text()
                )
            else:
                route.fulfill(status=404, body="")
        else:
            route.fulfill(status=200, content_type="text/html", body=self.html)


def card_messages_script(language: str = "en") -> str:
    """The messages card.js reads, as the card page carries them ({% card_messages %})."""
    with translation.override(language):
        return str(json_script(card_script_messages(), "card-messages"))


def blank_page(page) -> FakeShop:
    """An empty page on the stand-in origin with rsa.js loaded."""
    shop = FakeShop(
        "<!doctype html><html><head>"
        '<script src="/static/checkout/rsa.js"></script>'
        "</head><body></body></html>"
    )
    shop.install(page)
    page.goto(ORIGIN + "/")
    return shop


def card_form_page(page, public_key_pem: str = "") -> FakeShop:
    """The card form as the checkout renders it: plain named inputs, card.js deferred."""
    shop = FakeShop(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
{card_messages_script()}
<script src="/static/checkout/card.js" defer></script></head><body>
<form id="card-form" method="post" action="/pay" data-setoken-key="{escape(public_key_pem)}">
  <input type="hidden" name="csrfmiddlewaretoken" value="csrf-value">
  <input type="hidden" name="se_token"><input type="hidden" name="brand">
  <input type="hidden" name="last4">
  <label for="id_cardholder_name">Name on card</label>
  <input id="id_cardholder_name" name="cardholder_name" required>
  <label for="id_pan">Card number</label><input id="id_pan" name="pan" required>
  <label for="id_expiry">Expiry (MM/YY)</label><input id="id_expiry" name="expiry" required>
  <label for="id_cvc">CVC</label><input id="id_cvc" name="cvc" required>
  <button type="submit">Pay 14.50 EUR</button>
</form></body></html>"""
    )
    shop.install(page)
    page.goto(ORIGIN + "/")
    wait_for_card_script(page)
    return shop


def wait_for_card_script(page) -> None:
    """Until card.js has set the form up: its last step marks the form data-card-ready."""
    page.wait_for_selector("#card-form[data-card-ready]")


def record_submits(page) -> None:
    """Note every submit event once the form's own handlers have had it: window.submits
    gets "stopped" when they prevented it (nothing is sent) or "sent" when they did not."""
    page.evaluate(
        """() => {
            window.submits = [];
            window.addEventListener("submit", (event) => {
                window.submits.push(event.defaultPrevented ? "stopped" : "sent");
            });
        }"""
    )


def submits(page) -> list[str] | None:
    """The submit events noted by record_submits(), once there is at least one; None when
    the page was left (a submit went through)."""
    page.wait_for_function("() => !window.submits || window.submits.length > 0")
    return page.evaluate("window.submits ?? null")
