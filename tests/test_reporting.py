"""No card data in error reports or log records, whatever failed before or outside the view."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client, RequestFactory, override_settings

from checkout.checks import check_exception_reporter_filter
from checkout.reporting import (
    CardDataExceptionReporterFilter,
    CardDataLogFilter,
    card_fields_of,
    is_card_field,
    looks_like_card_number,
    mask_card_numbers,
)
from tests.reporting_probe import CARD_FORM

ROOT = Path(__file__).resolve().parents[1]
PAN, OTHER_PAN, CVC, EXPIRY = "4111111111111111", "5555 5555 5555 4444", "739", "12/30"


def card_data_in(text: str) -> list[str]:
    found = [value for value in (PAN, OTHER_PAN, EXPIRY) if value in text]
    if re.search(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])", text):
        found.append(CVC)
    return found


def probe(filters: str, tmp_path: Path) -> tuple[dict, str]:
    """The demo, on its own settings and logging, in a process of its own (DEBUG off)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "JCC_", "CHECKOUT_"))
    }
    (tmp_path / "empty.env").write_text("")
    env.update(
        # Only what is set here: no .env file of the checkout applies.
        ENV_FILE=str(tmp_path / "empty.env"),
        DEBUG="false",
        SECRET_KEY="a-long-random-production-secret-key-for-this-test-only",
        ALLOWED_HOSTS="shop.example",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DATABASE_URL=f"sqlite:///{tmp_path / 'probe.sqlite3'}",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.reporting_probe", "--filters", filters],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    return probe("both", tmp_path_factory.mktemp("probe"))


def test_the_three_failures_are_reported_to_the_admins(shipped):
    result, log = shipped
    assert result["answers"] == {"bad_host": 400, "csrf": 403, "view_error": 500}
    subjects = [m["subject"] for m in result["mails"]]
    assert len(subjects) == 2
    assert "Invalid HTTP_HOST header: 'www.shop.example'" in subjects[0]
    assert "Internal Server Error: /reporting-probe/fails/" in subjects[1]
    assert "django.security.DisallowedHost" in log
    assert "Forbidden (CSRF cookie not set.)" in log


def test_no_card_data_in_the_mails_or_the_server_log(shipped):
    result, log = shipped
    for message in result["mails"]:
        assert "POST:" in message["text"]
        assert "pan = '********************'" in message["text"]
        assert card_data_in(message["subject"] + message["text"] + message["html"]) == []
    assert card_data_in(log) == []


def test_the_logging_filter_alone_protects_django_s_own_reporter(tmp_path):
    result, log = probe("log", tmp_path)
    assert len(result["mails"]) == 2
    for message in result["mails"]:
        assert card_data_in(message["text"]) == []
    assert card_data_in(log) == []


def test_without_the_app_s_filters_the_report_would_leak(tmp_path):
    # The reproduction: Django's own filter shows the raw POST of a request that never
    # reached the card view's sensitive_post_parameters.
    result, _ = probe("none", tmp_path)
    assert PAN in result["mails"][0]["text"]
    assert CVC in result["mails"][0]["text"]


# --- in this process: the test settings use the app's reporter filter -----------------------


@override_settings(ALLOWED_HOSTS=["testserver"])
def test_bad_host_card_post_mails_a_report_without_card_data(db):
    mail.outbox.clear()
    response = Client(HTTP_HOST="www.shop.example").post(
        "/checkout/pay/0b9f3a52-3c1e-4a53-9f8e-3d36a0e6a1c7/", CARD_FORM
    )
    assert response.status_code == 400
    assert len(mail.outbox) == 1
    assert "Invalid HTTP_HOST" in mail.outbox[0].subject
    assert card_data_in(mail.outbox[0].body) == []


@pytest.mark.parametrize("debug", [False, True])
def test_card_fields_are_hidden_with_or_without_debug(debug, settings):
    settings.DEBUG = debug
    request = RequestFactory().post("/any/", {**CARD_FORM, "quantity": "2"})
    shown = CardDataExceptionReporterFilter().get_post_parameters(request)
    assert shown["quantity"] == "2"
    for name in ("pan", "cvc", "expiry", "cardholder_name", "payment-card"):
        assert shown[name] == "********************"
    # The request's own data is left as it was.
    assert request.POST["pan"] == PAN


def test_a_card_number_under_any_name_is_hidden():
    request = RequestFactory().post("/any/", {"notes": f"card {OTHER_PAN} please", "ref": "42"})
    shown = CardDataExceptionReporterFilter().get_post_parameters(request)
    assert shown["notes"] == "********************"
    assert shown["ref"] == "42"


def test_frame_variables_named_or_shaped_like_card_data_are_hidden():
    def failing(pan, reference):
        raise RuntimeError("boom")

    try:
        failing(PAN, "261203-ABC")
    except RuntimeError as err:
        frame = err.__traceback__.tb_next.tb_frame
    variables = dict(CardDataExceptionReporterFilter().get_traceback_frame_variables(None, frame))
    assert variables["pan"] == "********************"
    assert variables["reference"] == "261203-ABC"


def test_an_unreadable_body_gives_an_empty_post_not_an_error():
    request = RequestFactory().post(
        "/any/", b"pan=4111", content_type="multipart/form-data; boundary=x"
    )
    assert CardDataExceptionReporterFilter().get_post_parameters(request) == {}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pan", True),
        ("card-number", True),
        ("card_number", True),
        ("CVV2", True),
        ("se_token", True),
        ("expiry", True),
        ("quantity", False),
        ("panel", False),
    ],
)
def test_card_field_names(name, expected):
    assert is_card_field(name) is expected


def test_card_number_shapes():
    assert looks_like_card_number("4111 1111 1111 1111")
    assert looks_like_card_number("5555-5555-5555-4444")
    assert not looks_like_card_number("4111111111111112")  # fails the Luhn check
    assert not looks_like_card_number("order 261203 paid 1450")
    assert mask_card_numbers(f"declined {PAN}.") == "declined 411111******1111."
    assert card_fields_of({"x": PAN, "y": "1"}) == {"x"}


def test_the_log_filter_masks_text_and_marks_the_request():
    request = RequestFactory().post("/any/", CARD_FORM)
    record = logging.LogRecord(
        "django.security.csrf", logging.WARNING, __file__, 1, "rejected %s", (PAN,), None
    )
    record.request = request
    assert CardDataLogFilter().filter(record) is True
    assert record.getMessage() == "rejected 411111******1111"
    assert set(request.sensitive_post_parameters) >= {"pan", "cvc", "expiry", "payment-card"}


def test_the_check_requires_the_app_s_reporter_filter(settings):
    assert check_exception_reporter_filter() == []
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    assert [m.id for m in check_exception_reporter_filter()] == ["checkout.E001"]
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "no.such.Filter"
    assert [m.id for m in check_exception_reporter_filter()] == ["checkout.E001"]
