"""Every answer of the JSON API, checked against its OpenAPI 3.1 document.

``checked(response, method, path)`` finds the operation whose path template matches, the
response declared for the status code, and validates the JSON body against its schema
(with the document's components, formats checked). Tests call it on every answer they get.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from openapi_schema_validator import OAS31Validator

from checkout.api.schema import document

#: Where the demo and the tests mount the app.
PREFIX = "/checkout/api"


@cache
def _document() -> dict[str, Any]:
    return document()


def _template(path: str) -> re.Pattern[str]:
    return re.compile(
        "^"
        + re.sub(r"\{[^}]+\}", "[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
        + "$"
    )


def operation(method: str, path: str) -> dict[str, Any] | None:
    path = path.split("?", 1)[0].removeprefix(PREFIX)
    for template, item in _document()["paths"].items():
        if _template(template).match(path):
            return item.get(method.lower())
    return None


def checked(response, method: str, path: str) -> Any:
    """Validate ``response`` (a Django test response) against the document; its JSON."""
    op = operation(method, path)
    assert op is not None, f"{method} {path} is not in the OpenAPI document"
    status = str(response.status_code)
    declared = op["responses"].get(status) or op["responses"].get("default")
    assert declared is not None, f"{method} {path}: {status} is not documented"
    content = declared.get("content")
    if content is None:
        assert not response.content, f"{method} {path}: {status} should have no body"
        return None
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    schema = {**content["application/json"]["schema"], "components": _document()["components"]}
    validator = OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )
    return body


def checked_error(response) -> Any:
    """An error answer outside the document's operations (405, unknown paths): its JSON,
    validated against the Error schema."""
    body = json.loads(response.content)
    schema = {"$ref": "#/components/schemas/Error", "components": _document()["components"]}
    OAS31Validator(schema).validate(body)
    return body
