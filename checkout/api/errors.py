"""The API's errors: a stable machine code, a message in the request's language, and for
invalid fields a list of errors per field. Every error answer is built here."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

__all__ = ["MESSAGES", "ApiError", "FieldErrors", "error_body"]

#: A field's errors: [{"code": ..., "message": ...}, ...] by field name.
FieldErrors = dict[str, list[dict[str, str]]]

MESSAGES: dict[str, Promise] = {
    "malformed_json": _("The request body is not valid JSON."),
    "invalid_body": _("The request body must be a JSON object."),
    "unsupported_media_type": _("Send the request body as application/json."),
    "body_too_large": _("The request body is too large."),
    "validation_failed": _("Some fields are missing or invalid."),
    "card_data_not_accepted": _(
        "Card details are never accepted in the clear: encrypt them into se_token in the browser."
    ),
    "invalid_idempotency_key": _(
        "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
    ),
    "idempotency_key_reused": _("This Idempotency-Key was already used for another request."),
    "idempotency_key_in_use": _(
        "A request with this Idempotency-Key is still being processed. Retry in a moment."
    ),
    "client_secret_required": _(
        "This request needs the order's client secret, sent as Authorization: Bearer."
    ),
    "client_secret_invalid": _("This client secret does not open this order."),
    "client_secret_expired": _("This client secret has expired. Ask the shop for a new one."),
    "not_found": _("Not found."),
    "method_not_allowed": _("This method is not allowed here."),
    "order_paid": _("This order has already been paid."),
    "payment_in_progress": _("A payment for this order is already under way."),
    "order_in_review": _(
        "We are checking this payment with the bank. Please do not pay again: the shop will "
        "contact you."
    ),
    "order_expired": _("It can no longer be paid. Please place the order again in the shop."),
    "too_many_attempts": _("Too many attempts"),
    "gateway_unavailable": _(
        "We could not reach the bank. No money was taken. Please try again later."
    ),
}


class ApiError(Exception):
    """An error answer: HTTP ``status``, a stable ``code`` (a key of MESSAGES), and
    optionally a more precise ``message``, per-field errors, extra members and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        message: str | None = None,
        fields: FieldErrors | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.extra = extra or {}
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        response = JsonResponse(
            {**self.extra, "error": error_body(self.code, self.message, self.fields)},
            status=self.status,
        )
        for name, value in self.headers.items():
            response[name] = value
        return response


def error_body(code: str, message: str | None = None, fields: FieldErrors | None = None) -> Any:
    body: dict[str, Any] = {"code": code, "message": str(message or MESSAGES.get(code, code))}
    if fields:
        body["fields"] = fields
    return body
