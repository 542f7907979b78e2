"""Client of the JCC payment gateway (BPC REST API): the app's only HTTP code.

``get_client()`` gives the client configured by ``settings.CHECKOUT``, shared by every
thread of the process (one connection pool). The package never touches the database:
exchanges are reported to the hooks registered with ``register_exchange_hook()``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.signals import setting_changed

from checkout.cards import CardData
from checkout.exceptions import GatewayError, GatewayRefused, GatewayUnavailable, OutcomeUnknown
from checkout.gateway.answers import (
    AcsForm,
    Binding,
    BindingInfo,
    CardAuthInfo,
    InstantPaymentResult,
    OperationResult,
    OrderStatus,
    PaymentAmountInfo,
    SeTokenKey,
)
from checkout.gateway.transport import (
    BINDING_NOT_FOUND,
    ExchangeHook,
    ExchangeRecord,
    GatewayClient,
)

__all__ = [
    "BINDING_NOT_FOUND",
    "AcsForm",
    "Binding",
    "BindingInfo",
    "CardAuthInfo",
    "CardData",
    "ExchangeHook",
    "ExchangeRecord",
    "GatewayClient",
    "GatewayError",
    "GatewayRefused",
    "GatewayUnavailable",
    "InstantPaymentResult",
    "OperationResult",
    "OrderStatus",
    "OutcomeUnknown",
    "PaymentAmountInfo",
    "SeTokenKey",
    "get_client",
    "register_exchange_hook",
    "reset_client",
    "unregister_exchange_hook",
]

logger = logging.getLogger(__name__)

_hooks: list[ExchangeHook] = []


def register_exchange_hook(hook: ExchangeHook) -> None:
    """Have ``hook`` receive every exchange of the shared client (once, however often)."""
    if hook not in _hooks:
        _hooks.append(hook)


def unregister_exchange_hook(hook: ExchangeHook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


def _report(record: ExchangeRecord) -> None:
    for hook in list(_hooks):
        try:
            hook(record)
        except Exception:
            # The gateway's answer matters more than its log entry: never turn a
            # completed call into an error because a hook failed.
            logger.warning("exchange hook %r failed for %s", hook, record.operation, exc_info=True)


# --- the shared client ------------------------------------------------------------------

_client: GatewayClient | None = None
_client_lock = threading.Lock()


def get_client() -> GatewayClient:
    """The client configured by ``settings.CHECKOUT``, built once and reused."""
    global _client
    with _client_lock:
        if _client is None:
            from checkout.conf import checkout_settings

            checkout_settings.require("GATEWAY_URL", "USERNAME", "PASSWORD")
            timeouts = checkout_settings.TIMEOUTS
            _client = GatewayClient(
                checkout_settings.GATEWAY_URL,
                checkout_settings.USERNAME,
                checkout_settings.PASSWORD,
                timeouts=(timeouts["connect"], timeouts["read"]),
                status_retries=checkout_settings.STATUS_RETRIES,
                on_exchange=_report,
            )
        return _client


def reset_client() -> None:
    """Drop the shared client (its settings changed)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CHECKOUT", "DEBUG", "ROOT_URLCONF", "INSTALLED_APPS"):
        reset_client()


setting_changed.connect(_settings_changed)
