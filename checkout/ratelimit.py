"""Card-testing defence: a cap on failed payment attempts per client address and per order.

Counters live in Django's cache, one per address and one per order, each in a fixed
window that starts with the first attempt. With several web hosts the cache must be
shared (Redis through ``CACHE_URL``), or each host counts on its own.

An attempt is counted when it starts (right after it is claimed, so that concurrent
requests cannot slip past the limit) and given back when its money is secured (paid or
held), wherever that is learnt: the card POST's answer, the 3-D Secure return, a callback
or ``checkout_sync``. Only attempts that fail (declined, refused, expired) use up the
limits, so an office or a proxy full of paying customers is never stopped. The address
counter's key is stored on the attempt (``Payment.client_key``, a keyed hash) so that it
can be given back from any process.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checkout.conf import checkout_settings
from checkout.models import Order, Payment

__all__ = ["KEY_PREFIX", "check_payment_attempt", "client_ip", "client_key", "give_back_attempt"]

logger = logging.getLogger(__name__)

KEY_PREFIX = "checkout:attempts"

#: Set once this process has warned about X-Forwarded-For without CLIENT_IP_HEADER.
_proxy_warned = threading.Event()


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
    if not header and "HTTP_X_FORWARDED_FOR" in request.META and not _proxy_warned.is_set():
        _proxy_warned.set()
        logger.warning(
            "A request came with X-Forwarded-For but CHECKOUT['CLIENT_IP_HEADER'] is empty: "
            "if a proxy stands in front of the shop, every shopper has its address and they "
            "all share one payment attempt limit. Set CLIENT_IP_HEADER to the header the "
            "proxy sets (only if every request passes through it). Logged once per process."
        )
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


def client_key(request: HttpRequest) -> str:
    """The key of the shopper's address counter: a keyed hash, never the address itself.

    IPv6 addresses count per /64. Stored on each attempt (``start_payment(client_key=…)``)
    so that a secured attempt can be given back (``give_back_attempt``).
    """
    return _address_key(client_ip(request))


def _address_key(address: str) -> str:
    if not address:
        # No usable address at all: such requests share one counter rather than none.
        return "unknown"
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is None:
        # One IPv6 subscriber usually holds a whole /64: count the network, not the host.
        address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    # A keyed hash (SECRET_KEY), so that neither the cache nor the attempt stored with it
    # holds a client address that could be recovered by hashing all of them.
    return salted_hmac("checkout.ratelimit.address", address, algorithm="sha256").hexdigest()[:32]


def _counter_keys(address_key: str, order_id: int) -> dict[str, tuple[str, int]]:
    """The cache keys of the counters in use (limit > 0), each with its kind and limit."""
    limits = checkout_settings.RATE_LIMITS
    counters = (
        ("ip", address_key, int(limits["per_ip"])),
        ("order", str(order_id), int(limits["per_order"])),
    )
    return {
        f"{KEY_PREFIX}:{kind}:{ident}": (kind, limit)
        for kind, ident, limit in counters
        if limit > 0
    }


def _window() -> int:
    return max(int(checkout_settings.RATE_LIMITS["window"]), 1)


#: One more in each counter, opening a window where there is none: one round trip to Redis
#: for every counter instead of two (EXISTS, INCRBY) per counter and an ADD for a new one.
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
"""
#: One less in each counter that still exists, never below zero (as ``give_back_attempt``).
_GIVE_BACK_SCRIPT = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local left = redis.call('DECR', key)
    if left < 0 then redis.call('INCRBY', key, -left) end
  end
end
return 0
"""


def _redis() -> tuple[Any, Callable[[str], str]] | None:
    """Django's Redis cache backend's client and key function, or None for any other cache.

    The counters are integers, which that backend stores as such, so a script can count
    them in one round trip.
    """
    from django.core.cache.backends.redis import RedisCache

    backend = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True), backend.make_and_validate_key


def _count_all(keys: list[str], window: int) -> list[int]:
    """One more in each counter (see ``_count``), in one round trip on Redis."""
    redis = _redis()
    if redis is None:
        return [_count(key, window) for key in keys]
    client, make_key = redis
    counts = client.eval(_COUNT_SCRIPT, len(keys), *[make_key(key) for key in keys], window)
    return [int(count) for count in counts]


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
    (0 switches a limit off). An attempt whose money is secured is given back
    (``give_back_attempt``), so only failed attempts use the limits up.
    """
    window = _window()
    keys = _counter_keys(client_key(request), order.pk)
    over = []
    try:
        # Peeking reads both counters in one round trip to the cache.
        if peek:
            seen = cache.get_many(list(keys))
            counts = [int(seen.get(key) or 0) + 1 for key in keys]
        else:
            counts = _count_all(list(keys), window)
        for (kind, limit), count in zip(keys.values(), counts, strict=True):
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


def give_back_attempt(payment: Payment) -> None:
    """Take an attempt whose money is secured off the counters it was counted on.

    Called once per attempt, when it first becomes held or paid (``transition()`` does it
    after the commit). Only attempts counted by the card page carry a ``client_key``;
    others, and attempts older than the window (their counters are gone), are left alone.
    Never raises: a cache outage only leaves the attempt counted.
    """
    if not payment.client_key:
        return
    window = _window()
    if (timezone.now() - payment.created_at).total_seconds() > window:
        return
    try:
        keys = list(_counter_keys(payment.client_key, payment.order_id))
        redis = _redis()
        if redis is not None:
            client, make_key = redis
            client.eval(_GIVE_BACK_SCRIPT, len(keys), *[make_key(key) for key in keys])
            keys = []
        for key in keys:
            try:
                left = int(cache.decr(key))
            except ValueError:
                continue  # the window has ended: nothing left to give back
            if left < 0:
                # A counter of a later window than the attempt's: never below zero.
                cache.incr(key, -left)
    except Exception:
        logger.exception("payment %s: attempt not given back: the cache is unavailable", payment)
        return
    logger.info("payment %s: secured, its attempt no longer counts", payment)
