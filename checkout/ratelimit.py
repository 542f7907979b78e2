"""Card-testing defence: a cap on payment attempts per client address and per order.

Counters live in Django's cache, one per address and one per order, each in a fixed
window that starts with the first attempt. With several web hosts the cache must be
shared (Redis through ``CACHE_URL``), or each host counts on its own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging

from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checkout.conf import checkout_settings
from checkout.models import Order

__all__ = ["KEY_PREFIX", "check_payment_attempt", "client_ip"]

logger = logging.getLogger(__name__)

KEY_PREFIX = "checkout:attempts"


def client_ip(request: HttpRequest) -> str:
    """The shopper's address: REMOTE_ADDR, or the header a trusted proxy sets.

    ``CLIENT_IP_HEADER`` names that header ("X-Forwarded-For", "X-Real-IP" or the META
    key "HTTP_X_FORWARDED_FOR"). A proxy appends the address it saw to X-Forwarded-For,
    so the last entry is the one it vouches for; earlier ones are whatever the client
    sent. Only set it when every request really passes through that proxy, otherwise
    anyone can choose their own address.
    """
    header = checkout_settings.CLIENT_IP_HEADER
    candidate = ""
    if header:
        meta_key = header.upper().replace("-", "_")
        if meta_key != "REMOTE_ADDR" and not meta_key.startswith("HTTP_"):
            meta_key = "HTTP_" + meta_key
        candidate = str(request.META.get(meta_key, "")).split(",")[-1].strip()
    for value in (candidate, str(request.META.get("REMOTE_ADDR", ""))):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            # "fe80::1%eth0": the zone names an interface of the proxy, not the shopper,
            # and no address field stores it.
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        return str(address)
    return ""


def _address_key(address: str) -> str:
    if not address:
        # No usable address at all: such requests share one counter rather than none.
        return "unknown"
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is None:
        # One IPv6 subscriber usually holds a whole /64: count the network, not the host.
        address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    # Hashed so that the cache holds no readable client addresses.
    return hashlib.sha256(address.encode()).hexdigest()[:32]


def _count(key: str, window: int) -> int:
    """One more in the counter at ``key``; opens a window of ``window`` seconds if none."""
    try:
        return int(cache.incr(key))
    except ValueError:
        # No open window: this attempt opens one (unless another request just did).
        if cache.add(key, 1, timeout=window):
            return 1
        return int(cache.incr(key))


def check_payment_attempt(request: HttpRequest, order: Order, *, peek: bool = False) -> str | None:
    """Count one payment attempt; a polite message for the shopper when over a limit.

    Call it just before the gateway would be asked to pay. ``None`` means go ahead; a
    message means do not call the gateway and show it instead. With ``peek`` nothing is
    counted: the message says whether one more attempt would be refused (the card page
    asks so before it claims an attempt, and counts only the attempt it claimed). Limits come from
    ``RATE_LIMITS``: ``per_ip`` and ``per_order`` attempts within ``window`` seconds
    (0 switches a limit off).
    """
    limits = checkout_settings.RATE_LIMITS
    window = max(int(limits["window"]), 1)
    counters = (
        ("ip", _address_key(client_ip(request)), int(limits["per_ip"])),
        ("order", str(order.pk), int(limits["per_order"])),
    )
    keys = {
        f"{KEY_PREFIX}:{kind}:{ident}": (kind, limit)
        for kind, ident, limit in counters
        if limit > 0
    }
    over = []
    try:
        # Peeking reads both counters in one round trip to the cache.
        seen = cache.get_many(list(keys)) if peek else {}
        for key, (kind, limit) in keys.items():
            count = int(seen.get(key) or 0) + 1 if peek else _count(key, window)
            if count > limit:
                over.append(kind)
    except Exception:
        # A cache outage must not stop every sale; the gateway has its own attempt
        # limits behind this one. Loud in the log, so that it gets fixed.
        logger.exception("payment attempt limit not checked: the cache is unavailable")
        return None
    if not over:
        return None
    logger.warning(
        "order %s: payment attempt refused, %s limit reached", order.public_id, "+".join(over)
    )
    minutes = max(1, -(-window // 60))
    return (
        ngettext(
            "There have been too many payment attempts. For your security, please wait "
            "%(minutes)d minute before you try again.",
            "There have been too many payment attempts. For your security, please wait "
            "%(minutes)d minutes before you try again.",
            minutes,
        )
        % {"minutes": minutes}
        + " "
        + _("No money was taken.")
    )
