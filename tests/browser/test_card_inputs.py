"""card.js on the real card page, driven by the table the server's rules are tested with
(tests/fixtures/card_inputs.json): each input typed key by key, pasted from the clipboard
and filled in at once (as autofill does), then submitted.

A valid input must reach the seToken as the table's normalized value; an invalid one must
stop the submit with the table's error code on its field (``data-error``). The posted form
is also run through the server's CardForm, which must agree.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils import timezone

from checkout import access
from checkout.forms import CardForm
from tests.browser.pages import wait_for_card_script
from tests.factories import OrderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "card_inputs.json").read_text("utf-8")
)
TODAY = datetime.fromisoformat(TABLE["today"]).replace(hour=12)
INPUTS = {"cardholder_name": "#id_cardholder_name", "pan": "#id_pan", "expiry": "#id_expiry"}
#: Where each field ends up in the seToken's plaintext.
TOKEN_SLOT = {"pan": 2, "expiry": 4, "cardholder_name": 7}


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def card_page(live_server, settings, key, context):
    """The card page of a new order, served with a seToken key whose private half we hold.

    The gateway address leads nowhere: nothing is submitted (see CardPage).
    """
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "GATEWAY_URL": "http://127.0.0.1:9/payment/",
        "USERNAME": "merchant-api",
        "PASSWORD": "merchant-password",
        "SETOKEN_PUBLIC_KEY": pem,
    }
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    return live_server.url + access.signed_url(OrderFactory())


class CardPage:
    """One browser tab on the card page, kept for a whole table.

    A submit that card.js lets through is caught once its handler is done, in a listener
    on the window, which records the form as the browser would post it and stops the
    navigation; card.js's own path for a page restored from the back/forward cache then
    unlocks the form for the next case.
    """

    def __init__(self, page, url: str) -> None:
        self.page = page
        page.clock.set_fixed_time(TODAY)
        page.goto(url)
        wait_for_card_script(page)
        # The token is built at once only when rsa.js is there (else after a wait, by a
        # form.submit() that no listener sees).
        page.wait_for_function("() => !!window.checkoutSeToken")
        page.evaluate(
            """() => {
                window.caught = [];
                window.addEventListener("submit", (event) => {
                    const form = event.target;
                    if (event.defaultPrevented) {
                        window.caught.push({posted: null});
                        return;
                    }
                    event.preventDefault();
                    window.caught.push({
                        posted: Object.fromEntries(new FormData(form)),
                        waiting: form.getAttribute("aria-busy") === "true"
                            && form.hasAttribute("data-card-waiting"),
                    });
                    window.dispatchEvent(new PageTransitionEvent("pageshow", {persisted: true}));
                });
            }"""
        )

    def fill_others(self, values: dict[str, str], field: str) -> None:
        """Every field but ``field`` set at once (as autofill does), ``field`` emptied."""
        self.page.evaluate(
            """([values, field]) => {
                for (const [selector, value] of Object.entries(values)) {
                    const input = document.querySelector(selector);
                    input.value = selector === field ? "" : value;
                    input.dispatchEvent(new Event("input", {bubbles: true}));
                }
            }""",
            [values, INPUTS[field]],
        )

    def enter(self, selector: str, value: str, how: str) -> None:
        field = self.page.locator(selector)
        if how == "typed":
            field.press_sequentially(value)
        elif how == "pasted":
            self.page.evaluate("(text) => navigator.clipboard.writeText(text)", value)
            field.focus()
            self.page.keyboard.press("ControlOrMeta+V")
        else:
            field.fill(value)

    def submit(self, selector: str) -> tuple[dict[str, str] | None, str | None]:
        """The form as posted (None when card.js stopped the submit), and the error code
        shown on the field of ``selector``."""
        count = self.page.evaluate("window.caught.length")
        self.page.locator("#card-form button[type=submit]").click()
        self.page.wait_for_function("(count) => window.caught.length > count", arg=count)
        caught, code = self.page.evaluate(
            """(selector) => {
                const input = document.querySelector(selector);
                const ids = (input.getAttribute("aria-describedby") || "").split(" ");
                const shown = ids.map((id) => id && document.getElementById(id))
                    .find((el) => el && el.hasAttribute("data-error") && !el.hidden);
                return [window.caught[window.caught.length - 1],
                        shown ? shown.getAttribute("data-error") : null];
            }""",
            selector,
        )
        if caught["posted"] is not None:
            assert caught["waiting"], "a submit that goes through shows the waiting state"
        return caught["posted"], code


def decrypt(key, token: str) -> list[str]:
    return key.decrypt(base64.b64decode(token), padding.PKCS1v15()).decode().split("/")


@pytest.mark.parametrize("how", ["typed", "pasted", "filled"])
@pytest.mark.parametrize("field", ["expiry", "pan", "cardholder_name"])
def test_card_js_follows_the_table(field, how, page, card_page, key, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY.date())
    tab = CardPage(page, card_page)
    wrong = []
    for case in TABLE[field]:
        values = {selector: TABLE["valid"][name] for name, selector in INPUTS.items()}
        values["#id_cvc"] = case.get("cvc", TABLE["valid"]["cvc"])
        tab.fill_others(values, field)
        if case["input"]:
            tab.enter(INPUTS[field], case["input"], how)
        shown = page.locator(INPUTS[field]).input_value()
        posted, code = tab.submit(INPUTS[field])
        label = f"{case['input']!r} ({how}, shown as {shown!r})"
        if "error" in case:
            if posted is not None or code != case["error"]:
                wrong.append(f"{label}: expected error {case['error']!r}, got {code or posted!r}")
            continue
        if posted is None:
            wrong.append(f"{label}: refused with {code!r}")
            continue
        got = decrypt(key, posted["se_token"])[TOKEN_SLOT[field]]
        if got != case["expected"]:
            wrong.append(f"{label}: the seToken has {got!r}, expected {case['expected']!r}")
        # What the browser posted is what the server's own rules accept, and agree on.
        form = CardForm(posted)
        if not form.is_valid() or (
            field == "cardholder_name" and form.cleaned_data[field] != case["expected"]
        ):
            wrong.append(f"{label}: the server's form says {form.errors or form.cleaned_data}")
        assert "pan" not in posted and "cvc" not in posted and "expiry" not in posted
    assert wrong == []
