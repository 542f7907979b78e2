"""Card data never reaches an error report or a log record, whatever failed and wherever.

Django's ``sensitive_post_parameters`` hides fields only once the view that declares them
runs. A request rejected before that (a ``Host`` not in ``ALLOWED_HOSTS``, a CSRF failure,
an unreadable body, an error in middleware) or received by another view of the shop is
reported with its raw POST data. Two pieces close that gap:

- :class:`CardDataExceptionReporterFilter`, for ``DEFAULT_EXCEPTION_REPORTER_FILTER``, hides
  card fields in every report (mail to the admins, the debug page, any handler that builds
  Django's report), whatever view, middleware or setting of ``DEBUG``: by field name and,
  for fields of any name, by value (a digit run that passes the Luhn check);
- :class:`CardDataLogFilter`, for logging handlers, marks the request a record carries so
  any reporter hides its card fields, and masks card numbers in the record's own text.

The system check ``checkout.E001`` refuses to run without the reporter filter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from django.views.debug import SafeExceptionReporterFilter

from checkout.cards import luhn_valid

__all__ = [
    "CARD_FIELDS",
    "CardDataExceptionReporterFilter",
    "CardDataLogFilter",
    "card_fields_of",
    "is_card_field",
    "looks_like_card_number",
    "mask_card_numbers",
]

#: Field names (lower case, without ``-``, ``_`` and ``.``) that carry card data: the card
#: page's own fields and the names shops' and other libraries' card forms commonly use.
CARD_FIELDS = frozenset(
    {
        "pan",
        "cardpan",
        "cardnumber",
        "ccnumber",
        "ccnum",
        "creditcardnumber",
        "cvc",
        "cvc2",
        "cvv",
        "cvv2",
        "csc",
        "securitycode",
        "cardcvc",
        "cardcvv",
        "expiry",
        "cardexpiry",
        "expirydate",
        "expdate",
        "ccexp",
        "setoken",
        "cardholdername",
    }
)

_SEPARATORS = re.compile(r"[-_.\s\[\]]")
# 13 to 19 digits, optionally grouped by single spaces or dashes.
_CARD_NUMBER = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def is_card_field(name: object) -> bool:
    """Whether a form field of this name carries card data (``pan``, ``card-number``, …)."""
    return isinstance(name, str) and _SEPARATORS.sub("", name.lower()) in CARD_FIELDS


def looks_like_card_number(value: object) -> bool:
    """Whether a text holds a digit run of card-number length that passes the Luhn check."""
    if not isinstance(value, str | bytes):
        return False
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return any(luhn_valid(re.sub(r"\D", "", m.group())) for m in _CARD_NUMBER.finditer(text))


def mask_card_numbers(text: str) -> str:
    """``text`` with every Luhn-valid card number replaced by its first six and last four."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if not luhn_valid(digits):
            return match.group()
        return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"

    return _CARD_NUMBER.sub(mask, text)


def card_fields_of(data: Mapping[str, Any]) -> set[str]:
    """The keys of ``data`` (a ``QueryDict`` or any mapping) that carry card data."""
    if isinstance(data, MultiValueDict):
        items = ((key, data.getlist(key)) for key in data)
    else:
        items = ((key, [value]) for key, value in data.items())
    return {
        key
        for key, values in items
        if is_card_field(key) or any(looks_like_card_number(v) for v in values)
    }


def _parsed_post(request: HttpRequest) -> QueryDict | None:
    """The request's form data, or None when its body cannot be read as a form."""
    try:
        return request.POST
    except Exception:
        # A body in a charset Django refuses, too large, already consumed, or cut short:
        # nothing can be shown, and the report itself must not fail over it.
        return None


class CardDataExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's safe filter, plus: card fields are hidden always, in every request.

    Hidden even with ``DEBUG`` on, where Django's own filter hides nothing: the debug page
    may be captured, forwarded or logged like any other report.
    """

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        if request is None:
            return {}
        post = _parsed_post(request)
        if post is None:
            return {}
        parameters = super().get_post_parameters(request)
        return self._without_card_data(parameters)

    def get_cleansed_multivaluedict(self, request: HttpRequest, multivaluedict: Any) -> Any:
        # What reports show of a QueryDict found among a frame's local variables.
        return self._without_card_data(super().get_cleansed_multivaluedict(request, multivaluedict))

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleansed_substitute)
            if is_card_field(name) or looks_like_card_number(value)
            else (name, value)
            for name, value in variables
        ]

    def _without_card_data(self, parameters: Any) -> Any:
        if not isinstance(parameters, Mapping):
            return parameters
        hidden = card_fields_of(parameters)
        if not hidden:
            return parameters
        cleansed = parameters.copy() if isinstance(parameters, QueryDict) else dict(parameters)
        for key in hidden:
            cleansed[key] = self.cleansed_substitute
        return cleansed


class CardDataLogFilter(logging.Filter):
    """For logging handlers: no card data in a record's text or in the report of its request.

    The record's request (Django attaches it to ``django.request`` and ``django.security``
    records) is marked so that every exception reporter filter, Django's own included,
    hides its card fields. Card numbers in the message and its arguments are masked. The
    filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, HttpRequest):
            self._mark(request)
        if isinstance(record.msg, str) and looks_like_card_number(record.msg):
            record.msg = mask_card_numbers(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_card_numbers(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, Mapping):
            record.args = {
                key: mask_card_numbers(arg) if isinstance(arg, str) else arg
                for key, arg in record.args.items()
            }
        return True

    @staticmethod
    def _mark(request: HttpRequest) -> None:
        declared = getattr(request, "sensitive_post_parameters", None)
        if declared == "__ALL__":
            return
        post = _parsed_post(request)
        if post is None:
            # Unreadable as a form: whatever a reporter manages to show of it stays hidden.
            request.sensitive_post_parameters = "__ALL__"  # type: ignore[attr-defined]
            return
        hidden = card_fields_of(post)
        if hidden:
            request.sensitive_post_parameters = [  # type: ignore[attr-defined]
                *(declared or ()),
                *sorted(hidden),
            ]
