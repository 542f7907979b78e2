"""Who may call the API from a browser (CORS), and where a shopper may be sent back to.

Both lists come from the settings, empty by default: ``API_ALLOWED_ORIGINS`` (origins whose
pages may read the API's answers) and ``API_RETURN_URLS`` (prefixes of the URLs a payment's
``return_url`` may name).
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse
from django.utils.http import url_has_allowed_host_and_scheme

from checkout.conf import checkout_settings

__all__ = [
    "ALLOWED_HEADERS",
    "EXPOSED_HEADERS",
    "add_cors_headers",
    "allowed_origin",
    "check_return_url",
    "normalise_origin",
    "usable_return_entry",
    "with_result",
]

#: Request headers a page of an allowed origin may send.
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, Accept-Language"
#: Response headers such a page may read.
EXPOSED_HEADERS = "Idempotent-Replayed, Retry-After, Content-Language"
#: Seconds a browser may keep a preflight answer.
PREFLIGHT_MAX_AGE = 600

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(parts: SplitResult) -> str | None:
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; None if not one."""
    value = value.strip()
    if not value or any(ch in value for ch in "\\\x00\r\n\t "):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return _origin(parts)


def allowed_origin(request: HttpRequest) -> str | None:
    """The request's Origin when API_ALLOWED_ORIGINS lists it, else None."""
    origin = normalise_origin(str(request.headers.get("Origin", "")))
    if origin is None:
        return None
    allowed = {normalise_origin(entry) for entry in checkout_settings.API_ALLOWED_ORIGINS}
    return origin if origin in allowed else None


def add_cors_headers(
    request: HttpRequest, response: HttpResponse, *, preflight_methods: str = ""
) -> HttpResponse:
    """CORS headers for an allowed origin (never credentials); Vary: Origin always."""
    response.headers.setdefault("Vary", "Origin")
    if "Origin" not in response.headers["Vary"]:
        response["Vary"] = response["Vary"] + ", Origin"
    origin = allowed_origin(request)
    if origin is None:
        return response
    response["Access-Control-Allow-Origin"] = origin
    if preflight_methods:
        response["Access-Control-Allow-Methods"] = preflight_methods
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    else:
        response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def _split(value: str, own: str) -> SplitResult | None:
    """``value`` as an absolute URL: a path ("/done/") is on the origin ``own``."""
    if value.startswith("/") and not value.startswith("//"):
        value = own + value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return parts if _origin(parts) is not None else None


def _unsafe(value: str) -> bool:
    """Control characters, spaces or backslashes: never part of a URL we send anyone to."""
    return any(ord(ch) < 0x21 or ch == "\\" for ch in value)


def usable_return_entry(entry: str) -> bool:
    """Whether an API_RETURN_URLS entry can match a return_url at all."""
    if _unsafe(entry):
        return False
    parts = _split(entry, "https://shop.invalid")
    return parts is not None and not (parts.username or parts.password)


def _path_prefix_matches(path: str, prefix: str) -> bool:
    path, prefix = path or "/", prefix or "/"
    if prefix.endswith("/"):
        return path.startswith(prefix) or path == prefix[:-1]
    return path == prefix or path.startswith(prefix + "/")


def check_return_url(request: HttpRequest, value: str) -> str:
    """``value`` if API_RETURN_URLS allows it, made absolute; ValueError otherwise.

    An entry matches a URL with the same scheme, host and port whose path starts with the
    entry's path (at a "/"); an entry that is a path stands for the shop's own origin, and
    so does a return_url that is a path.
    """
    if len(value) > 2000 or _unsafe(value):
        raise ValueError("not a URL")
    own = request.build_absolute_uri("/").rstrip("/")
    candidate = _split(value, own)
    if candidate is None or candidate.username or candidate.password:
        raise ValueError("not an http(s) URL")
    netloc = candidate.netloc
    if not url_has_allowed_host_and_scheme(
        urlunsplit(candidate), allowed_hosts={netloc}, require_https=False
    ):
        raise ValueError("not a safe URL")
    for entry in checkout_settings.API_RETURN_URLS:
        allowed = _split(entry, own)
        if allowed is None or _origin(allowed) != _origin(candidate):
            continue
        if _path_prefix_matches(candidate.path, allowed.path):
            return urlunsplit(candidate)
    raise ValueError("not an allowed return URL")


def with_result(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query (before any fragment)."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))
