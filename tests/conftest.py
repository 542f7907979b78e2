"""Shared fixtures. No test may reach a real host: sockets are limited to loopback."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.core.servers.basehttp import WSGIServer
from django.utils import translation

# The live server's listen backlog (Django: 10) overflows when a test fires dozens of
# requests at once, and the kernel then resets connections before any reaches Django.
WSGIServer.request_queue_size = 128

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo

#: Every address the guard refused, so a test can tell its refusal from any other failure.
REFUSED: list[str] = []


def _loopback_only(address) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            if host == "localhost":
                return
        REFUSED.append(str(host))
        raise ConnectionRefusedError(f"tests may not connect to {host!r}: loopback only")


def _local_name(host) -> bool:
    if host is None or host in ("localhost", ""):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _guarded_getaddrinfo(host, *args, **kwargs):
    # Refused before the lookup, so a test proves the guard stopped it (not a DNS failure).
    if not _local_name(host):
        REFUSED.append(str(host))
        raise ConnectionRefusedError(f"tests may not look up {host!r}: loopback only")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self, address):
    _loopback_only(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _loopback_only(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_real_network():
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
    yield
    socket.getaddrinfo = _real_getaddrinfo
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts and ends in the default language: a request the test client serves
    leaves the language LocaleMiddleware chose for it active in this thread."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def refused_connections():
    """A function listing the hosts the network guard refused since the test began."""
    start = len(REFUSED)
    return lambda: REFUSED[start:]


@pytest.fixture
def sandbox_url(live_server, settings) -> str:
    """The sandbox gateway served over real HTTP; the client is pointed at it."""
    settings.CHECKOUT = {**settings.CHECKOUT, "SITE_URL": live_server.url, "GATEWAY_URL": ""}
    return live_server.url + "/sandbox/payment/"


@pytest.fixture(scope="session")
def setoken_public_pem() -> str:
    """An RSA public key (PEM) for pages that encrypt card data but never reach a gateway."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def offline_gateway(settings, setoken_public_pem) -> None:
    """Pages render with the seToken key from settings; the gateway address leads nowhere,
    so an unexpected gateway call fails loudly."""
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "GATEWAY_URL": "http://127.0.0.1:9/payment/",
        "USERNAME": "merchant-api",
        "PASSWORD": "merchant-password",
        "SETOKEN_PUBLIC_KEY": setoken_public_pem,
    }
