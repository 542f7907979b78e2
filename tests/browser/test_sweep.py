"""The card data sweep run after each browser test finds what it is meant to find."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.core.mail import EmailMessage, EmailMultiAlternatives

from tests.browser.sweep import find_card_data
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

PAN, CVC = "4444555511113333", "739"


def sweep(log_lines=(), mails=()):
    return find_card_data(pans=[PAN], cvcs=[CVC], log_lines=log_lines, mails=mails)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_numbers_that_merely_contain_the_digits_are_not_card_data():
    OrderFactory(description="Order 7390 for 1739 items, masked 444455**3333")
    cache.set("checkout:key", "abc739def")
    assert sweep(["payment 261127-AB739CD: paid"]) == []


@pytest.mark.parametrize(
    ("plant", "where"),
    [
        (lambda: OrderFactory(description=f"card {PAN}"), "table jcc_checkout_order"),
        (lambda: OrderFactory(description="card 4444 5555 1111 3333"), "table jcc_checkout_order"),
        (lambda: OrderFactory(description=f"code {CVC}."), "table jcc_checkout_order"),
        (lambda: _session({"pan": PAN}), "session"),
        (lambda: cache.set("leak", {"cvc": CVC}), "cache"),
    ],
)
def test_planted_card_data_is_found(plant, where):
    plant()
    found = sweep()
    assert found and all(where in line for line in found), found


def test_log_lines_are_searched():
    assert sweep([f"declined card {PAN}"]) == ["card number 444455… in log line 0"]


def _session(data):
    store = SessionStore()
    store.update(data)
    store.create()


def test_mails_are_searched():
    report = EmailMessage(subject="[Django] ERROR", body=f"POST:\ncvc = '{CVC}'")
    assert sweep(mails=[report]) == ["CVC 739 in mail 0 ([Django] ERROR)"]
    html = EmailMultiAlternatives(subject="report", body="")
    html.attach_alternative(f"<td>{PAN}</td>", "text/html")
    assert sweep(mails=[html]) == ["card number 444455… in mail 0 (report)"]
