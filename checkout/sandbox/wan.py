"""A simulated wide-area network between the shop and the sandbox gateway.

Over loopback the sandbox answers in well under a millisecond of network time; JCC
answers from across the internet over TLS. With ``CHECKOUT_SANDBOX["ROUND_TRIP"]`` set,
each REST request is held as if it had crossed such a network:

* every request waits one round trip: half of it before it is processed (the request
  travelling to the gateway), half after (the answer travelling back), so that what the
  request sees and changes happens at the moment a remote gateway would see it;
* the first request on a new TCP connection waits ``NEW_CONNECTION_ROUND_TRIPS`` more
  round trips before it is processed (default 2: the TCP handshake and a TLS handshake,
  which a client pays before it can send anything on a new connection).

Which requests came on a new connection is told by the connection's socket, which the
server hands to the application in the WSGI environ: gunicorn as ``gunicorn.socket``,
``run_sandbox`` as ``checkout_sandbox.connection``. Sockets already seen are kept in a
weak set, so an entry goes when its connection is closed and a later connection is never
mistaken for it. A server that gives no socket (Django's test client) gets the per-request
delay only.

The delay is a sleep in the thread serving the request: serve the sandbox with more
threads than the requests that may wait at once (a network holds no server thread).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from checkout.sandbox.conf import sandbox_settings

__all__ = [
    "CONNECTION_KEY",
    "CONNECTION_KEYS",
    "Delay",
    "connection_of",
    "delay_for",
    "is_new_connection",
    "network",
]

#: Where ``run_sandbox`` puts the connection's socket in the WSGI environ.
CONNECTION_KEY = "checkout_sandbox.connection"
#: Environ keys that may hold the socket of the request's connection, first found wins.
CONNECTION_KEYS = ("gunicorn.socket", CONNECTION_KEY)

_seen: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


@dataclass(frozen=True)
class Delay:
    """Seconds one request waits before it is processed and after, before its answer."""

    before: float = 0.0
    after: float = 0.0

    @property
    def total(self) -> float:
        return self.before + self.after


def connection_of(environ: Mapping[str, Any]) -> Any | None:
    """The socket of the request's connection, when the server tells it."""
    for key in CONNECTION_KEYS:
        connection = environ.get(key)
        if connection is not None:
            return connection
    return None


def is_new_connection(environ: Mapping[str, Any]) -> bool:
    """True for the first request (of those asked about) on its connection.

    False when the server does not tell the connection: no handshake is charged then.
    """
    connection = connection_of(environ)
    if connection is None:
        return False
    with _lock:
        try:
            if connection in _seen:
                return False
            _seen.add(connection)
        except TypeError:  # not weakly referenceable: cannot be told apart safely
            return False
    return True


def delay_for(environ: Mapping[str, Any]) -> Delay:
    """How long this request is held; records its connection as seen."""
    round_trip = float(sandbox_settings.ROUND_TRIP)
    new = is_new_connection(environ)
    if round_trip <= 0:
        return Delay()
    handshakes = int(sandbox_settings.NEW_CONNECTION_ROUND_TRIPS) if new else 0
    return Delay(before=round_trip * (handshakes + 0.5), after=round_trip * 0.5)


@contextmanager
def network(environ: Mapping[str, Any]) -> Iterator[Delay]:
    """Hold the request as the network would: ``with network(request.META): ...``."""
    delay = delay_for(environ)
    if delay.before > 0:
        time.sleep(delay.before)
    yield delay
    if delay.after > 0:
        time.sleep(delay.after)
