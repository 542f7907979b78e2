"""Run by tests/test_reporting.py in a process of its own, on the demo's real settings.

The demo's own logging configuration (handlers, filters, mail to ADMINS) applies, with
DEBUG off, as in production. Three requests carrying the no-JavaScript card form fail
before or outside the card view: a Host not in ALLOWED_HOSTS, a CSRF failure and an error
raised in a view of the shop. Prints the answers' status codes and the mails sent as JSON;
the log lines go to stderr.

``--filters`` chooses which of the app's filters stay on: ``both`` (the demo as shipped),
``log`` (only the logging filter, Django's own exception reporter filter) or ``none``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import uuid

CARD_FORM = {
    "cardholder_name": "Eleni Georgiou",
    "pan": "4111111111111111",
    "expiry": "12/30",
    "cvc": "739",
    # A shop's own form, with its own names.
    "payment-card": "5555 5555 5555 4444",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--filters", choices=("both", "log", "none"), default="both")
    args = parser.parse_args()

    os.environ["DJANGO_SETTINGS_MODULE"] = "merchant_site.settings"
    import django

    django.setup()
    from django.core import mail
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment

    from checkout.reporting import CardDataLogFilter

    setup_test_environment()
    overrides = {"ROOT_URLCONF": "tests.reporting_urls"}
    if args.filters != "both":
        overrides["DEFAULT_EXCEPTION_REPORTER_FILTER"] = (
            "django.views.debug.SafeExceptionReporterFilter"
        )
    if args.filters == "none":
        for handler in logging.getLogger("django").handlers:
            handler.filters = [f for f in handler.filters if not isinstance(f, CardDataLogFilter)]

    card_page = f"/checkout/pay/{uuid.uuid4()}/"
    with override_settings(**overrides):
        answers = {
            "bad_host": Client(HTTP_HOST="www.shop.example").post(card_page, CARD_FORM).status_code,
            "csrf": Client(enforce_csrf_checks=True, HTTP_HOST="shop.example")
            .post(card_page, CARD_FORM)
            .status_code,
            "view_error": Client(raise_request_exception=False, HTTP_HOST="shop.example")
            .post("/reporting-probe/fails/", CARD_FORM)
            .status_code,
        }
    mails = [
        {
            "subject": message.subject,
            "to": message.to,
            "text": message.body,
            "html": "".join(str(content) for content, _ in message.alternatives),
        }
        for message in mail.outbox
    ]
    print(json.dumps({"answers": answers, "mails": mails}))


if __name__ == "__main__":
    main()
