"""The OpenAPI 3.1 document of the JSON API, kept beside its views.

The tests validate the document itself and every answer they get against it, so the two
cannot drift apart. Served at ``<app>/api/openapi.json`` with the server URL of the request.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["DOCUMENT", "document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, *, with_payment: bool = False) -> dict[str, Any]:
    return _json(_ref("PaymentError" if with_payment else "Error"), description)


_NULLABLE_STRING = {"type": ["string", "null"]}
_UUID = {"type": "string", "format": "uuid"}

_STATES = ["succeeded", "requires_action", "confirming", "failed", "canceled", "review"]
_STATUSES = [
    "created",
    "processing",
    "awaiting_3ds",
    "held",
    "paid",
    "declined",
    "failed",
    "expired",
    "voided",
    "partly_refunded",
    "refunded",
    "outcome_unknown",
    "needs_review",
]
_ERROR_CODES = [
    "malformed_json",
    "invalid_body",
    "unsupported_media_type",
    "body_too_large",
    "validation_failed",
    "card_data_not_accepted",
    "invalid_idempotency_key",
    "idempotency_key_reused",
    "idempotency_key_in_use",
    "client_secret_required",
    "client_secret_invalid",
    "client_secret_expired",
    "not_found",
    "method_not_allowed",
    "order_paid",
    "payment_in_progress",
    "order_in_review",
    "order_expired",
    "too_many_attempts",
    "gateway_unavailable",
]

_SCHEMAS: dict[str, Any] = {
    "ErrorBody": {
        "type": "object",
        "required": ["code", "message"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "enum": _ERROR_CODES, "description": "Stable."},
            "message": {"type": "string", "description": "In the request's language."},
            "fields": {
                "type": "object",
                "description": "Errors per field of the request body.",
                "additionalProperties": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["code", "message"],
                        "additionalProperties": False,
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {"error": _ref("ErrorBody")},
    },
    "PaymentError": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {"error": _ref("ErrorBody"), "payment": _ref("Payment")},
    },
    "NextAction": {
        "description": (
            "Where to send the shopper for 3-D Secure: a GET redirect to url, or an "
            "auto-submitted POST form of fields to url. The gateway then sends the shopper "
            "to the app's return view, which settles the payment and redirects to the "
            "payment's return_url with ?payment=<id>&status=<status>."
        ),
        "oneOf": [
            {
                "type": "object",
                "required": ["type", "method", "url"],
                "additionalProperties": False,
                "properties": {
                    "type": {"const": "redirect"},
                    "method": {"const": "GET"},
                    "url": {"type": "string", "format": "uri"},
                },
            },
            {
                "type": "object",
                "required": ["type", "method", "url", "fields"],
                "additionalProperties": False,
                "properties": {
                    "type": {"const": "post_form"},
                    "method": {"const": "POST"},
                    "url": {"type": "string", "format": "uri"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        ],
    },
    "Payment": {
        "type": "object",
        "required": [
            "id",
            "order_id",
            "status",
            "state",
            "amount",
            "currency",
            "amount_display",
            "card",
            "message",
            "can_retry",
            "next_action",
            "poll_after",
            "created_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": _UUID,
            "order_id": _UUID,
            "status": {"type": "string", "enum": _STATUSES},
            "state": {
                "type": "string",
                "enum": _STATES,
                "description": (
                    "succeeded: paid or held; requires_action: follow next_action; "
                    "confirming: ask again after poll_after seconds; failed: nothing was "
                    "taken (can_retry says whether another card may be tried); canceled; "
                    "review: the shop checks it with the bank."
                ),
            },
            "amount": {"type": "integer", "minimum": 1, "description": "Minor units."},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "amount_display": {"type": "string"},
            "card": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["brand", "masked_pan"],
                        "additionalProperties": False,
                        "properties": {
                            "brand": {"type": "string"},
                            "masked_pan": {"type": "string"},
                        },
                    },
                ]
            },
            "message": {"type": "string", "description": "For the shopper, translated."},
            "can_retry": {"type": "boolean"},
            "next_action": {"oneOf": [{"type": "null"}, _ref("NextAction")]},
            "poll_after": {"type": ["integer", "null"], "minimum": 1},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "PaymentAnswer": {
        "type": "object",
        "required": ["payment"],
        "additionalProperties": False,
        "properties": {"payment": _ref("Payment")},
    },
    "PaymentRequest": {
        "type": "object",
        "required": ["se_token"],
        "additionalProperties": False,
        "properties": {
            "se_token": {
                "type": "string",
                "maxLength": 8192,
                "description": (
                    "The card encrypted in the browser (RSA PKCS#1 v1.5, Base64) with "
                    "setoken.public_key; for a saved card its binding_id and the CVC."
                ),
            },
            "cardholder_name": {"type": "string", "maxLength": 100},
            "saved_card": {**_UUID, "description": "The id of one of saved_cards.cards."},
            "save_card": {"type": "boolean", "description": "Needs saved_cards.can_save."},
            "return_url": {
                "type": "string",
                "maxLength": 2000,
                "description": "Where the shopper comes back to after 3-D Secure "
                "(allowed by the shop's API_RETURN_URLS).",
            },
        },
    },
    "Brand": {
        "type": "object",
        "required": ["code", "name", "mark_url"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "mark_url": {"type": "string", "format": "uri"},
        },
    },
    "SavedCard": {
        "type": "object",
        "required": ["id", "brand", "last4", "expiry", "binding_id"],
        "additionalProperties": False,
        "properties": {
            "id": _UUID,
            "brand": {"type": "string"},
            "last4": {"type": "string"},
            "expiry": {"type": "string", "description": "MM/YY"},
            "binding_id": {"type": "string"},
        },
    },
    "OrderAnswer": {
        "type": "object",
        "required": [
            "order",
            "merchant",
            "brands",
            "cardholder_name",
            "setoken",
            "saved_cards",
            "payment",
            "links",
        ],
        "additionalProperties": False,
        "properties": {
            "order": {
                "type": "object",
                "required": [
                    "id",
                    "amount",
                    "currency",
                    "amount_display",
                    "description",
                    "reference",
                    "language",
                    "state",
                    "expires_at",
                ],
                "additionalProperties": False,
                "properties": {
                    "id": _UUID,
                    "amount": {"type": "integer", "minimum": 1},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "amount_display": {"type": "string"},
                    "description": {"type": "string"},
                    "reference": {"type": "string"},
                    "language": {"type": "string"},
                    "state": {
                        "type": "string",
                        "enum": ["open", "in_progress", "paid", "review", "expired"],
                    },
                    "expires_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "merchant": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string"}},
            },
            "brands": {"type": "array", "items": _ref("Brand")},
            "cardholder_name": {"type": "string", "enum": ["required", "optional"]},
            "setoken": {
                "type": "object",
                "required": ["public_key", "expires_at"],
                "additionalProperties": False,
                "properties": {
                    "public_key": {
                        **_NULLABLE_STRING,
                        "description": "PEM; null when the gateway cannot be reached.",
                    },
                    "expires_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "saved_cards": {
                "type": "object",
                "required": ["cards", "ask_cvc", "can_save", "saving_required"],
                "additionalProperties": False,
                "properties": {
                    "cards": {"type": "array", "items": _ref("SavedCard")},
                    "ask_cvc": {"type": "boolean"},
                    "can_save": {"type": "boolean"},
                    "saving_required": {"type": "boolean"},
                },
            },
            "payment": {"oneOf": [{"type": "null"}, _ref("Payment")]},
            "links": {
                "type": "object",
                "required": ["payments"],
                "additionalProperties": False,
                "properties": {"payments": {"type": "string", "format": "uri"}},
            },
        },
    },
}

_AUTH_ERRORS = {
    "401": _error("No client secret, or one that does not open this order, or expired."),
    "405": _error("Method not allowed."),
}
_ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": _UUID,
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "checkout: headless card payments through JCC",
        "version": "1",
        "description": (
            "For a shop's own front end. Authenticate with the order's client secret "
            "(Authorization: Bearer cs_…), which the shop's server issues. Card data "
            "never travels in the clear: only a seToken encrypted in the browser."
        ),
    },
    "servers": [{"url": "/checkout/api"}],
    "security": [{"clientSecret": []}],
    "paths": {
        "/orders/{order_id}/": {
            "parameters": [_ORDER_ID],
            "get": {
                "operationId": "getOrder",
                "summary": "What the page needs to take the card",
                "responses": {
                    "200": _json(_ref("OrderAnswer"), "The order."),
                    **_AUTH_ERRORS,
                },
            },
        },
        "/orders/{order_id}/payments/": {
            "parameters": [_ORDER_ID],
            "post": {
                "operationId": "createPayment",
                "summary": "Pay the order with a seToken",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        "description": "A retried request with the same key and body gets "
                        "the first answer (header Idempotent-Replayed: true).",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PaymentRequest")}},
                },
                "responses": {
                    "200": _json(_ref("PaymentAnswer"), "The payment as it now stands."),
                    "400": _error("Malformed or invalid request."),
                    **_AUTH_ERRORS,
                    "409": _error(
                        "Already paid, a payment under way, under review, or the same "
                        "Idempotency-Key in flight.",
                        with_payment=True,
                    ),
                    "410": _error("The order has expired."),
                    "413": _error("The body is too large."),
                    "415": _error("Not application/json."),
                    "429": _error("Too many attempts: wait Retry-After seconds."),
                    "503": _error(
                        "The gateway could not be reached; nothing was taken.",
                        with_payment=True,
                    ),
                },
            },
        },
        "/orders/{order_id}/payments/{payment_id}/": {
            "parameters": [
                _ORDER_ID,
                {"name": "payment_id", "in": "path", "required": True, "schema": _UUID},
            ],
            "get": {
                "operationId": "getPayment",
                "summary": "Where a payment stands",
                "responses": {
                    "200": _json(_ref("PaymentAnswer"), "The payment."),
                    **_AUTH_ERRORS,
                    "404": _error("No such payment of this order."),
                },
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {
            "clientSecret": {
                "type": "http",
                "scheme": "bearer",
                "description": "The order's client secret (checkout.api.issue_client_secret).",
            }
        },
    },
}


def document(*, server_url: str = "") -> dict[str, Any]:
    """The document, with ``server_url`` (where the API is mounted) as its server."""
    doc = copy.deepcopy(DOCUMENT)
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
