"""Card numbers and security codes are kept nowhere: database, sessions, cache, logs, pages.

Payments go through every way card data can travel (the server builds the seToken, the
browser sends one, the card fields go to the gateway as they are, a form with errors, a
decline, 3-D Secure), then everything the application could have written is searched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import re
from datetime import date

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.http import Http404
from django.test import RequestFactory
from django.views.debug import SafeExceptionReporterFilter

from checkout import views
from checkout.cards import CardData
from checkout.models import Exchange, PaymentStatus
from checkout.services import start_payment, submit_payment
from checkout.setoken import build_setoken, current_public_key
from tests.test_flow import (  # noqa: F401 (gateway is a fixture)
    come_back,
    gateway,
    latest,
    new_order,
    pay,
    through_acs,
)

S = PaymentStatus
pytestmark = pytest.mark.django_db(transaction=True)

# Distinctive values: no amount, code or one-time code of the tests contains them.
THREEDS_PAN, THREEDS_CVC = "5555555555555599", "859"
BROWSER_PAN, BROWSER_CVC = "4444555511113333", "472"
RAW_PAN, RAW_CVC = "4111111111111111", "6931"  # CardData takes 4 digits, as the API does
DECLINED_PAN = "4000000000001166"
CARDS = [
    (THREEDS_PAN, THREEDS_CVC),
    (BROWSER_PAN, BROWSER_CVC),
    (RAW_PAN, RAW_CVC),
    (DECLINED_PAN, THREEDS_CVC),
]

# Integer columns that count things (keys, durations) and may equal a short CVC by chance.
_COUNTING_COLUMNS = re.compile(r"(^id$|_id$|^duration_ms$)")


def _grouped(pan: str) -> str:
    return " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for pan, cvc in CARDS:
        found.append((f"PAN {pan}", re.compile(re.escape(pan))))
        found.append((f"PAN {pan} grouped", re.compile(re.escape(_grouped(pan)))))
        # A short code is searched as a token of its own, not inside longer numbers or ids.
        found.append((f"CVC {cvc}", re.compile(rf"(?<![0-9A-Za-z]){cvc}(?![0-9A-Za-z])")))
    return found


def _leaks(where: str, text: str) -> list[str]:
    return [f"{name} in {where}" for name, pattern in _patterns() if pattern.search(text)]


def _database_text() -> list[tuple[str, str]]:
    """Every row of every table (ours, Django's, the sandbox bank's), as text."""
    dumps = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [col[0] for col in cursor.description]
            for row in cursor.fetchall():
                values = []
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, int) and _COUNTING_COLUMNS.search(column):
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    values.append(f"{column}={value}")
                dumps.append((table, " ".join(values)))
    return dumps


def _cache_text() -> str:
    backend = caches["default"]
    store = backend._cache  # LocMemCache: pickled values by key
    parts = []
    for key, value in list(store.items()):
        parts.append(str(key))
        parts.append(bytes(value).decode("latin-1"))
        with contextlib.suppress(Exception):
            parts.append(repr(pickle.loads(value)))
    return "\n".join(parts)


_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


def _log_text(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter()
    lines = []
    for record in records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_info:
            lines.append(formatter.formatException(record.exc_info))
        if record.stack_info:
            lines.append(record.stack_info)
        # Extra fields passed to the logger; the record's own ones are times and places.
        lines.append(repr({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}))
    return "\n".join(lines)


@pytest.fixture
def debug_sql():
    # Every SQL statement of this thread, parameters included, goes to the captured log.
    connection.force_debug_cursor = True
    yield
    connection.force_debug_cursor = False


@pytest.mark.usefixtures("gateway", "debug_sql")
def test_card_data_is_stored_nowhere(client, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("django.db.backends").setLevel(logging.DEBUG)
    pages: list[str] = []

    # 1. 3-D Secure card, typed into the form; the server builds the seToken.
    order = new_order(client)
    response = pay(client, order, THREEDS_PAN, cvc=THREEDS_CVC)
    pages.append(come_back(client, through_acs(client, response)).content.decode())
    assert latest(order).status == S.PAID

    # 2. A form with an error is shown again: without the number or the code.
    order = new_order(client)
    bad = pay(client, order, THREEDS_PAN, cvc=THREEDS_CVC, expiry="01/20")
    assert bad.status_code == 200 and "This card has expired." in bad.content.decode()
    pages.append(bad.content.decode())

    # 3. The browser built the seToken: only the token and display data are posted.
    order = new_order(client)
    key = current_public_key()
    expiry = f"{date.today().year + 3}12"
    token = build_setoken(CardData(BROWSER_PAN, BROWSER_CVC, expiry, "Test Shopper"), key)
    posted = client.post(
        f"/checkout/pay/{order.public_id}/",
        {"cardholder_name": "Test Shopper", "se_token": token, "brand": "VISA", "last4": "3333"},
    )
    pages.append(client.get(posted["Location"]).content.decode())
    assert latest(order).status == S.PAID
    sent = latest(order).exchanges.get(operation="instantPayment.do")

    # 4. No key at hand: the card fields themselves go to the gateway.
    order = new_order(client)
    payment = start_payment(order)
    payment, _ = submit_payment(
        payment,
        back_url="http://testserver/checkout/return/",
        fail_url="http://testserver/checkout/return/?failed=1",
        card=CardData(RAW_PAN, RAW_CVC, expiry, "Test Shopper"),
    )
    assert payment.status == S.AWAITING_3DS  # a frictionless 3-D Secure card
    raw = payment.exchanges.get(operation="instantPayment.do").request
    assert raw["pan"] == raw["cvc"] == raw["expiry"] == "[redacted]"

    # 5. A decline.
    order = new_order(client)
    pages.append(client.get(pay(client, order, DECLINED_PAN)["Location"]).content.decode())
    assert latest(order).status == S.DECLINED

    leaks: list[str] = []
    for table, text in _database_text():
        leaks += _leaks(f"table {table}", text)
        assert token not in text, f"seToken stored in {table}"
    for session in Session.objects.all():
        decoded = SessionStore().decode(session.session_data)
        leaks += _leaks("a session", json.dumps(decoded))
    leaks += _leaks("the cache", _cache_text())
    log_text = _log_text(caplog.records)
    assert "SELECT" in log_text and "INSERT" in log_text  # the SQL log was captured
    leaks += _leaks("the logs", log_text)
    assert token not in log_text
    for exchange in Exchange.objects.all():
        text = json.dumps([exchange.url, exchange.request, exchange.response, exchange.error])
        leaks += _leaks(f"exchange {exchange.operation}", text)
    for index, page in enumerate(pages):
        leaks += _leaks(f"page {index}", page)
    assert leaks == []
    assert sent.request["seToken"] == "[redacted]"
    # The data that may be kept is there: brand, masked number, expiry.
    kept = latest(order).order.payments.get()
    assert kept.masked_pan == "400000**1166" and kept.card_brand == "VISA"


def test_error_reports_hide_the_card_fields():
    request = RequestFactory().post(
        "/checkout/pay/00000000-0000-4000-8000-000000000000/",
        {"cardholder_name": "Test Shopper", "pan": THREEDS_PAN, "cvc": THREEDS_CVC},
    )
    with pytest.raises(Http404):
        views.card(request, order_id="00000000-0000-4000-8000-000000000000")
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert shown["pan"] != THREEDS_PAN and shown["cvc"] != THREEDS_CVC
    assert shown["cardholder_name"] == "Test Shopper"


def test_card_data_cannot_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(CardData(THREEDS_PAN, THREEDS_CVC, "203412"))
    assert THREEDS_PAN not in repr(CardData(THREEDS_PAN, THREEDS_CVC, "203412"))
